package sdim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The canonical form puts a desired and a live object into one shape so that only real
// differences remain. It is a JSON-like tree: map[string]any, []any, string, bool,
// json.Number (in one spelling per value) and Secret (a leaf). The rules:
//
//   - server-set fields are dropped: id, created, modified, provisioningConfig.universalManager;
//   - deprecated aliases are folded into their successors (cluster into clusterRef.id,
//     managedSources into provisioningConfig.managedResourceRefs); the successor wins when
//     both are set;
//   - a reference keeps its type and id only (the tenant fills in its name), with the
//     default type filled in; a reference without an id, `""` or null is absent;
//   - null, empty strings of typed fields, empty lists and empty maps are absent, at any
//     depth (in attributes too, where only "" stays a value);
//   - unordered lists (managed sources, SIM sources) are sorted and deduplicated;
//   - numbers are compared by their exact decimal value, never through float64: 30, 30.0
//     and 3e1 are one number, and integers beyond 64 bits keep every digit;
//   - noProvisioningRequests false is absent (it is the API's default);
//   - the status-check values are decimal integers ("030" and 30 are "30").
//
// Compare then skips what the tenant never returns (secret attributes) and the ignored
// pointers, and reports each difference once, at the highest pointer where the two sides
// part.

// CanonicalServiceDesk returns o in the canonical form.
func CanonicalServiceDesk(o ServiceDeskIntegration) map[string]any {
	m := make(map[string]any, 8) // one map group holds the usual eight fields
	putString(m, "name", o.Name)
	putString(m, "description", o.Description)
	putString(m, "type", o.Type)
	putRef(m, "ownerRef", o.OwnerRef, RefIdentity)
	cluster := o.ClusterRef
	if refID(cluster) == "" && o.Cluster != "" {
		cluster = &Reference{ID: o.Cluster}
	}
	putRef(m, "clusterRef", cluster, RefCluster)
	pc := make(map[string]any, 4)
	var refs []Reference
	if o.ProvisioningConfig != nil {
		p := o.ProvisioningConfig
		refs = p.ManagedResourceRefs
		if p.PlanInitializerScript != nil && p.PlanInitializerScript.Source != "" {
			pc["planInitializerScript"] = map[string]any{"source": p.PlanInitializerScript.Source}
		}
		if p.NoProvisioningRequests != nil && *p.NoProvisioningRequests {
			pc["noProvisioningRequests"] = true
		}
		if p.ProvisioningRequestExpiration != nil {
			pc["provisioningRequestExpiration"] = json.Number(strconv.FormatInt(int64(*p.ProvisioningRequestExpiration), 10))
		}
	}
	if !hasRefID(refs) && len(o.ManagedSources) > 0 {
		refs = make([]Reference, len(o.ManagedSources))
		for i, id := range o.ManagedSources {
			refs[i] = Reference{ID: id}
		}
	}
	if set := refSet(refs, RefSource); set != nil {
		pc["managedResourceRefs"] = set
	}
	if len(pc) > 0 {
		m["provisioningConfig"] = pc
	}
	putMap(m, "attributes", o.Attributes)
	putRef(m, "beforeProvisioningRule", o.BeforeProvisioningRule, RefRule)
	return m
}

// CanonicalSIM returns o in the canonical form.
func CanonicalSIM(o SIMIntegration) map[string]any {
	m := make(map[string]any, 10)
	putString(m, "name", o.Name)
	putString(m, "description", o.Description)
	putString(m, "type", o.Type)
	putString(m, "cluster", o.Cluster)
	if len(o.Sources) > 0 {
		ids := slices.Clone(o.Sources)
		ids = slices.DeleteFunc(ids, func(s string) bool { return s == "" })
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if len(ids) > 0 {
			list := make([]any, len(ids))
			for i, id := range ids {
				list[i] = id
			}
			m["sources"] = list
		}
	}
	putMap(m, "attributes", o.Attributes)
	putMap(m, "statusMap", o.StatusMap)
	putMap(m, "request", o.Request)
	putRef(m, "beforeProvisioningRule", o.BeforeProvisioningRule, RefRule)
	return m
}

