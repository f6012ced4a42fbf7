package sdim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Kind names a kind of object sdim-sync manages, as written in the desired-state files.
type Kind string

// The kinds of object.
const (
	KindServiceDesk Kind = "ServiceDeskIntegration"
	KindStatusCheck Kind = "StatusCheckConfiguration"
	KindSIM         Kind = "SIMIntegration"
)

// Kinds lists every kind.
func Kinds() []Kind { return []Kind{KindServiceDesk, KindStatusCheck, KindSIM} }

// Default reference types, filled in where a reference omits its type.
const (
	RefIdentity = "IDENTITY"
	RefCluster  = "CLUSTER"
	RefSource   = "SOURCE"
	RefRule     = "RULE"
)

// Reference points at another object of the tenant. The tenant fills in Name on read; it is
// not compared. A JSON `""` in place of a reference (as SailPoint's examples write for "no
// reference") decodes to the zero Reference, which IsZero reports.
type Reference struct {
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	ID   string `json:"id,omitempty" yaml:"id,omitempty"`
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
}

// IsZero reports whether the reference points at nothing.
func (r Reference) IsZero() bool { return r.ID == "" && r.Type == "" && r.Name == "" }

// UnmarshalJSON accepts an object, null or "" (treated as unset).
func (r *Reference) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte(`""`)) || bytes.Equal(data, []byte("null")) {
		*r = Reference{}
		return nil
	}
	type plain Reference
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*r = Reference(p)
	return nil
}

// Script is the plan initializer script of a provisioning configuration.
type Script struct {
	Source string `json:"source" yaml:"source"`
}

// ProvisioningConfig is a service desk integration's provisioning configuration.
type ProvisioningConfig struct {
	// UniversalManager is set by the tenant and read-only.
	UniversalManager              *bool       `json:"universalManager,omitempty" yaml:"universalManager,omitempty"`
	ManagedResourceRefs           []Reference `json:"managedResourceRefs,omitempty" yaml:"managedResourceRefs,omitempty"`
	PlanInitializerScript         *Script     `json:"planInitializerScript,omitempty" yaml:"planInitializerScript,omitempty"`
	NoProvisioningRequests        *bool       `json:"noProvisioningRequests,omitempty" yaml:"noProvisioningRequests,omitempty"`
	ProvisioningRequestExpiration *int32      `json:"provisioningRequestExpiration,omitempty" yaml:"provisioningRequestExpiration,omitempty"`
}

// ServiceDeskIntegration is the API's ServiceDeskIntegrationDto. Attributes is an open map
// of JSON values (string, bool, number, list, map) in which a Secret may stand for any
// string.
type ServiceDeskIntegration struct {
	ID                     string              `json:"id,omitempty" yaml:"id,omitempty"`
	Name                   string              `json:"name" yaml:"name"`
	Description            string              `json:"description" yaml:"description"`
	Type                   string              `json:"type" yaml:"type"`
	Created                string              `json:"created,omitempty" yaml:"created,omitempty"`
	Modified               string              `json:"modified,omitempty" yaml:"modified,omitempty"`
	OwnerRef               *Reference          `json:"ownerRef,omitempty" yaml:"ownerRef,omitempty"`
	ClusterRef             *Reference          `json:"clusterRef,omitempty" yaml:"clusterRef,omitempty"`
	Cluster                string              `json:"cluster,omitempty" yaml:"cluster,omitempty"`               // deprecated alias of clusterRef.id
	ManagedSources         []string            `json:"managedSources,omitempty" yaml:"managedSources,omitempty"` // deprecated alias of managedResourceRefs[].id
	ProvisioningConfig     *ProvisioningConfig `json:"provisioningConfig,omitempty" yaml:"provisioningConfig,omitempty"`
	Attributes             map[string]any      `json:"attributes" yaml:"attributes"`
	BeforeProvisioningRule *Reference          `json:"beforeProvisioningRule,omitempty" yaml:"beforeProvisioningRule,omitempty"`
}

// SIMIntegration is the experimental API's SimIntegrationDetails.
type SIMIntegration struct {
	ID                     string         `json:"id,omitempty" yaml:"id,omitempty"`
	Name                   string         `json:"name" yaml:"name"`
	Created                string         `json:"created,omitempty" yaml:"created,omitempty"`
	Modified               string         `json:"modified,omitempty" yaml:"modified,omitempty"`
	Description            string         `json:"description,omitempty" yaml:"description,omitempty"`
	Type                   string         `json:"type,omitempty" yaml:"type,omitempty"`
	Attributes             map[string]any `json:"attributes,omitempty" yaml:"attributes,omitempty"`
	Sources                []string       `json:"sources,omitempty" yaml:"sources,omitempty"`
	Cluster                string         `json:"cluster,omitempty" yaml:"cluster,omitempty"`
	StatusMap              map[string]any `json:"statusMap,omitempty" yaml:"statusMap,omitempty"`
	Request                map[string]any `json:"request,omitempty" yaml:"request,omitempty"`
	BeforeProvisioningRule *Reference     `json:"beforeProvisioningRule,omitempty" yaml:"beforeProvisioningRule,omitempty"`
}

// StatusCheckConfiguration is the tenant's singleton status-check configuration. Both
// values are strings on the wire holding positive integers; UnmarshalJSON also accepts
// JSON numbers.
type StatusCheckConfiguration struct {
	ProvisioningStatusCheckIntervalMinutes string `json:"provisioningStatusCheckIntervalMinutes" yaml:"provisioningStatusCheckIntervalMinutes"`
	ProvisioningMaxStatusCheckDays         string `json:"provisioningMaxStatusCheckDays" yaml:"provisioningMaxStatusCheckDays"`
}

// UnmarshalJSON accepts each value as a JSON string or number.
func (s *StatusCheckConfiguration) UnmarshalJSON(data []byte) error {
	var raw struct {
		Interval json.RawMessage `json:"provisioningStatusCheckIntervalMinutes"`
		MaxDays  json.RawMessage `json:"provisioningMaxStatusCheckDays"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	var err error
	if s.ProvisioningStatusCheckIntervalMinutes, err = stringOrNumber(raw.Interval); err != nil {
		return fmt.Errorf("provisioningStatusCheckIntervalMinutes: %w", err)
	}
	if s.ProvisioningMaxStatusCheckDays, err = stringOrNumber(raw.MaxDays); err != nil {
		return fmt.Errorf("provisioningMaxStatusCheckDays: %w", err)
	}
	return nil
}

func stringOrNumber(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("want a string or a number, got %s", raw)
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return strconv.FormatInt(i, 10), nil
	}
	return string(n), nil
}

// IntegrationType is one entry of the service desk integration types list.
type IntegrationType struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	ScriptName string `json:"scriptName"`
}

// Template is a service desk integration template: the attributes and provisioning
// configuration a type starts from.
type Template struct {
	ID                 string              `json:"id,omitempty"`
	Name               string              `json:"name"`
	Created            string              `json:"created,omitempty"`
	Modified           string              `json:"modified,omitempty"`
	Type               string              `json:"type"`
	Attributes         map[string]any      `json:"attributes"`
	ProvisioningConfig *ProvisioningConfig `json:"provisioningConfig,omitempty"`
}

// Live is a tenant's state as one snapshot read it: the model the planner compares the
// desired state with.
type Live struct {
	APIVersion  APIVersion
	ServiceDesk []ServiceDeskIntegration // sorted by name
	StatusCheck *StatusCheckConfiguration
	// SIM is read only when the snapshot was asked to; SIMRead says whether it was.
	SIM     []SIMIntegration
	SIMRead bool
	ReadAt  time.Time
}
