package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// DriftClass says who moved when an existing object differs: the desired state, the
// tenant, or both, judged against what the ledger recorded at the last apply.
type DriftClass string

// The drift classes.
const (
	// ClassPending: the desired state changed since the last apply, the tenant did not
	// (a merged change not applied yet: expected). Every create is pending.
	ClassPending DriftClass = "pending"
	// ClassOutOfBand: the tenant changed, the desired state did not (someone edited the
	// object by hand).
	ClassOutOfBand DriftClass = "out-of-band"
	// ClassConflict: both changed since the last apply: a person must decide.
	ClassConflict DriftClass = "conflict"
	// ClassUnknown: the ledger has no entry of the object (or no digest of it), so who
	// moved cannot be told.
	ClassUnknown DriftClass = "unknown"
)

// DriftClasses lists every class.
func DriftClasses() []DriftClass {
	return []DriftClass{ClassPending, ClassOutOfBand, ClassConflict, ClassUnknown}
}

// Owned is what the ledger knows of one object, as the planner needs it.
type Owned struct {
	Kind sdim.Kind
	// ID is the tenant's id ("" for the status-check configuration).
	ID   string
	Name string
	// SpecDigest is the SpecDigest of what was last applied (or of the live object when
	// it was adopted); "" when unknown.
	SpecDigest string
	// Secrets maps the pointer of each secret value last sent to its keyed fingerprint.
	Secrets map[string]string
}

// Ownership is the ledger's view the planner plans with (WithOwnership): which objects
// sdim-sync owns, what it last applied to each, and how to fingerprint a secret value
// the way the ledger did.
type Ownership struct {
	Objects []Owned
	// Fingerprint returns the keyed fingerprint of a secret value (the ledger's key);
	// nil turns off the detection of rotated secrets.
	Fingerprint func(sdim.Secret) string
}

// Option tunes a Plan.
type Option func(*planner)

// WithOwnership plans with the ledger's view: pruning deletes only owned objects (unless
// Policy.PruneUnownedByName), each change gets its drift class, a secret whose
// fingerprint differs from the recorded one is put ("secret rotated"), and the result
// lists the objects in sync with their digests (Result.Synced) for the ledger. nil is the
// same as no option: no ledger, pruning by name pattern, no classes.
func WithOwnership(o *Ownership) Option {
	return func(p *planner) {
		if o == nil {
			return
		}
		idx := &ownIndex{byKey: make(map[ownKey]Owned, len(o.Objects)), fingerprint: o.Fingerprint}
		for _, e := range o.Objects {
			idx.byKey[ownKey{e.Kind, e.ID}] = e
		}
		p.own = idx
	}
}

type ownKey struct {
	kind sdim.Kind
	id   string
}

type ownIndex struct {
	byKey       map[ownKey]Owned
	fingerprint func(sdim.Secret) string
}

func (o *ownIndex) get(kind sdim.Kind, id string) (Owned, bool) {
	if o == nil {
		return Owned{}, false
	}
	if kind == sdim.KindStatusCheck {
		id = ""
	}
	e, ok := o.byKey[ownKey{kind, id}]
	return e, ok
}

// Synced is a declared object the plan found in sync, with the digest of its desired
// spec: after an apply, the engine records it in the ledger when the ledger does not know
// it (an object created by a run that ended before its ledger write) or holds another
// digest.
type Synced struct {
	Kind       sdim.Kind
	ID         string
	Name       string
	SpecDigest string
}

