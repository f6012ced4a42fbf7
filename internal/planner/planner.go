// Package planner compares a desired state with a tenant's live state and decides what to
// write: create, patch (replace of patchable fields), put (whole replacement) or delete, in
// a fixed order, with the safety rules that keep a bad input from emptying a tenant. A
// plan is data: Plan never talks to the tenant, and the applier reads only the Result.
//
// The comparison runs on the canonical form of internal/sdim (see sdim.CanonicalServiceDesk
// and sdim.Compare), so server-filled reference names, deprecated aliases, default
// reference types, empty-versus-absent, number spelling and secrets the tenant never
// returns are not drift.
package planner

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// Action is what a change does to the tenant.
type Action string

// The actions, in the order a plan runs them: creates, then updates (patch and put), then
// deletes.
const (
	ActionCreate Action = "create"
	ActionPatch  Action = "patch"
	ActionPut    Action = "put"
	ActionDelete Action = "delete"
)

func (a Action) stage() int {
	switch a {
	case ActionCreate:
		return 0
	case ActionPatch, ActionPut:
		return 1
	}
	return 2
}

// DefaultMaxDeletes is the delete limit of DefaultPolicy.
const DefaultMaxDeletes = 10

// DefaultPatchableFields are the fields the v3 API reference lets PATCH replace.
func DefaultPatchableFields() []string { return []string{"/beforeProvisioningRule"} }

// Policy is what a plan may do.
type Policy struct {
	// PatchableFields are the JSON pointers of the service desk fields a PATCH may
	// replace; a difference at or below one of them is patched, any other is put. nil
	// means DefaultPatchableFields; an empty list means every update is a put.
	PatchableFields []string `json:"patchableFields"`
	// SIMPatchableFields is the same for SIM integrations.
	SIMPatchableFields []string `json:"simPatchableFields"`
	// Prune deletes live integrations that no file declares (and whose name ManagedScope
	// matches). Off, they are reported as unmanaged.
	Prune bool `json:"prune"`
	// PruneUnownedByName makes pruning delete by name pattern alone, objects sdim-sync
	// does not own included (--prune-unowned-by-name): dangerous, since an integration an
	// admin built by hand is deleted when its name matches. Off, a plan made with the
	// ledger (WithOwnership) prunes only the objects the ledger owns.
	PruneUnownedByName bool `json:"pruneUnownedByName,omitempty"`
	// ManagedScope lists name globs (path.Match syntax, where * also matches /) of the
	// live integrations pruning may delete. Empty means every name.
	ManagedScope []string `json:"managedScope,omitempty"`
	// MaxDeletes blocks a plan with more deletes than this; 0 blocks any delete and a
	// negative value sets no limit. The zero Policy therefore never deletes.
	MaxDeletes int `json:"maxDeletes"`
	// SecretKeys are the attribute keys the tenant never returns; nil means
	// sdim.DefaultSecretAttributeKeys. Use the same keys as desired.WithSecretKeys.
	SecretKeys []string `json:"secretKeys,omitempty"`
	// Mode is the run's mode: ModeObserve makes every change observe-only except those
	// of resources that say mode: enforce. ModeUnset is enforce.
	Mode desired.Mode `json:"mode,omitempty"`
	// Targets are name globs, NAME-GLOB or KIND/NAME-GLOB (see sdim.ParseTargets): when
	// set, only the objects they match are planned (created, updated, deleted or listed as
	// unmanaged); the others are not compared. Empty plans every object.
	Targets []string `json:"targets,omitempty"`
	// AllowSecretClear lets a put leave out, and so clear, the secret attributes its type's
	// template declares (--allow-secret-clear). Off, such a put blocks the plan unless the
	// object's options.allowSecretClear allows those keys.
	AllowSecretClear bool `json:"allowSecretClear,omitempty"`
	// PushSecrets plans a put of every integration that declares a secret (a ${env:...} or
	// ${file:...} reference, or a literal under a secret key), even one that otherwise
	// matches: the tenant never returns secrets, so a changed value is invisible to the
	// comparison (apply --push-secrets).
	PushSecrets bool `json:"pushSecrets,omitempty"`
	// TypeSecretKeys maps a service desk integration type to the secret attribute keys
	// its template holds (see TemplateSecretKeys), so that a put can tell which secrets it
	// would clear, and be blocked for it. Types not in the map get a general warning. Not
	// saved with a plan: the engine reads the templates again.
	TypeSecretKeys map[string][]string `json:"-"`
}

// DefaultPolicy is the policy of a plan without options: the default patchable fields,
// no pruning, a delete limit of DefaultMaxDeletes for when pruning is turned on.
func DefaultPolicy() Policy {
	return Policy{MaxDeletes: DefaultMaxDeletes}
}

