package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// A saved plan (plan --out FILE) is the JSON plan plus a "saved" section: where the plan
// was made (tenant URL, desired directory), when, and with which policy. It holds no
// secret and no object to send: apply --plan re-reads the desired directory, snapshots
// the tenant, plans again with the saved policy and runs the fresh plan only if it is the
// saved one (Saved.Check). Each change carries its live object's id and modified
// timestamp, so a plan is refused when someone changed a touched object in between.

// Target says where a saved plan applies.
type Target struct {
	// TenantURL is the tenant API's base URL.
	TenantURL string
	// DesiredDir is the desired directory as the plan was given it (often relative):
	// apply --plan reads it when no DIR is given.
	DesiredDir string
	// DesiredDigest names the desired state by content (desired.State.Digest): apply
	// --plan accepts any directory, wherever it is checked out, that loads to it.
	DesiredDigest string
	// CreatedAt is when the plan was made.
	CreatedAt time.Time
	// ReadSIM says the plan read the SIM integrations although no file declares one
	// (plan --sim); apply --plan reads them again.
	ReadSIM bool
	// SecretFilesOutside says ${file:PATH} could name files outside the desired directory
	// (plan --allow-secret-files-outside); apply --plan loads the directory the same way.
	SecretFilesOutside bool
}

type savedInfo struct {
	TenantURL     string `json:"tenantURL"`
	DesiredDir    string `json:"desiredDir"`
	DesiredDigest string `json:"desiredDigest"`
	CreatedAt     string `json:"createdAt"`
	Policy        Policy `json:"policy"`
	// Ownership says the plan was made with the ledger (see jsonPlan.Ownership).
	Ownership bool `json:"ownership"`

	ReadSIM            bool `json:"readSIM,omitempty"`
	SecretFilesOutside bool `json:"allowSecretFilesOutside,omitempty"`
}

// WriteSaved writes r as a saved plan for target.
func WriteSaved(w io.Writer, r *Result, target Target) error {
	p := toJSON(r)
	pol := r.Policy
	if pol.PatchableFields == nil {
		pol.PatchableFields = DefaultPatchableFields()
	}
	if pol.SIMPatchableFields == nil {
		pol.SIMPatchableFields = DefaultPatchableFields()
	}
	if pol.SecretKeys == nil {
		pol.SecretKeys = sdim.DefaultSecretAttributeKeys()
	}
	p.Saved = &savedInfo{TenantURL: target.TenantURL, DesiredDir: target.DesiredDir, DesiredDigest: target.DesiredDigest,
		CreatedAt: target.CreatedAt.UTC().Format(time.RFC3339), Policy: pol, Ownership: r.Ownership,
		ReadSIM: target.ReadSIM, SecretFilesOutside: target.SecretFilesOutside}
	return writeIndented(w, p)
}

// Saved is a plan read back from a file.
type Saved struct {
	Target Target
	// Policy is the policy to plan again with (TypeSecretKeys is not saved).
	Policy     Policy
	APIVersion sdim.APIVersion
	// Ownership says the plan was made with the ledger: apply --plan refuses a fresh plan
	// made otherwise.
	Ownership bool
	// Changes are the saved changes, without the objects to send; their Fields and Patch
	// values are decoded JSON (json.Number for numbers, redacted text for secrets).
	Changes []Change
	Blocked []string
}