// CanonicalStatusCheck returns s in the canonical form: each value as a decimal integer
// string when it is one ("030" and "30" are "30"), trimmed text otherwise.
func CanonicalStatusCheck(s StatusCheckConfiguration) map[string]any {
	m := make(map[string]any, 2)
	putString(m, "provisioningStatusCheckIntervalMinutes", canonicalInteger(s.ProvisioningStatusCheckIntervalMinutes))
	putString(m, "provisioningMaxStatusCheckDays", canonicalInteger(s.ProvisioningMaxStatusCheckDays))
	return m
}

func canonicalInteger(s string) string {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(i, 10)
	}
	if _, _, exp, ok := parseDecimal(s); ok && exp >= 0 {
		return string(canonicalNumber(s)) // exactly: 30.0 and 3e1 are 30
	}
	return s
}

// CanonicalValue returns an open value (an attribute, a SIM request or status map entry)
// in the canonical form, or nil when it is absent: null, an empty list or an empty map
// (after its own absent entries are dropped). Numbers of any Go or JSON spelling become
// one json.Number per value. Secrets stay as they are.
func CanonicalValue(v any) any {
	switch t := v.(type) {
	case nil:
		return nil
	case string, bool, Secret, Ref, []Ref:
		return v
	case *Secret:
		if t == nil {
			return nil
		}
		return *t
	case json.Number:
		if c := canonicalNumber(string(t)); c != t {
			return c
		}
		return v
	case int:
		return json.Number(strconv.FormatInt(int64(t), 10))
	case int32:
		return json.Number(strconv.FormatInt(int64(t), 10))
	case int64:
		return json.Number(strconv.FormatInt(t, 10))
	case uint64:
		return json.Number(strconv.FormatUint(t, 10))
	case float32:
		return floatNumber(float64(t))
	case float64:
		return floatNumber(t)
	case map[string]any:
		if m := canonicalMap(t); m != nil {
			return m
		}
		return nil
	case []any:
		if len(t) == 0 {
			return nil
		}
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = CanonicalValue(e)
		}
		return out
	}
	// Not a JSON value (the loader and the client never make one): compare its text.
	return fmt.Sprint(v)
}