// Validate checks the pointers and globs of the policy.
func (p Policy) Validate() error {
	var problems []string
	for _, list := range [][]string{p.PatchableFields, p.SIMPatchableFields} {
		for _, f := range list {
			if !strings.HasPrefix(f, "/") || f == "/" {
				problems = append(problems, fmt.Sprintf("patchable field %q is not a JSON pointer to a field (such as /beforeProvisioningRule)", f))
			}
		}
	}
	for _, g := range p.ManagedScope {
		if err := sdim.CheckGlob(g); err != nil {
			problems = append(problems, fmt.Sprintf("managed scope %q: %v", g, err))
		}
	}
	if _, err := sdim.ParseTargets(p.Targets); err != nil {
		problems = append(problems, err.Error())
	}
	switch p.Mode {
	case desired.ModeUnset, desired.ModeEnforce, desired.ModeObserve:
	default:
		problems = append(problems, fmt.Sprintf("mode %q is neither enforce nor observe", p.Mode))
	}
	if len(problems) > 0 {
		return fmt.Errorf("plan policy: %s", strings.Join(problems, "; "))
	}
	return nil
}

// InScope reports whether pruning may delete a live integration named name.
func (p Policy) InScope(name string) bool {
	if len(p.ManagedScope) == 0 {
		return true
	}
	for _, g := range p.ManagedScope {
		if sdim.MatchName(g, name) {
			return true
		}
	}
	return false
}

func (p Policy) patchable(k sdim.Kind) []string {
	list := p.PatchableFields
	if k == sdim.KindSIM {
		list = p.SIMPatchableFields
	}
	if list == nil {
		return DefaultPatchableFields()
	}
	return list
}

func (p Policy) secretKeys() sdim.SecretKeySet {
	if p.SecretKeys == nil {
		return sdim.NewSecretKeySet(sdim.DefaultSecretAttributeKeys())
	}
	return sdim.NewSecretKeySet(p.SecretKeys)
}

// PatchOp is one RFC 6902 replace operation of a patch: the pointer and the desired value
// in the canonical form. A secret inside Value renders redacted; the tenant client sends
// its value.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Change is one write of a plan.
type Change struct {
	Kind   sdim.Kind `json:"kind"`
	Name   string    `json:"name"`
	Action Action    `json:"action"`
	// ID is the live object's id; "" for a create and for the status-check singleton.
	ID string `json:"id,omitempty"`
	// Source is the file:line:column of the desired document; for a delete, of the
	// document that declares the object absent ("" for a delete by pruning).
	Source string `json:"source,omitempty"`
	// Absent marks a delete that a document asks for (state: absent), not pruning.
	Absent bool `json:"absent,omitempty"`
	// PreviousName is the live name of an object the plan renames (options.previousNames).
	PreviousName string `json:"previousName,omitempty"`
	// Observe marks a change that is reported but never applied (mode: observe).
	Observe bool `json:"observe,omitempty"`
	// Class says who moved (pending, out-of-band, conflict, unknown): set when the plan
	// was made with the ledger (WithOwnership).
	Class DriftClass `json:"class,omitempty"`
	// Fields are the differences, live (before) to desired (after), secrets masked. A
	// create lists the desired top-level fields; a delete lists none.
	Fields []sdim.FieldDiff `json:"fields,omitempty"`
	// Patch holds the operations of a patch: one replace per changed patchable field.
	Patch []PatchOp `json:"patch,omitempty"`
	// Dropped are the live attribute keys a put removes because the file does not declare
	// them.
	Dropped []string `json:"dropped,omitempty"`
	// PushSecrets lists the secrets a put sends because the plan was asked to push them
	// (Policy.PushSecrets), values masked: a put that only pushes secrets has no Fields.
	PushSecrets []SecretPush `json:"pushSecrets,omitempty"`
	// Warnings are what a reader must know before applying, such as secrets a put clears.
	Warnings []string `json:"warnings,omitempty"`
	// LiveModified is the live object's modified timestamp when planned: a saved plan is
	// refused at apply time when it moved.
	LiveModified string `json:"liveModified,omitempty"`
	// NoPutFallback is set on a patch whose object, sent as a PUT, would drop attributes
	// or could clear secrets: if the tenant refuses the PATCH, the applier fails it rather
	// than send the PUT. Warnings say why.
	NoPutFallback bool `json:"-"`
	// SpecDigest is the SpecDigest of the desired object (creates, puts and patches of a
	// plan made with the ledger): what the ledger records once the change is applied.
	SpecDigest string `json:"-"`
	// Secrets are the secret values of the desired object, by pointer: the ledger records
	// their fingerprints once a create or put has sent them.
	Secrets []SecretPush `json:"-"`

	// The object a create or put sends (one of them, by Kind); on a patch, the object a put
	// sends if the tenant refuses the PATCH. They hold secrets and are never encoded: a
	// saved plan is re-planned from the desired files at apply time.
	ServiceDesk *sdim.ServiceDeskIntegration   `json:"-"`
	SIM         *sdim.SIMIntegration           `json:"-"`
	StatusCheck *sdim.StatusCheckConfiguration `json:"-"`
}

