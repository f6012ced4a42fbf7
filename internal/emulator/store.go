package emulator

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// object is one stored integration.
type object struct {
	id       string
	seq      uint64         // creation order: the stable default order of lists
	doc      map[string]any // writable fields, secrets included
	created  time.Time
	modified time.Time
	wire     []byte // the public JSON answer, secrets hidden; rebuilt on every write
}

func (o *object) field(name string) string {
	switch name {
	case "id":
		return o.id
	case "name", "type":
		s, _ := o.doc[name].(string)
		return s
	case "cluster":
		if ref, ok := o.doc["clusterRef"].(map[string]any); ok {
			s, _ := ref["id"].(string)
			return s
		}
		s, _ := o.doc["cluster"].(string)
		return s
	}
	return ""
}

func (o *object) name() string { return o.field("name") }

// full is the object as persisted: every field, secrets included.
func (o *object) full() map[string]any {
	m := deepCopy(o.doc).(map[string]any)
	m["id"] = o.id
	m["created"] = o.created.UTC().Format(timeLayout)
	m["modified"] = o.modified.UTC().Format(timeLayout)
	return m
}

// collection holds the objects of one kind; names are unique inside it.
type collection struct {
	kind   string // "service desk integration" or "SIM integration"
	byID   map[string]*object
	byName map[string]*object
	order  []*object // creation order
	sorted []*object // by name; nil when a write made it stale
	seq    uint64
}

func newCollection(kind string) *collection {
	return &collection{kind: kind, byID: map[string]*object{}, byName: map[string]*object{}}
}

func (c *collection) add(o *object) {
	c.seq++
	o.seq = c.seq
	c.byID[o.id] = o
	c.byName[o.name()] = o
	c.order = append(c.order, o)
	c.sorted = nil
}

func (c *collection) replace(o *object, doc map[string]any) {
	delete(c.byName, o.name())
	o.doc = doc
	c.byName[o.name()] = o
	c.sorted = nil
}

func (c *collection) remove(o *object) {
	delete(c.byID, o.id)
	delete(c.byName, o.name())
	c.order = slices.DeleteFunc(c.order, func(x *object) bool { return x == o })
	c.sorted = nil
}

// nameTaken reports whether another object than self already has name.
func (c *collection) nameTaken(name, self string) bool {
	o, ok := c.byName[name]
	return ok && o.id != self
}

func (c *collection) byNameOrder() []*object {
	if c.sorted == nil {
		c.sorted = slices.Clone(c.order)
		slices.SortStableFunc(c.sorted, func(a, b *object) int {
			return cmp.Or(cmp.Compare(a.name(), b.name()), cmp.Compare(a.seq, b.seq))
		})
	}
	return c.sorted
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// render builds the public answer for an object of the service desk API: server fields set,
// deprecated aliases filled from their successors, secrets hidden.
func renderSDIM(o *object, secrets sdim.SecretKeySet) []byte {
	m := maps.Clone(o.doc)
	m["id"] = o.id
	m["created"] = o.created.UTC().Format(timeLayout)
	m["modified"] = o.modified.UTC().Format(timeLayout)
	m["attributes"] = hideSecrets(o.doc["attributes"], secrets)
	if ref, ok := o.doc["clusterRef"].(map[string]any); ok {
		m["cluster"] = ref["id"]
	}
	if pc, ok := o.doc["provisioningConfig"].(map[string]any); ok {
		pc = maps.Clone(pc)
		pc["universalManager"] = false
		if refs, ok := pc["managedResourceRefs"].([]any); ok {
			ids := make([]any, 0, len(refs))
			for _, r := range refs {
				ids = append(ids, r.(map[string]any)["id"])
			}
			m["managedSources"] = ids
		}
		m["provisioningConfig"] = pc
	}
	return mustJSON(m)
}

func renderSIM(o *object, secrets sdim.SecretKeySet) []byte {
	m := maps.Clone(o.doc)
	m["id"] = o.id
	m["created"] = o.created.UTC().Format(timeLayout)
	m["modified"] = o.modified.UTC().Format(timeLayout)
	m["attributes"] = hideSecrets(o.doc["attributes"], secrets)
	return mustJSON(m)
}

// hideSecrets copies v without the keys the tenant never returns, at any depth.
func hideSecrets(v any, secrets sdim.SecretKeySet) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if secrets.Has(k) {
				continue
			}
			out[k] = hideSecrets(val, secrets)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = hideSecrets(val, secrets)
		}
		return out
	}
	return v
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[k] = deepCopy(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = deepCopy(val)
		}
		return out
	}
	return v
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Every stored value came from decoding JSON, so it always encodes.
		panic("emulator: encoding a stored object: " + err.Error())
	}
	return b
}

// decodeJSON decodes one JSON value, keeping numbers exact.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errTrailingData
	}
	return v, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errTrailingData = constError("unexpected data after the JSON value")
