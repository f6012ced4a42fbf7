package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

type exportOpts struct {
	out     string
	sim     bool
	verbose bool
}

func newExportCmd() *cobra.Command {
	var o exportOpts
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the tenant's live integrations as desired-state YAML",
		Long: `Read the tenant's service desk integrations and status-check configuration (and its
SIM integrations with --sim) through a read-only client, in as few list calls as the API
allows, and write them in the desired-state format: a starting point for managing a
tenant whose integrations were made by hand.

The tenant never returns secret attributes (passwords, client secrets, tokens). Add them
to the exported files as ${env:NAME} or ${file:PATH} references before applying: a PUT
without them would clear them.`,
		Example: `  SAIL_BASE_URL=https://acme.api.identitynow.com SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... \
    sdim-sync export --out integrations.yaml`,
		Args: cobra.NoArgs,
	}
	conn := addConnFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "write to this file instead of standard output")
	f.BoolVar(&o.sim, "sim", false, "also export SIM integrations (API versions v2024, v2025 and v1)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log every request to standard error")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		s, err := conn.settings()
		if err != nil {
			return err
		}
		log := cliLogger(cmd.ErrOrStderr(), o.verbose)
		c, err := tenant.New(s, tenant.WithLogger(log))
		if err != nil {
			return err
		}
		live, err := c.ReadOnly().Snapshot(cmd.Context(), tenant.SnapshotOptions{SIM: o.sim})
		if err != nil {
			return err
		}
		for _, o := range live.ServiceDesk {
			if o.Name != strings.TrimSpace(o.Name) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the name %q starts or ends with spaces, which the desired-state format refuses: rename the integration in the tenant, or fix the name in the export (then it plans as a rename with options.previousNames)\n", o.Name)
			}
		}
		var buf bytes.Buffer
		if err := writeExport(&buf, live, s.BaseURL); err != nil {
			return err
		}
		if o.out == "" {
			_, err := cmd.OutOrStdout().Write(buf.Bytes())
			return err
		}
		if err := writeFileAtomic(o.out, buf.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "exported %d service desk integrations, %d SIM integrations and the status-check configuration to %s\n",
			len(live.ServiceDesk), len(live.SIM), o.out)
		return nil
	}
	return cmd
}

// exportDoc is one document of the desired-state format.
type exportDoc struct {
	Kind sdim.Kind `yaml:"kind"`
	Name string    `yaml:"name,omitempty"`
	Spec any       `yaml:"spec"`
}

// writeExport renders the live state as desired-state documents: server-set fields and
// server-filled reference names dropped, deprecated aliases folded into their successors,
// numbers kept as numbers.
func writeExport(w io.Writer, live *sdim.Live, from string) error {
	fmt.Fprintf(w, "# Exported by sdim-sync %s from %s (API %s) at %s.\n", version, from, live.APIVersion, live.ReadAt.UTC().Format("2006-01-02T15:04:05Z"))
	fmt.Fprintln(w, "# The tenant never returns secret attributes: add each one as ${env:NAME} or ${file:PATH}")
	fmt.Fprintln(w, "# before applying, or a PUT will clear it.")
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	keys := sdim.NewSecretKeySet(sdim.DefaultSecretAttributeKeys())
	encode := func(doc exportDoc, left []string) error {
		var n yaml.Node
		if err := n.Encode(doc); err != nil {
			return err
		}
		literal(&n)
		if len(left) > 0 {
			slices.Sort(left)
			n.HeadComment = "The tenant returned secret values at " + strings.Join(left, ", ") +
				"; they are not exported.\nAdd each as a ${env:NAME} or ${file:PATH} reference before applying."
		}
		return enc.Encode(&n)
	}
	for _, o := range live.ServiceDesk {
		ov := &openValues{secretKeys: keys}
		if err := encode(exportDoc{Kind: sdim.KindServiceDesk, Name: o.Name, Spec: exportServiceDesk(o, ov)}, ov.left); err != nil {
			return fmt.Errorf("export %q: %w", o.Name, err)
		}
	}
	if live.StatusCheck != nil {
		if err := encode(exportDoc{Kind: sdim.KindStatusCheck, Spec: statusCheckSpec(*live.StatusCheck)}, nil); err != nil {
			return fmt.Errorf("export the status-check configuration: %w", err)
		}
	}
	for _, o := range live.SIM {
		ov := &openValues{secretKeys: keys}
		if err := encode(exportDoc{Kind: sdim.KindSIM, Name: o.Name, Spec: exportSIM(o, ov)}, ov.left); err != nil {
			return fmt.Errorf("export SIM %q: %w", o.Name, err)
		}
	}
	return enc.Close()
}

// literal makes every string of n load back as exactly the tenant's text: "${" becomes
// "$${" (or the loader would read a secret reference, and resolve it from sdim-sync's own
// environment), and "<<" is quoted (or YAML would read a merge key).
func literal(n *yaml.Node) {
	switch {
	case n.Kind != yaml.ScalarNode:
	case n.Value == "<<": // the encoder tags the text "<<" as a merge key
		n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
	case n.Tag == "!!str" && strings.Contains(n.Value, "${"):
		n.Value = strings.ReplaceAll(n.Value, "${", "$${")
	}
	for _, c := range n.Content {
		literal(c)
	}
}