// SecretPush is one secret a put pushes: its pointer and the desired value, which every
// rendering masks.
type SecretPush struct {
	Pointer string `json:"pointer"`
	Value   any    `json:"value"`
	// Rotated says the value differs from the one the ledger recorded as last sent (its
	// keyed fingerprint changed): the put is planned to send it.
	Rotated bool `json:"rotated,omitempty"`
}

// Label names the object for people: `ServiceDeskIntegration "Jira"`, or the status-check
// configuration.
func (c Change) Label() string { return Label(c.Kind, c.Name) }

// Label names an object of kind k for people, as plans, logs and errors do.
func Label(k sdim.Kind, name string) string {
	if k == sdim.KindStatusCheck {
		if name == "" {
			return "StatusCheckConfiguration"
		}
		return fmt.Sprintf("StatusCheckConfiguration %q", name)
	}
	return fmt.Sprintf("%s %q", k, name)
}

// Object names a live object the plan does not touch.
type Object struct {
	Kind sdim.Kind `json:"kind"`
	Name string    `json:"name"`
	ID   string    `json:"id"`
	// NotOwned says pruning was on and the name in scope, but the ledger does not own
	// the object: sdim-sync did not create or adopt it, so it is not deleted.
	NotOwned bool `json:"notOwned,omitempty"`
}

// Counts sum up a plan. Create, Patch, Put and Delete count the changes that will be
// applied; Observe counts the observe-only changes of every action.
type Counts struct {
	Create    int `json:"create"`
	Patch     int `json:"patch"`
	Put       int `json:"put"`
	Delete    int `json:"delete"`
	Observe   int `json:"observe"`
	Unmanaged int `json:"unmanaged"`
	InSync    int `json:"inSync"`
}

// Result is a plan: the ordered changes, the live objects left alone and why a plan may
// not run.
type Result struct {
	// Changes run in this order: creates, updates (patch, put), deletes, each by kind then
	// name.
	Changes []Change
	// Unmanaged are live integrations no file declares that the plan leaves alone.
	Unmanaged []Object
	Counts    Counts
	// Blocked holds the reasons the plan must not be applied (too many deletes, deletes
	// from an empty desired state). A blocked plan applies nothing.
	Blocked []string
	// APIVersion and ReadAt come from the live state.
	APIVersion sdim.APIVersion
	ReadAt     time.Time
	// Policy is the policy the plan was made with.
	Policy Policy
	// Ownership says the plan was made with the ledger (WithOwnership): pruning deleted
	// only owned objects unless Policy.PruneUnownedByName.
	Ownership bool
	// Synced are the declared objects found in sync, with their digests; only with the
	// ledger.
	Synced []Synced
}

// HasChanges reports whether the plan holds a change, observe-only ones included (drift
// that is only reported is still drift).
func (r *Result) HasChanges() bool { return len(r.Changes) > 0 }

// Applicable returns the changes an apply runs: every change but the observe-only ones.
func (r *Result) Applicable() []Change {
	out := make([]Change, 0, len(r.Changes))
	for _, c := range r.Changes {
		if !c.Observe {
			out = append(out, c)
		}
	}
	return out
}

// BlockedError is the error of applying a blocked plan.
func (r *Result) BlockedError() error {
	if len(r.Blocked) == 0 {
		return nil
	}
	return fmt.Errorf("the plan is blocked: %s", strings.Join(r.Blocked, "; "))
}