func canonicalMap(in map[string]any) map[string]any {
	if len(in) == 0 {
		return nil
	}
	if isCanonicalMap(in) {
		return in // shared: canonical trees are never changed
	}
	out := make(map[string]any, len(in))
	for k, e := range in {
		if c := CanonicalValue(e); c != nil {
			out[k] = c
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// isCanonicalMap reports whether CanonicalValue would return m as it is.
func isCanonicalMap(m map[string]any) bool {
	for _, e := range m {
		if !isCanonical(e) {
			return false
		}
	}
	return true
}

func isCanonical(v any) bool {
	switch t := v.(type) {
	case string, bool, Secret, Ref, []Ref:
		return true
	case json.Number:
		return canonicalNumber(string(t)) == t
	case map[string]any:
		return len(t) > 0 && isCanonicalMap(t)
	case []any:
		if len(t) == 0 {
			return false
		}
		for _, e := range t {
			if e != nil && !isCanonical(e) {
				return false
			}
		}
		return true
	}
	return false
}

// canonicalNumber spells a JSON number in the one way its exact decimal value has: 30,
// 30.0, 3e1 and 3.0E+1 are all 30; 9007199254740993.0 is 9007199254740993 (not the
// float64 9007199254740992); 123456789012345678901234567890 keeps every digit. No float64
// is involved, so two numbers are equal exactly when their values are, whatever their
// size. Integers of up to maxIntegerDigits digits are written in full, other numbers as
// digits with a decimal point (0.001) or, far from 1, in exponent form (1.5e-20). A
// spelling that is not a number, or whose exponent is beyond any real use, is kept as
// written.
func canonicalNumber(s string) json.Number {
	if plainInteger(s) {
		return json.Number(s)
	}
	neg, digits, exp, ok := parseDecimal(s)
	if !ok {
		return json.Number(s)
	}
	if digits == "" {
		return "0" // -0, 0.0 and 0e5 are 0
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	// digits (no leading or trailing zeros) times 10^exp.
	point := len(digits) + exp // where the decimal point falls, counted from the left
	switch {
	case exp >= 0 && point <= maxIntegerDigits:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", exp))
	case exp < 0 && point > 0 && point <= maxIntegerDigits:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	case exp < 0 && point <= 0 && point > -maxLeadingZeros:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(digits)
	default:
		b.WriteString(digits[:1])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		b.WriteString(strconv.Itoa(point - 1))
	}
	return json.Number(b.String())
}

const (
	// maxIntegerDigits is how many digits a number before its decimal point may have to
	// be written in full in the canonical form (beyond: exponent form).
	maxIntegerDigits = 1000
	// maxLeadingZeros is how many zeros may follow the decimal point before the first
	// digit of a number below 1 written in full (beyond: exponent form).
	maxLeadingZeros = 6
	// maxExponent bounds the exponents parseDecimal accepts: far beyond any float and any
	// real value, and small enough that no arithmetic on it overflows.
	maxExponent = 1_000_000
)

// parseDecimal reads a JSON number (also with a leading +, or a bare . at either end of
// its digits, as YAML writes them) as neg, digits and exp: the value is ±digits×10^exp,
// where digits has no leading or trailing zeros ("" for zero).
func parseDecimal(s string) (neg bool, digits string, exp int, ok bool) {
	if s == "" {
		return false, "", 0, false
	}
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	mant, e, hasExp := strings.Cut(s, "e")
	if !hasExp {
		mant, e, hasExp = strings.Cut(s, "E")
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return false, "", 0, false
	}
	if hasExp {
		d := strings.TrimLeft(e, "+-")
		if len(e)-len(d) > 1 || d == "" || !allDigits(d) {
			return false, "", 0, false
		}
		d = strings.TrimLeft(d, "0")
		if len(d) > 7 {
			return false, "", 0, false
		}
		if d != "" {
			exp, _ = strconv.Atoi(d)
		}
		if strings.HasPrefix(e, "-") {
			exp = -exp
		}
	}
	all := intPart + frac
	exp -= len(frac)
	trimmed := strings.TrimLeft(all, "0")
	stripped := strings.TrimRight(trimmed, "0")
	exp += len(trimmed) - len(stripped)
	if exp > maxExponent || exp < -maxExponent {
		return false, "", 0, false
	}
	return neg, stripped, exp, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// plainInteger reports whether s is an integer already in its canonical spelling: an
// optional minus, then digits without a leading zero, short enough for int64.
func plainInteger(s string) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "" || len(d) > 18 || d[0] == '0' && len(d) > 1 || s == "-0" {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// floatNumber is a float64's exact value in the canonical spelling (its shortest
// decimal that reads back as the same float64, as the tenant's JSON would carry it).
func floatNumber(f float64) json.Number {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)) // not JSON: compared as text
	}
	return canonicalNumber(strconv.FormatFloat(f, 'g', -1, 64))
}

func putString(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

func putMap(m map[string]any, key string, v map[string]any) {
	if c := canonicalMap(v); c != nil {
		m[key] = c
	}
}

func refID(r *Reference) string {
	if r == nil {
		return ""
	}
	return r.ID
}

func hasRefID(refs []Reference) bool {
	for _, r := range refs {
		if r.ID != "" {
			return true
		}
	}
	return false
}

// Ref is a reference in the canonical form: its type (the default filled in) and id. The
// tenant's display name is not part of it. In a canonical tree it stands where the API
// has a {type, id, name} object; pointers reach its fields as /id and /type.
type Ref struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// CanonicalRef is a reference's canonical form, or nil when it points at nothing.
func CanonicalRef(r *Reference, defaultType string) any {
	if r == nil || r.ID == "" {
		return nil
	}
	return Ref{Type: cmp.Or(r.Type, defaultType), ID: r.ID}
}

func putRef(m map[string]any, key string, r *Reference, defaultType string) {
	if c := CanonicalRef(r, defaultType); c != nil {
		m[key] = c
	}
}

// refSet is a list of references as a set: sorted by type and id, without duplicates and
// without references that point at nothing.
func refSet(refs []Reference, defaultType string) []Ref {
	if len(refs) == 0 {
		return nil
	}
	keys := make([]Ref, 0, len(refs))
	for _, r := range refs {
		if r.ID != "" {
			keys = append(keys, Ref{Type: cmp.Or(r.Type, defaultType), ID: r.ID})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if !slices.IsSortedFunc(keys, compareRefs) {
		slices.SortFunc(keys, compareRefs)
	}
	return slices.Compact(keys)
}

func compareRefs(a, b Ref) int {
	return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.ID, b.ID))
}

// FieldDiff is one difference between a desired and a live object: the RFC 6901 pointer
// of the field, its live value (Before) and its desired value (After), each nil when the
// field is absent on that side. Values are in the canonical form; a live value at a place
// where the desired side holds a secret, or under a secret key, is replaced by a masked
// Secret, so a FieldDiff can be rendered anywhere.
type FieldDiff struct {
	Pointer string `json:"pointer"`
	Before  any    `json:"before"`
	After   any    `json:"after"`
}

// CompareOptions tune Compare.
type CompareOptions struct {
	// Ignore lists JSON pointers never compared (a pointer also covers what is below it).
	Ignore []string
	// SecretKeys are the keys the tenant accepts and never returns.
	SecretKeys SecretKeySet
	// SecretMaps are the pointers of the maps (at any depth below them) in which a secret
	// key the live side lacks is not compared: the tenant hides it, so its absence says
	// nothing. Typically /attributes (and /request and /statusMap for SIM).
	SecretMaps []string
}

// Compare reports the differences between the canonical forms want (desired) and live,
// ordered by pointer. Each difference is reported once, at the highest pointer where the
// two sides part: a map that is absent on one side is one difference, not one per key;
// lists are compared whole.
func Compare(want, live map[string]any, opts CompareOptions) []FieldDiff {
	c := newComparer(opts)
	if c.equalMaps("", want, live, false) {
		return nil // the common case, without allocating
	}
	c.maps("", want, live, false)
	return c.out
}

// Equal reports whether the canonical forms want and live have no difference under opts.
func Equal(want, live map[string]any, opts CompareOptions) bool {
	c := newComparer(opts)
	return c.equalMaps("", want, live, false)
}

type comparer struct {
	opts CompareOptions
	out  []FieldDiff
	// needPtr says the equality pass must build pointers: there are ignored pointers, or
	// secret maps below the top level.
	needPtr bool
}

func newComparer(opts CompareOptions) *comparer {
	c := &comparer{opts: opts, needPtr: len(opts.Ignore) > 0}
	for _, s := range opts.SecretMaps {
		if strings.Count(s, "/") != 1 {
			c.needPtr = true
		}
	}
	return c
}

// topSecretMap reports whether the top-level key k is a secret map, without building its
// pointer.
func (c *comparer) topSecretMap(k string) bool {
	for _, s := range c.opts.SecretMaps {
		if len(s) == len(k)+1 && s[1:] == k {
			return true
		}
	}
	return false
}

// equalMaps is Compare's rules as a yes/no answer that allocates nothing unless pointers
// are needed.
func (c *comparer) equalMaps(ptr string, want, live map[string]any, inSecrets bool) bool {
	if c.needPtr {
		inSecrets = inSecrets || c.secretMap(ptr)
	}
	for k, w := range want {
		p := ""
		if c.needPtr {
			p = ptr + "/" + EscapePointerToken(k)
			if c.ignored(p) {
				continue
			}
		}
		childSecrets := inSecrets || (ptr == "" && !c.needPtr && c.topSecretMap(k))
		l, lok := live[k]
		if inSecrets && !lok && c.opts.SecretKeys.Has(k) {
			continue
		}
		if !c.equalChild(p, w, l, childSecrets) {
			return false
		}
	}
	for k := range live {
		if _, ok := want[k]; ok {
			continue
		}
		if c.needPtr && c.ignored(ptr+"/"+EscapePointerToken(k)) {
			continue
		}
		return false
	}
	return true
}

func (c *comparer) equalChild(ptr string, want, live any, inSecrets bool) bool {
	wm, wIsMap := want.(map[string]any)
	lm, lIsMap := live.(map[string]any)
	if wIsMap && (lIsMap || live == nil) || lIsMap && want == nil {
		return c.equalMaps(ptr, wm, lm, inSecrets)
	}
	return c.equalValue(want, live, inSecrets)
}

func (c *comparer) ignored(ptr string) bool {
	for _, ig := range c.opts.Ignore {
		if ptr == ig || strings.HasPrefix(ptr, ig+"/") {
			return true
		}
	}
	return false
}

// ignoreBelow reports whether an ignored pointer lies strictly below ptr.
func (c *comparer) ignoreBelow(ptr string) bool {
	for _, ig := range c.opts.Ignore {
		if strings.HasPrefix(ig, ptr+"/") {
			return true
		}
	}
	return false
}

func (c *comparer) secretMap(ptr string) bool {
	for _, s := range c.opts.SecretMaps {
		if ptr == s {
			return true
		}
	}
	return false
}

// maps compares two maps, either of which may be nil (absent).
func (c *comparer) maps(ptr string, want, live map[string]any, inSecrets bool) {
	keys := make([]string, 0, len(want)+len(live))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range live {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	inSecrets = inSecrets || c.secretMap(ptr)
	start := len(c.out)
	for _, k := range keys {
		p := ptr + "/" + EscapePointerToken(k)
		if c.ignored(p) {
			continue
		}
		w, wok := want[k]
		l, lok := live[k]
		secretKey := inSecrets && c.opts.SecretKeys.Has(k)
		if secretKey && wok && !lok {
			continue // the tenant never returns it
		}
		c.value(p, w, l, inSecrets, secretKey)
	}
	// One side absent: one difference for the whole map, unless an ignored pointer below
	// makes the keys matter one by one.
	if (want == nil || live == nil) && len(c.out) > start && !c.ignoreBelow(ptr) && ptr != "" {
		c.out = append(c.out[:start], FieldDiff{Pointer: ptr, Before: c.before(live, want, false, inSecrets), After: mapOrNil(want)})
	}
}

func mapOrNil(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func (c *comparer) value(ptr string, want, live any, inSecrets, secretKey bool) {
	if w, ok := want.(Ref); ok {
		if l, ok := live.(Ref); ok {
			if w.ID != l.ID {
				c.out = append(c.out, FieldDiff{Pointer: ptr + "/id", Before: l.ID, After: w.ID})
			}
			if w.Type != l.Type {
				c.out = append(c.out, FieldDiff{Pointer: ptr + "/type", Before: l.Type, After: w.Type})
			}
			return
		}
	}
	wm, wIsMap := want.(map[string]any)
	lm, lIsMap := live.(map[string]any)
	switch {
	case wIsMap && lIsMap, wIsMap && live == nil, lIsMap && want == nil:
		c.maps(ptr, wm, lm, inSecrets)
		return
	}
	if c.equalValue(want, live, inSecrets) {
		return
	}
	c.out = append(c.out, FieldDiff{Pointer: ptr, Before: c.before(live, want, secretKey, inSecrets), After: want})
}

// before is the live value of a difference as it may be shown.
func (c *comparer) before(live, want any, secretKey, inSecrets bool) any {
	if m, ok := live.(map[string]any); ok && m == nil {
		return nil
	}
	v := maskLike(live, want, secretKey)
	if inSecrets {
		v = MaskSecretKeys(v, c.opts.SecretKeys)
	}
	return v
}

// equalValue compares two canonical values, maps by the same rules as maps.
func (c *comparer) equalValue(want, live any, inSecrets bool) bool {
	switch w := want.(type) {
	case nil:
		return live == nil
	case Secret:
		switch l := live.(type) {
		case Secret:
			return w.Equal(l)
		case string:
			return w.Equal(NewSecret(l, ""))
		}
		return false
	case string:
		switch l := live.(type) {
		case string:
			return w == l
		case Secret:
			return l.Equal(NewSecret(w, ""))
		}
		return false
	case bool:
		l, ok := live.(bool)
		return ok && w == l
	case json.Number:
		l, ok := live.(json.Number)
		return ok && w == l
	case Ref:
		l, ok := live.(Ref)
		return ok && w == l
	case []Ref:
		l, ok := live.([]Ref)
		return ok && slices.Equal(w, l)
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return false
		}
		for i := range w {
			if !c.equalValue(w[i], l[i], inSecrets) {
				return false
			}
		}
		return true
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok && live != nil {
			return false
		}
		for k, wv := range w {
			lv, lok := l[k]
			if inSecrets && c.opts.SecretKeys.Has(k) && !lok {
				continue
			}
			if !c.equalValue(wv, lv, inSecrets) {
				return false
			}
		}
		for k := range l {
			if _, ok := w[k]; !ok {
				return false
			}
		}
		return true
	}
	return false
}

// masked stands for a value that must not be shown.
func masked() Secret { return NewSecret("", "") }

// maskLike returns the live value v for display: masked where the desired value holds a
// secret at the same place, or where v sits under a secret key.
func maskLike(v, want any, secretKey bool) any {
	if v == nil {
		return nil
	}
	if secretKey {
		return masked()
	}
	if _, ok := want.(Secret); ok {
		return masked()
	}
	switch t := v.(type) {
	case map[string]any:
		wm, _ := want.(map[string]any)
		if wm == nil && !containsSecret(want) {
			return t
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = maskLike(e, wm[k], false)
		}
		return out
	case []any:
		wl, _ := want.([]any)
		out := make([]any, len(t))
		for i, e := range t {
			var we any
			if i < len(wl) {
				we = wl[i]
			}
			out[i] = maskLike(e, we, false)
		}
		return out
	}
	return v
}

func containsSecret(v any) bool {
	switch t := v.(type) {
	case Secret:
		return true
	case map[string]any:
		for _, e := range t {
			if containsSecret(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if containsSecret(e) {
				return true
			}
		}
	}
	return false
}

// MaskSecretKeys returns v with every value under a key of keys (at any depth) masked.
// Renderings of live values use it so that a tenant that does return a secret never has
// it printed.
func MaskSecretKeys(v any, keys SecretKeySet) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if keys.Has(k) {
				out[k] = masked()
				continue
			}
			out[k] = MaskSecretKeys(e, keys)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = MaskSecretKeys(e, keys)
		}
		return out
	}
	return v
}

// EscapePointerToken escapes one reference token of an RFC 6901 JSON pointer: ~ as ~0
// and / as ~1.
func EscapePointerToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// SplitPointer splits an RFC 6901 JSON pointer into its unescaped reference tokens. It
// fails on a pointer that does not start with "/" (the empty pointer has no tokens).
func SplitPointer(ptr string) ([]string, error) {
	if ptr == "" {
		return nil, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", ptr)
	}
	toks := strings.Split(ptr[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// Lookup returns the value at ptr in a canonical tree.
func Lookup(tree any, ptr string) (any, bool) {
	toks, err := SplitPointer(ptr)
	if err != nil {
		return nil, false
	}
	cur := tree
	for _, tok := range toks {
		switch t := cur.(type) {
		case map[string]any:
			v, ok := t[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		case []Ref:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		case Ref:
			switch tok {
			case "id":
				cur = t.ID
			case "type":
				cur = t.Type
			default:
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return cur, true
}