// serviceDeskSpec is a service desk integration's spec: the writable fields but its name,
// which is the document's.
type serviceDeskSpec struct {
	Description            string                   `yaml:"description"`
	Type                   string                   `yaml:"type"`
	OwnerRef               *sdim.Reference          `yaml:"ownerRef,omitempty"`
	ClusterRef             *sdim.Reference          `yaml:"clusterRef,omitempty"`
	ProvisioningConfig     *sdim.ProvisioningConfig `yaml:"provisioningConfig,omitempty"`
	Attributes             map[string]any           `yaml:"attributes"`
	BeforeProvisioningRule *sdim.Reference          `yaml:"beforeProvisioningRule,omitempty"`
}

// simSpec is a SIM integration's spec.
type simSpec struct {
	Description            string          `yaml:"description,omitempty"`
	Type                   string          `yaml:"type,omitempty"`
	Cluster                string          `yaml:"cluster,omitempty"`
	Sources                []string        `yaml:"sources,omitempty"`
	StatusMap              map[string]any  `yaml:"statusMap,omitempty"`
	Request                map[string]any  `yaml:"request,omitempty"`
	Attributes             map[string]any  `yaml:"attributes,omitempty"`
	BeforeProvisioningRule *sdim.Reference `yaml:"beforeProvisioningRule,omitempty"`
}

func exportServiceDesk(o sdim.ServiceDeskIntegration, ov *openValues) serviceDeskSpec {
	out := serviceDeskSpec{
		Description:            o.Description,
		Type:                   o.Type,
		OwnerRef:               bareRef(o.OwnerRef),
		ClusterRef:             bareRef(o.ClusterRef),
		BeforeProvisioningRule: bareRef(o.BeforeProvisioningRule),
		Attributes:             ov.mapAt(o.Attributes, "/attributes"),
	}
	if out.ClusterRef == nil && o.Cluster != "" {
		out.ClusterRef = &sdim.Reference{Type: sdim.RefCluster, ID: o.Cluster}
	}
	if pc := o.ProvisioningConfig; pc != nil {
		c := *pc
		c.UniversalManager = nil
		c.ManagedResourceRefs = nil
		for _, r := range pc.ManagedResourceRefs {
			c.ManagedResourceRefs = append(c.ManagedResourceRefs, *bareRef(&r))
		}
		out.ProvisioningConfig = &c
	}
	if len(o.ManagedSources) > 0 && (out.ProvisioningConfig == nil || len(out.ProvisioningConfig.ManagedResourceRefs) == 0) {
		if out.ProvisioningConfig == nil {
			out.ProvisioningConfig = &sdim.ProvisioningConfig{}
		}
		for _, id := range o.ManagedSources {
			out.ProvisioningConfig.ManagedResourceRefs = append(out.ProvisioningConfig.ManagedResourceRefs, sdim.Reference{Type: sdim.RefSource, ID: id})
		}
	}
	if pc := out.ProvisioningConfig; pc != nil && len(pc.ManagedResourceRefs) == 0 && pc.PlanInitializerScript == nil &&
		pc.NoProvisioningRequests == nil && pc.ProvisioningRequestExpiration == nil {
		out.ProvisioningConfig = nil
	}
	return out
}

func exportSIM(o sdim.SIMIntegration, ov *openValues) simSpec {
	return simSpec{
		Description:            o.Description,
		Type:                   o.Type,
		Attributes:             ov.mapAt(o.Attributes, "/attributes"),
		Sources:                o.Sources,
		Cluster:                o.Cluster,
		StatusMap:              ov.mapAt(o.StatusMap, "/statusMap"),
		Request:                ov.mapAt(o.Request, "/request"),
		BeforeProvisioningRule: bareRef(o.BeforeProvisioningRule),
	}
}

// statusCheckSpec writes the two values as YAML integers when they are integers.
func statusCheckSpec(s sdim.StatusCheckConfiguration) map[string]any {
	num := func(v string) any {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
		return v
	}
	return map[string]any{
		"provisioningStatusCheckIntervalMinutes": num(s.ProvisioningStatusCheckIntervalMinutes),
		"provisioningMaxStatusCheckDays":         num(s.ProvisioningMaxStatusCheckDays),
	}
}

// bareRef keeps a reference's type and id; the name is the tenant's to fill in.
func bareRef(r *sdim.Reference) *sdim.Reference {
	if r == nil || r.IsZero() {
		return nil
	}
	return &sdim.Reference{Type: r.Type, ID: r.ID}
}

// openValues turns the tenant's open maps (attributes, statusMap, request) into what the
// export writes: json.Number as int64 or float64 so that YAML writes numbers, not strings,
// and values under secret keys left out (a tenant that returns one must not have it end up
// in a file), their pointers kept for a comment.
type openValues struct {
	secretKeys sdim.SecretKeySet
	left       []string // pointers of the secret values left out
}

func (ov *openValues) mapAt(m map[string]any, at string) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		p := at + "/" + sdim.EscapePointerToken(k)
		if ov.secretKeys.Has(k) {
			ov.left = append(ov.left, p)
			continue
		}
		out[k] = ov.value(v, p)
	}
	return out
}

func (ov *openValues) value(v any, at string) any {
	switch t := v.(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	case map[string]any:
		return ov.mapAt(t, at)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = ov.value(e, at+"/"+strconv.Itoa(i))
		}
		return out
	}
	return v
}

// writeFileAtomic writes data to a temporary file beside path and renames it into place.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