// PutTypes lists the service desk integration types of the planned puts and patches (a
// patch the tenant refuses may become a put), sorted: the types whose templates can tell
// which secrets a put would clear.
func (r *Result) PutTypes() []string {
	var out []string
	for _, c := range r.Changes {
		if (c.Action == ActionPut || c.Action == ActionPatch) && c.ServiceDesk != nil && c.ServiceDesk.Type != "" {
			out = append(out, c.ServiceDesk.Type)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TemplateSecretKeys lists the attribute keys of a type's template that are secret keys,
// sorted.
func TemplateSecretKeys(t *sdim.Template, keys sdim.SecretKeySet) []string {
	if t == nil {
		return nil
	}
	var out []string
	for k := range t.Attributes {
		if keys.Has(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// wantObj is one desired integration in the canonical form.
type wantObj struct {
	res   desired.Resource
	canon map[string]any
	sd    *sdim.ServiceDeskIntegration
	sim   *sdim.SIMIntegration
}

// liveObj is one live integration in the canonical form.
type liveObj struct {
	id, name, modified string
	canon              map[string]any
	sd                 *sdim.ServiceDeskIntegration
	sim                *sdim.SIMIntegration
}

// planner holds what one Plan call shares.
type planner struct {
	pol     Policy
	secrets sdim.SecretKeySet
	targets sdim.Targets
	res     *Result
	// own is the ledger's view; nil without one.
	own *ownIndex
}

// Plan compares the desired state with the live state under pol and returns the changes
// that make the tenant match, in order. It fails only on inputs it cannot plan from: a
// missing state, an invalid policy, or SIM integrations declared but not read from the
// tenant. It never talks to the tenant.
func Plan(want *desired.State, live *sdim.Live, pol Policy, opts ...Option) (*Result, error) {
	if want == nil {
		return nil, fmt.Errorf("plan: no desired state")
	}
	if live == nil {
		return nil, fmt.Errorf("plan: no live state")
	}
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	if len(want.SIM) > 0 && !live.SIMRead {
		return nil, fmt.Errorf("plan: the desired state declares %d SIM integrations but the live state was read without them: read SIM integrations too (API version v2024, v2025 or v1)", len(want.SIM))
	}
	targets, err := sdim.ParseTargets(pol.Targets)
	if err != nil {
		return nil, err
	}
	for _, a := range want.Absent {
		if a.Kind == sdim.KindSIM && !live.SIMRead {
			return nil, fmt.Errorf("plan: the desired state declares the SIM integration %q absent but the live state was read without SIM integrations: read them too (API version v2024, v2025 or v1)", a.Name)
		}
	}
	p := &planner{pol: pol, secrets: pol.secretKeys(), targets: targets,
		res: &Result{APIVersion: live.APIVersion, ReadAt: live.ReadAt, Policy: pol}}
	for _, o := range opts {
		o(p)
	}
	p.res.Ownership = p.own != nil

	sdWant := make([]wantObj, len(want.ServiceDesk))
	for i := range want.ServiceDesk {
		r := &want.ServiceDesk[i]
		sdWant[i] = wantObj{res: r.Resource, canon: sdim.CanonicalServiceDesk(r.Spec), sd: &r.Spec}
	}
	sdLive := make([]liveObj, len(live.ServiceDesk))
	for i := range live.ServiceDesk {
		o := &live.ServiceDesk[i]
		sdLive[i] = liveObj{id: o.ID, name: o.Name, modified: o.Modified, canon: sdim.CanonicalServiceDesk(*o), sd: o}
	}
	p.planKind(sdim.KindServiceDesk, sdWant, sdLive, absentOf(want, sdim.KindServiceDesk))

	p.planStatusCheck(want.StatusCheck, live.StatusCheck)

	if live.SIMRead {
		simWant := make([]wantObj, len(want.SIM))
		for i := range want.SIM {
			r := &want.SIM[i]
			simWant[i] = wantObj{res: r.Resource, canon: sdim.CanonicalSIM(r.Spec), sim: &r.Spec}
		}
		simLive := make([]liveObj, len(live.SIM))
		for i := range live.SIM {
			o := &live.SIM[i]
			simLive[i] = liveObj{id: o.ID, name: o.Name, modified: o.Modified, canon: sdim.CanonicalSIM(*o), sim: o}
		}
		p.planKind(sdim.KindSIM, simWant, simLive, absentOf(want, sdim.KindSIM))
	}

	p.block(want)
	sortChanges(p.res.Changes)
	slices.SortFunc(p.res.Unmanaged, func(a, b Object) int {
		return cmp.Or(kindOrder(a.Kind)-kindOrder(b.Kind), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return p.res, nil
}

// absentOf returns the documents that declare objects of kind absent, by name.
func absentOf(want *desired.State, kind sdim.Kind) map[string]desired.Resource {
	out := map[string]desired.Resource{}
	for _, r := range want.Absent {
		if r.Kind == kind {
			out[r.Name] = r
		}
	}
	return out
}

func kindOrder(k sdim.Kind) int { return slices.Index(sdim.Kinds(), k) }

func sortChanges(cs []Change) {
	slices.SortStableFunc(cs, func(a, b Change) int {
		return cmp.Or(a.Action.stage()-b.Action.stage(), kindOrder(a.Kind)-kindOrder(b.Kind),
			strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
}

// observe reports whether a resource's changes are only reported.
func (p *planner) observe(m desired.Mode) bool {
	if m == desired.ModeUnset {
		m = p.pol.Mode
	}
	return m == desired.ModeObserve
}

func (p *planner) add(c Change) {
	p.res.Changes = append(p.res.Changes, c)
	if c.Observe {
		p.res.Counts.Observe++
		return
	}
	switch c.Action {
	case ActionCreate:
		p.res.Counts.Create++
	case ActionPatch:
		p.res.Counts.Patch++
	case ActionPut:
		p.res.Counts.Put++
	case ActionDelete:
		p.res.Counts.Delete++
	}
}

func secretMaps(k sdim.Kind) []string {
	if k == sdim.KindSIM {
		return []string{"/attributes", "/request", "/statusMap"}
	}
	return []string{"/attributes"}
}

// planKind pairs the desired and live integrations of one kind (by name, then by previous
// name), then decides each pair the targets match: a pair when either name matches, a
// desired or live object alone by its name. A live object no document declares is deleted
// when a document declares it absent, or when pruning is on and it is in scope; otherwise
// it is unmanaged.
func (p *planner) planKind(kind sdim.Kind, want []wantObj, live []liveObj, absent map[string]desired.Resource) {
	byName := make(map[string]int, len(live))
	for i := len(live) - 1; i >= 0; i-- { // the first of duplicate names wins
		byName[live[i].name] = i
	}
	claimed := make([]bool, len(live))
	match := make([]int, len(want))
	for i, w := range want {
		match[i] = -1
		if j, ok := byName[w.res.Name]; ok && !claimed[j] {
			match[i], claimed[j] = j, true
		}
	}
	for i, w := range want {
		if match[i] >= 0 {
			continue
		}
		for _, prev := range w.res.Options.PreviousNames {
			if j, ok := byName[prev]; ok && !claimed[j] {
				match[i], claimed[j] = j, true
				break
			}
		}
	}
	for i := range want {
		if match[i] < 0 {
			if p.targets.Match(kind, want[i].res.Name) {
				p.create(kind, &want[i])
			}
			continue
		}
		if p.targets.Match(kind, want[i].res.Name) || p.targets.Match(kind, live[match[i]].name) {
			p.update(kind, &want[i], &live[match[i]])
		}
	}
	for j := range live {
		if claimed[j] {
			continue
		}
		l := &live[j]
		if !p.targets.Match(kind, l.name) {
			continue
		}
		if a, ok := absent[l.name]; ok {
			p.add(Change{Kind: kind, Name: l.name, Action: ActionDelete, ID: l.id, LiveModified: l.modified,
				Source: a.Source.String(), Absent: true, Observe: p.observe(a.Options.Mode), Class: p.deleteClass(kind, l.id)})
			continue
		}
		if !p.pol.Prune || !p.pol.InScope(l.name) || !p.prunable(kind, l.id) {
			p.res.Unmanaged = append(p.res.Unmanaged, Object{Kind: kind, Name: l.name, ID: l.id,
				NotOwned: p.pol.Prune && p.pol.InScope(l.name) && !p.prunable(kind, l.id)})
			p.res.Counts.Unmanaged++
			continue
		}
		p.add(Change{Kind: kind, Name: l.name, Action: ActionDelete, ID: l.id, LiveModified: l.modified,
			Observe: p.observe(desired.ModeUnset), Class: p.deleteClass(kind, l.id)})
	}
}

func (p *planner) create(kind sdim.Kind, w *wantObj) {
	c := Change{Kind: kind, Name: w.res.Name, Action: ActionCreate, Source: w.res.Source.String(),
		Observe: p.observe(w.res.Options.Mode), ServiceDesk: w.sd, SIM: w.sim}
	if p.own != nil {
		c.Class, c.SpecDigest, c.Secrets = ClassPending, p.digest(kind, w.canon, w.res.Options.Ignore, nil), secretsIn(w.canon, "", nil)
	}
	// A create shows every desired field, one line per top-level field.
	keys := make([]string, 0, len(w.canon))
	for k := range w.canon {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.Fields = append(c.Fields, sdim.FieldDiff{Pointer: "/" + sdim.EscapePointerToken(k), After: w.canon[k]})
	}
	p.add(c)
}

func (p *planner) update(kind sdim.Kind, w *wantObj, l *liveObj) {
	opts := sdim.CompareOptions{Ignore: w.res.Options.Ignore, SecretKeys: p.secrets, SecretMaps: secretMaps(kind)}
	diffs := sdim.Compare(w.canon, l.canon, opts)
	entry, known := p.own.get(kind, l.id)
	push := p.own.rotated(entry, known, w.canon)
	if p.pol.PushSecrets {
		push = markRotated(secretsIn(w.canon, "", nil), push)
	}
	var wantDigest string
	if p.own != nil {
		wantDigest = p.digest(kind, w.canon, w.res.Options.Ignore, nil)
	}
	if len(diffs) == 0 && len(push) == 0 {
		p.res.Counts.InSync++
		if p.own != nil {
			p.res.Synced = append(p.res.Synced, Synced{Kind: kind, ID: l.id, Name: w.res.Name, SpecDigest: wantDigest})
		}
		return
	}
	c := Change{Kind: kind, Name: w.res.Name, ID: l.id, Source: w.res.Source.String(), Observe: p.observe(w.res.Options.Mode),
		Fields: diffs, PushSecrets: push, LiveModified: l.modified}
	if p.own != nil {
		liveDigest := wantDigest
		if len(diffs) > 0 {
			liveDigest = p.digest(kind, l.canon, w.res.Options.Ignore, secretPointers(w.canon))
		}
		c.Class, c.SpecDigest, c.Secrets = classify(entry, known, wantDigest, liveDigest), wantDigest, secretsIn(w.canon, "", nil)
	}
	if l.name != w.res.Name {
		c.PreviousName = l.name
	}
	// The whole object a put sends; a patch carries it too, for when the tenant refuses the
	// PATCH (403) and the applier falls back to a put.
	ignore := w.res.Options.Ignore
	sent := w.canon // what a write sends, in the canonical form: ignored fields at their live values
	switch kind {
	case sdim.KindSIM:
		obj := preserveSIM(*w.sim, *l.sim, ignore)
		c.SIM = &obj
		if len(ignore) > 0 {
			sent = sdim.CanonicalSIM(obj)
		}
	default:
		obj := preserveServiceDesk(*w.sd, *l.sd, ignore)
		c.ServiceDesk = &obj
		if len(ignore) > 0 {
			sent = sdim.CanonicalServiceDesk(obj)
		}
	}
	sec := p.secretState(kind, w)
	// Pushing secrets takes a put: a patch sends only the patchable fields.
	if ops, ok := patchOps(diffs, sent, p.pol.patchable(kind)); ok && len(push) == 0 {
		c.Action, c.Patch = ActionPatch, ops
		drops := dropped(w.canon, l.canon, ignore)
		secrets := sec.warnings()
		// A replace of a whole open map is a put of that map: it drops and clears the same.
		for _, op := range ops {
			if !slices.Contains(secretMaps(kind), op.Path) {
				continue
			}
			if op.Path == "/attributes" {
				c.Dropped = drops
				if sec.known {
					p.secretClear(&c, sec, w.res, "patch (it replaces /attributes whole)")
					continue
				}
			}
			if len(secrets) > 0 {
				c.Warnings = append(c.Warnings, fmt.Sprintf("the patch replaces %s whole: secrets the tenant never shows are cleared unless the file declares them", op.Path))
			}
		}
		// A PUT in its place would drop or clear what a reader of this patch does not
		// expect: then the applier must not fall back to one.
		if len(drops) > 0 || len(secrets) > 0 {
			c.NoPutFallback = true
			why := make([]string, 0, 2)
			if len(drops) > 0 {
				why = append(why, "it would drop the attributes "+strings.Join(drops, ", ")+" the file does not declare")
			}
			if len(secrets) > 0 {
				why = append(why, "it could clear secrets the tenant never shows")
			}
			c.Warnings = append(c.Warnings, fmt.Sprintf("if the tenant refuses this PATCH (403), apply will not send a PUT instead: %s; declare them in the file, or leave %s out of --patchable-fields so that the plan shows the put",
				strings.Join(why, " and "), strings.Join(patchPaths(ops), ", ")))
		}
		p.add(c)
		return
	}
	c.Action = ActionPut
	c.Dropped = dropped(w.canon, l.canon, ignore)
	if sec.known {
		p.secretClear(&c, sec, w.res, "put")
	} else {
		c.Warnings = sec.warnings()
	}
	p.add(c)
}

// secretsIn lists the secrets of a canonical object (values of type sdim.Secret), by
// pointer.
func secretsIn(v any, ptr string, out []SecretPush) []SecretPush {
	switch t := v.(type) {
	case sdim.Secret:
		out = append(out, SecretPush{Pointer: ptr, Value: t})
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = secretsIn(t[k], ptr+"/"+sdim.EscapePointerToken(k), out)
		}
	case []any:
		for i, e := range t {
			out = secretsIn(e, fmt.Sprintf("%s/%d", ptr, i), out)
		}
	}
	return out
}

// patchOps returns one replace per patchable field that differs, when every difference
// lies at or below a patchable field and the desired side has a value for each (a
// removal is not a replace).
func patchOps(diffs []sdim.FieldDiff, want map[string]any, patchable []string) ([]PatchOp, bool) {
	var fields []string
	for _, d := range diffs {
		f, ok := under(d.Pointer, patchable)
		if !ok {
			return nil, false
		}
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	ops := make([]PatchOp, 0, len(fields))
	for _, f := range fields {
		v, ok := sdim.Lookup(want, f)
		if !ok {
			return nil, false
		}
		ops = append(ops, PatchOp{Op: "replace", Path: f, Value: v})
	}
	return ops, true
}

func patchPaths(ops []PatchOp) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.Path
	}
	return out
}

// under returns the patchable field ptr is at or below.
func under(ptr string, fields []string) (string, bool) {
	for _, f := range fields {
		if ptr == f || strings.HasPrefix(ptr, f+"/") {
			return f, true
		}
	}
	return "", false
}

// dropped lists the live attribute keys a put removes: those the desired attributes lack,
// except ignored ones (a put keeps their live value).
func dropped(want, live map[string]any, ignore []string) []string {
	la, _ := live["attributes"].(map[string]any)
	wa, _ := want["attributes"].(map[string]any)
	var out []string
	for k := range la {
		if _, ok := wa[k]; ok {
			continue
		}
		if _, ig := under("/attributes/"+sdim.EscapePointerToken(k), ignore); ig {
			continue
		}
		if _, ig := under("/attributes", ignore); ig {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// secrets is what the planner knows about the secrets a write of one object leaves out.
type secrets struct {
	typ string
	// known says the type's template was read (Policy.TypeSecretKeys): missing is then
	// exact.
	known bool
	// missing are the template's secret keys the file does not declare.
	missing []string
	// declared says the file declares some secret attribute.
	declared bool
}

// secretState compares the secret keys of the object's type's template with the
// attributes the file declares. The tenant never returns secrets, so the live side cannot
// tell whether one is set; the template tells which keys the type has.
func (p *planner) secretState(kind sdim.Kind, w *wantObj) secrets {
	var attrs map[string]any
	var s secrets
	if kind == sdim.KindSIM {
		attrs, s.typ = w.sim.Attributes, w.sim.Type
	} else {
		attrs, s.typ = w.sd.Attributes, w.sd.Type
	}
	declared := map[string]bool{}
	for k, v := range attrs {
		if _, ok := v.(sdim.Secret); ok || p.secrets.Has(k) {
			declared[strings.ToLower(k)] = true
			s.declared = true
		}
	}
	keys, ok := p.pol.TypeSecretKeys[s.typ]
	if !ok || kind != sdim.KindServiceDesk {
		return s
	}
	s.known = true
	for _, k := range keys {
		if !declared[strings.ToLower(k)] {
			s.missing = append(s.missing, k)
		}
	}
	return s
}

// warnings are the general warnings of a write that replaces the attributes whole.
func (s secrets) warnings() []string {
	switch {
	case s.known && len(s.missing) > 0:
		return []string{fmt.Sprintf("the %s template has the secret %s, which the file does not declare", s.typ, attrList(s.missing))}
	case s.known || s.declared:
		return nil
	}
	return []string{"the put replaces the whole object and the file declares no secret attribute (password, token, ...): the tenant never returns secrets, so sdim-sync cannot tell whether one is set; if one is, the put clears it"}
}

// secretClear warns about, and blocks, a write (what: "put") that would clear secrets the
// type's template declares and the file does not, unless --allow-secret-clear or the
// object's options.allowSecretClear allows it. An observe-only change is never written,
// so it only warns.
func (p *planner) secretClear(c *Change, s secrets, res desired.Resource, what string) {
	var blocked, allowed []string
	for _, k := range s.missing {
		if p.pol.AllowSecretClear || res.Options.AllowsSecretClear(k) {
			allowed = append(allowed, k)
		} else {
			blocked = append(blocked, k)
		}
	}
	verb := strings.Fields(what)[0]
	if len(blocked) > 0 {
		n := len(blocked)
		c.Warnings = append(c.Warnings, fmt.Sprintf("the %s replaces the whole object: the %s template has the secret %s, which the file does not declare, so the %s would clear %s in the tenant (which never shows secrets); declare %s, or allow clearing %s with --allow-secret-clear or options.allowSecretClear",
			what, s.typ, attrList(blocked), verb, pronoun(n), plural(n, "it as an ${env:NAME} or ${file:PATH} reference", "them as ${env:NAME} or ${file:PATH} references"), pronoun(n)))
		if !c.Observe {
			where := c.Label()
			if c.Source != "" {
				where += " (" + c.Source + ")"
			}
			p.res.Blocked = append(p.res.Blocked, fmt.Sprintf("%s: the %s would clear the secret %s, which the %s template declares, the tenant never shows and the file does not declare: declare %s (such as %s: ${env:NAME}), or pass --allow-secret-clear or set options.allowSecretClear to clear %s on purpose",
				where, verb, attrList(blocked), s.typ, plural(n, "it as an ${env:NAME} or ${file:PATH} reference", "them as ${env:NAME} or ${file:PATH} references"), blocked[0], pronoun(n)))
		}
	}
	if len(allowed) > 0 {
		by := "options.allowSecretClear"
		if p.pol.AllowSecretClear {
			by = "--allow-secret-clear"
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("the %s clears the secret %s, which the %s template declares and the file does not: allowed by %s",
			verb, attrList(allowed), s.typ, by))
	}
}

// attrList names attribute keys: "attributes.apiKey, attributes.password".
func attrList(keys []string) string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = "attributes." + k
	}
	return strings.Join(out, ", ")
}

func pronoun(n int) string { return plural(n, "it", "them") }

// planStatusCheck plans the singleton: a put when it differs, never a create or delete.
func (p *planner) planStatusCheck(want *desired.StatusCheckResource, live *sdim.StatusCheckConfiguration) {
	if want == nil || !p.targets.Match(sdim.KindStatusCheck, want.Name) {
		return
	}
	var l map[string]any
	if live != nil {
		l = sdim.CanonicalStatusCheck(*live)
	}
	opts := sdim.CompareOptions{Ignore: want.Options.Ignore, SecretKeys: p.secrets}
	wantCanon := sdim.CanonicalStatusCheck(want.Spec)
	diffs := sdim.Compare(wantCanon, l, opts)
	var class DriftClass
	var wantDigest string
	if p.own != nil {
		wantDigest = p.digest(sdim.KindStatusCheck, wantCanon, want.Options.Ignore, nil)
		if len(diffs) == 0 {
			p.res.Synced = append(p.res.Synced, Synced{Kind: sdim.KindStatusCheck, Name: want.Name, SpecDigest: wantDigest})
		} else {
			entry, known := p.own.get(sdim.KindStatusCheck, "")
			class = classify(entry, known, wantDigest, p.digest(sdim.KindStatusCheck, l, want.Options.Ignore, nil))
		}
	}
	if len(diffs) == 0 {
		p.res.Counts.InSync++
		return
	}
	spec := want.Spec
	if live != nil {
		for _, ig := range want.Options.Ignore {
			switch ig {
			case "/provisioningStatusCheckIntervalMinutes":
				spec.ProvisioningStatusCheckIntervalMinutes = live.ProvisioningStatusCheckIntervalMinutes
			case "/provisioningMaxStatusCheckDays":
				spec.ProvisioningMaxStatusCheckDays = live.ProvisioningMaxStatusCheckDays
			}
		}
	}
	p.add(Change{Kind: sdim.KindStatusCheck, Name: want.Name, Action: ActionPut, Source: want.Source.String(),
		Observe: p.observe(want.Options.Mode), Fields: diffs, StatusCheck: &spec, Class: class, SpecDigest: wantDigest})
}

// block records why the plan must not run: more deletes than the limit (deletes by
// pruning and deletes documents ask for alike), or pruning deletes of a kind the desired
// state declares none of (an empty or wrong directory must not empty the tenant). A put
// that would clear secrets is blocked where it is planned (secretClear).
func (p *planner) block(want *desired.State) {
	pruned := map[sdim.Kind]int{}
	total, prunedTotal := 0, 0
	for _, c := range p.res.Changes {
		if c.Action == ActionDelete && !c.Observe {
			total++
			if !c.Absent {
				pruned[c.Kind]++
				prunedTotal++
			}
		}
	}
	if total == 0 {
		return
	}
	if max := p.pol.MaxDeletes; max >= 0 && total > max {
		p.res.Blocked = append(p.res.Blocked, fmt.Sprintf(
			"%s the limit of %d: check the desired directory, its state: absent documents and --managed-scope, or raise --max-deletes", sdim.Count(total, "delete exceeds", "deletes exceed"), max))
	}
	if prunedTotal == 0 {
		return
	}
	if len(want.ServiceDesk) == 0 && len(want.SIM) == 0 {
		p.res.Blocked = append(p.res.Blocked, fmt.Sprintf(
			"the desired state in %q declares no integrations, so pruning would delete %d: refusing to delete from an empty desired state (wrong directory?)", want.Dir, prunedTotal))
		return
	}
	declared := map[sdim.Kind]int{sdim.KindServiceDesk: len(want.ServiceDesk), sdim.KindSIM: len(want.SIM)}
	for _, k := range []sdim.Kind{sdim.KindServiceDesk, sdim.KindSIM} {
		if pruned[k] > 0 && declared[k] == 0 {
			p.res.Blocked = append(p.res.Blocked, fmt.Sprintf(
				"the desired state declares no %s, so pruning would delete all %d in scope: refusing; narrow --managed-scope or declare them", k, pruned[k]))
		}
	}
}