// SpecDigest is the hex SHA-256 of a canonical spec (sdim.CanonicalServiceDesk,
// CanonicalSIM, CanonicalStatusCheck) of kind, with what a comparison never sees removed:
// the options.ignore pointers, every secret value (values of type sdim.Secret, and the
// pointers in secretPtrs, where the desired side holds one), the secret keys of the
// secret maps (attributes, and for SIM integrations request and statusMap), and the maps
// and lists left empty. It is JSON (encoding/json sorts map keys), so the digests of a
// desired and a live object are equal when their canonical forms are. It holds no secret:
// a secret is removed before encoding.
func SpecDigest(kind sdim.Kind, canon map[string]any, ignore []string, secretKeys sdim.SecretKeySet, secretPtrs []string) string {
	d := digester{kind: kind, ignore: ignore, keys: secretKeys, secretPtrs: secretPtrs}
	v := d.strip(canon, "", false)
	b, err := json.Marshal(v)
	if err != nil {
		b = fmt.Appendf(nil, "unencodable: %v", err) // never equal to a good digest's input
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type digester struct {
	kind       sdim.Kind
	ignore     []string
	keys       sdim.SecretKeySet
	secretPtrs []string
}

func (d digester) strip(v any, ptr string, inSecrets bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			p := ptr + "/" + sdim.EscapePointerToken(k)
			if _, ig := under(p, d.ignore); ig || slices.Contains(d.secretPtrs, p) {
				continue
			}
			if _, secret := x.(sdim.Secret); secret || inSecrets && d.keys.Has(k) {
				continue
			}
			y := d.strip(x, p, inSecrets || ptr == "" && slices.Contains(secretMaps(d.kind), p))
			if empty(y) {
				continue
			}
			out[k] = y
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for i, x := range t {
			p := fmt.Sprintf("%s/%d", ptr, i)
			if _, secret := x.(sdim.Secret); secret || slices.Contains(d.secretPtrs, p) {
				out = append(out, nil) // keep the positions of the others
				continue
			}
			out = append(out, d.strip(x, p, inSecrets))
		}
		return out
	case sdim.Secret:
		return nil
	}
	return v
}

func empty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// secretPointers lists the pointers of the secret values of a canonical object.
func secretPointers(canon map[string]any) []string {
	var out []string
	for _, s := range secretsIn(canon, "", nil) {
		out = append(out, s.Pointer)
	}
	return out
}

// classify is the drift class of a change of an existing object, from the digests of its
// desired and live specs and the ledger's entry.
func classify(e Owned, known bool, want, live string) DriftClass {
	if !known || e.SpecDigest == "" {
		return ClassUnknown
	}
	desiredMoved, tenantMoved := want != e.SpecDigest, live != e.SpecDigest
	switch {
	case desiredMoved && tenantMoved:
		return ClassConflict
	case tenantMoved:
		return ClassOutOfBand
	}
	// The desired state moved, or neither digest did and the difference lies in what a
	// digest leaves out (a rotated secret): the change is the repository's.
	return ClassPending
}

// rotated lists the secrets of a desired object whose fingerprint differs from the one
// the ledger recorded for the same pointer. A secret the ledger has no fingerprint of
// is not listed: apply --push-secrets sends it.
func (o *ownIndex) rotated(e Owned, known bool, canon map[string]any) []SecretPush {
	if o == nil || o.fingerprint == nil || !known || len(e.Secrets) == 0 {
		return nil
	}
	var out []SecretPush
	for _, s := range secretsIn(canon, "", nil) {
		old, ok := e.Secrets[s.Pointer]
		if !ok {
			continue
		}
		if sec, isSecret := s.Value.(sdim.Secret); isSecret && o.fingerprint(sec) != old {
			s.Rotated = true
			out = append(out, s)
		}
	}
	return out
}

// digest is SpecDigest under the plan's secret keys.
func (p *planner) digest(kind sdim.Kind, canon map[string]any, ignore, secretPtrs []string) string {
	return SpecDigest(kind, canon, ignore, p.secrets, secretPtrs)
}

// prunable reports whether pruning may delete the live object: always without the ledger
// or with Policy.PruneUnownedByName, otherwise only when the ledger owns it.
func (p *planner) prunable(kind sdim.Kind, id string) bool {
	if p.own == nil || p.pol.PruneUnownedByName {
		return true
	}
	_, ok := p.own.get(kind, id)
	return ok
}

// deleteClass is the class of a delete: pending when the ledger owns the object (the
// desired state stopped declaring it), unknown otherwise; "" without the ledger.
func (p *planner) deleteClass(kind sdim.Kind, id string) DriftClass {
	if p.own == nil {
		return ""
	}
	if _, ok := p.own.get(kind, id); ok {
		return ClassPending
	}
	return ClassUnknown
}

// markRotated marks, in all, the secrets rotated lists.
func markRotated(all, rotated []SecretPush) []SecretPush {
	for i := range all {
		for _, r := range rotated {
			if r.Pointer == all[i].Pointer {
				all[i].Rotated = true
			}
		}
	}
	return all
}

// SecretPointers lists the pointers of the secret values (sdim.Secret) of a canonical
// desired object: pass them to SpecDigest of the live object, so that both digests leave
// out the same places.
func SecretPointers(canon map[string]any) []string { return secretPointers(canon) }