// ReadSaved reads a plan written by WriteSaved.
func ReadSaved(r io.Reader) (*Saved, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read the saved plan: %w", err)
	}
	var head struct {
		FormatVersion *int `json:"formatVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("read the saved plan: not a JSON plan: %w", err)
	}
	if head.FormatVersion == nil || *head.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("read the saved plan: formatVersion %s is not supported (this sdim-sync reads %d): make the plan again with this version", versionText(head.FormatVersion), FormatVersion)
	}
	var p jsonPlan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read the saved plan: %w", err)
	}
	if p.Saved == nil {
		return nil, errors.New("read the saved plan: it has no \"saved\" section: write it with sdim-sync plan --out FILE, not -o json")
	}
	if p.Saved.DesiredDigest == "" {
		return nil, errors.New("read the saved plan: it names no desired state by content (desiredDigest): it was made by an older sdim-sync; make the plan again")
	}
	created, err := time.Parse(time.RFC3339, p.Saved.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("read the saved plan: createdAt: %w", err)
	}
	return &Saved{
		Target: Target{TenantURL: p.Saved.TenantURL, DesiredDir: p.Saved.DesiredDir, DesiredDigest: p.Saved.DesiredDigest, CreatedAt: created,
			ReadSIM: p.Saved.ReadSIM, SecretFilesOutside: p.Saved.SecretFilesOutside},
		Policy:     p.Saved.Policy,
		APIVersion: p.APIVersion,
		Ownership:  p.Saved.Ownership,
		Changes:    p.Changes,
		Blocked:    p.Blocked,
	}, nil
}

func versionText(v *int) string {
	if v == nil {
		return "(missing)"
	}
	return fmt.Sprint(*v)
}

// StaleError says why a saved plan no longer matches the tenant or the desired state.
type StaleError struct {
	Reasons []string
}

func (e *StaleError) Error() string {
	return "the saved plan is out of date, so nothing was applied: " + strings.Join(e.Reasons, "; ") +
		": run sdim-sync plan --out again, review it, and apply the new plan"
}

// intent is what must be equal between a saved and a fresh change.
type intent struct {
	Kind         sdim.Kind        `json:"kind"`
	Name         string           `json:"name"`
	Action       Action           `json:"action"`
	ID           string           `json:"id"`
	PreviousName string           `json:"previousName"`
	Observe      bool             `json:"observe"`
	Fields       []sdim.FieldDiff `json:"fields"`
	Patch        []PatchOp        `json:"patch"`
	Dropped      []string         `json:"dropped"`
	Absent       bool             `json:"absent"`
	PushSecrets  []SecretPush     `json:"pushSecrets"`
}

func intentOf(c Change) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(intent{c.Kind, c.Name, c.Action, c.ID, c.PreviousName, c.Observe, c.Fields, c.Patch, c.Dropped, c.Absent, c.PushSecrets})
	return buf.String(), err
}

// maxStaleReasons bounds the reasons a StaleError lists.
const maxStaleReasons = 10

// Check compares a fresh plan, made now with s.Policy from the desired directory and
// the tenant at tenantURL, with the saved one. It returns a *StaleError when the tenant,
// its API version or any change differs (another change, another value, or a live object
// modified since the plan was made); nil means the fresh plan's changes are the saved
// ones and may be applied.
func (s *Saved) Check(fresh *Result, tenantURL string) error {
	var reasons []string
	add := func(format string, args ...any) {
		if len(reasons) < maxStaleReasons {
			reasons = append(reasons, fmt.Sprintf(format, args...))
		}
	}
	if strings.TrimRight(s.Target.TenantURL, "/") != strings.TrimRight(tenantURL, "/") {
		add("it was made for the tenant %s, not %s", s.Target.TenantURL, tenantURL)
	}
	if s.APIVersion != fresh.APIVersion {
		add("it was made with API version %s, not %s", s.APIVersion, fresh.APIVersion)
	}
	if s.Ownership != fresh.Ownership {
		add("it was made %s the ledger, the fresh plan %s (--state-dir)", withOrWithout(s.Ownership), withOrWithout(fresh.Ownership))
	}
	saved := map[string]Change{}
	for _, c := range s.Changes {
		saved[changeKey(c)] = c
	}
	seen := map[string]bool{}
	for _, c := range fresh.Changes {
		k := changeKey(c)
		seen[k] = true
		old, ok := saved[k]
		if !ok {
			add("%s %s is a new change", c.Action, c.Label())
			continue
		}
		if old.LiveModified != c.LiveModified {
			add("%s was modified in the tenant at %s, after the plan read it (%s)", c.Label(), c.LiveModified, old.LiveModified)
			continue
		}
		a, err1 := intentOf(old)
		b, err2 := intentOf(c)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("compare the saved plan's %s: %w", c.Label(), err)
		}
		if a != b {
			add("%s %s changed since the plan was made", c.Action, c.Label())
		}
	}
	for _, c := range s.Changes {
		if !seen[changeKey(c)] {
			add("%s %s is no longer needed", c.Action, c.Label())
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	return &StaleError{Reasons: reasons}
}

func changeKey(c Change) string {
	return string(c.Kind) + "\x00" + c.Name + "\x00" + string(c.Action) + "\x00" + c.ID
}

func withOrWithout(b bool) string {
	if b {
		return "with"
	}
	return "without"
}
