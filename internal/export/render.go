package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// kv is one key and value of a mapping written in a fixed order.
type kv struct {
	k string
	v any
}

// omap is a mapping written in its own order (map[string]any is written sorted by key).
type omap []kv

// add appends k unless v is nil.
func (m omap) add(k string, v any) omap {
	if v == nil {
		return m
	}
	switch t := v.(type) {
	case omap:
		if t == nil {
			return m
		}
	case map[string]any:
		if t == nil {
			return m
		}
	}
	return append(m, kv{k, v})
}

// renderer turns live objects into desired-state documents that load back as the same
// objects: server-set fields and server-filled reference names dropped, references
// without an id left out (the tenant treats them as unset, the loader refuses them),
// deprecated aliases written as their successors, numbers written with the tenant's
// own digits, text written so that YAML and the loader read it back unchanged, values
// under secret or secret-looking keys, credential-looking values and values holding a
// secret of the desired state left out (see secretFilter).
type renderer struct {
	secretKeys sdim.SecretKeySet
	filter     *secretFilter
	buf        bytes.Buffer
}

// secretNote is what the comment above a document says about secrets.
type secretNote struct {
	left     []leftOut // secret values the tenant returned and the export left out
	keyed    []string  // maps from which an entry whose key holds a secret was left out
	hidden   []string  // secret keys the type's template declares that the tenant did not return
	typeName string    // the integration type, for the comment
	unknown  bool      // no template is known for the type: say it in general terms
}

// serviceDesk renders one service desk integration.
func (r *renderer) serviceDesk(o sdim.ServiceDeskIntegration, templateKeys []string, templateKnown bool) ([]byte, error) {
	ov := &openValues{f: r.filter}
	spec := serviceDeskSpec(o, ov)
	note := secretNote{left: ov.left, keyed: ov.keyed, typeName: o.Type, unknown: !templateKnown}
	for _, k := range templateKeys {
		if !hasKeyFold(o.Attributes, k) {
			note.hidden = append(note.hidden, k)
		}
	}
	return r.render(sdim.KindServiceDesk, o.Name, spec, note)
}

// sim renders one SIM integration. SIM types have no templates: the comment about hidden
// secrets is general.
func (r *renderer) sim(o sdim.SIMIntegration) ([]byte, error) {
	ov := &openValues{f: r.filter}
	spec := simSpec(o, ov)
	return r.render(sdim.KindSIM, o.Name, spec, secretNote{left: ov.left, keyed: ov.keyed, unknown: true})
}

// statusCheck renders the status-check configuration.
func (r *renderer) statusCheck(s sdim.StatusCheckConfiguration) ([]byte, error) {
	return r.render(sdim.KindStatusCheck, "", statusCheckSpec(s), secretNote{})
}

// render writes one document. The node tree is built here rather than by yaml.Node's
// Encode, which would parse its own output back and fail on text YAML cannot carry in
// the style the encoder picks.
func (r *renderer) render(kind sdim.Kind, name string, spec omap, note secretNote) ([]byte, error) {
	doc := omap{{"kind", string(kind)}}
	if name != "" || kind != sdim.KindStatusCheck {
		doc = append(doc, kv{"name", name})
	}
	doc = append(doc, kv{"spec", spec})
	// What was left out is ignored, so that a plan of the export neither shows nor changes
	// it (a put keeps the tenant's value) until the file declares it.
	if len(note.left) > 0 {
		ignore := make([]string, len(note.left))
		for i, l := range note.left {
			ignore[i] = l.ptr
		}
		slices.Sort(ignore)
		doc = append(doc, kv{"options", omap{{"ignore", slices.Compact(ignore)}}})
	}
	n := toNode(doc, false)
	n.HeadComment = r.comment(name, note)
	r.buf.Reset()
	enc := yaml.NewEncoder(&r.buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(r.buf.Bytes()), nil
}

// toNode builds the YAML node of a value: omap, map[string]any (sorted keys), []any,
// []string, string, bool, nil, integers, json.Number, float64 or a ready *yaml.Node.
func toNode(v any, key bool) *yaml.Node {
	switch t := v.(type) {
	case *yaml.Node:
		return t
	case omap:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, e := range t {
			n.Content = append(n.Content, toNode(e.k, true), toNode(e.v, false))
		}
		return n
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if len(keys) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, k := range keys {
			n.Content = append(n.Content, toNode(k, true), toNode(t[k], false))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if len(t) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, e := range t {
			n.Content = append(n.Content, toNode(e, false))
		}
		return n
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range t {
			n.Content = append(n.Content, toNode(e, false))
		}
		return n
	case string:
		return textNode(t, key)
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(t, 10)}
	case int32:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(int64(t), 10)}
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(t)}
	case json.Number:
		return number(t)
	case float64:
		return number(json.Number(strconv.FormatFloat(t, 'g', -1, 64)))
	}
	return textNode(fmt.Sprint(v), key)
}

// comment is the head comment of a document: the secret values left out, and the secret
// keys the tenant hides, with how to add them.
func (r *renderer) comment(name string, note secretNote) string {
	var lines []string
	var open, typed []leftOut
	for _, l := range note.left {
		if l.typed {
			typed = append(typed, l)
		} else {
			open = append(open, l)
		}
	}
	if len(open) > 0 {
		slices.SortFunc(open, func(a, b leftOut) int { return strings.Compare(a.ptr, b.ptr) })
		at := make([]string, len(open))
		for i, l := range open {
			at[i] = l.ptr
			if l.why != leftKey {
				at[i] += " (" + l.why + ")"
			}
		}
		lines = append(lines, "The tenant returned secret values at "+strings.Join(at, ", ")+"; they are not exported.",
			"options.ignore keeps a plan from comparing or changing them. To manage one, declare it as a",
			"${env:NAME} or ${file:PATH} reference and remove its pointer from options.ignore:")
		for _, l := range open {
			if strings.Count(l.ptr, "/") == 2 {
				lines = append(lines, fmt.Sprintf("  %s: %s${env:%s}", l.key, l.scheme, EnvName(name, l.key)))
			} else {
				lines = append(lines, fmt.Sprintf("  at %s: %s${env:%s}", l.ptr, l.scheme, EnvName(name, l.key)))
			}
		}
	}
	for _, l := range typed {
		lines = append(lines, fmt.Sprintf("The tenant's %s %s; it is not exported.", l.ptr, l.why),
			"options.ignore keeps it as the tenant has it. This field cannot hold a reference:",
			"take the secret out of it in the tenant.")
	}
	if len(note.keyed) > 0 {
		slices.Sort(note.keyed)
		lines = append(lines, "Entries of "+strings.Join(slices.Compact(note.keyed), ", ")+" whose key holds a secret value of the desired state are not exported.")
	}
	switch {
	case len(note.hidden) > 0:
		slices.Sort(note.hidden)
		lines = append(lines,
			fmt.Sprintf("Secrets the tenant never returns (the %s template declares them): %s.", note.typeName, strings.Join(note.hidden, ", ")),
			"Add each under spec.attributes before applying, or a PUT will clear it:")
		for _, k := range note.hidden {
			lines = append(lines, fmt.Sprintf("  %s: ${env:%s}", k, EnvName(name, k)))
		}
		k := note.hidden[0]
		lines = append(lines, fmt.Sprintf("or from a file: %s: ${file:/run/secrets/%s} (a file outside this directory needs --allow-secret-files-outside)",
			k, fileStem(name, k)))
	case note.unknown && len(note.left) == 0:
		k := sdim.DefaultSecretAttributeKeys()[0]
		lines = append(lines,
			"The tenant never returns secret attributes ("+strings.Join(sdim.DefaultSecretAttributeKeys(), ", ")+"), and no template",
			"of this type says which it has. Add any it has under spec.attributes before applying, or a PUT will clear it:",
			fmt.Sprintf("  %s: ${env:%s} (or ${file:PATH})", k, EnvName(name, k)))
	}
	return strings.Join(lines, "\n")
}

// EnvName is the environment variable the export suggests for the secret attribute key
// of the object named name: SERVICENOW_PRODUCTION_PASSWORD for "ServiceNow Production"
// and "password", CLIENT_SECRET for "clientSecret".
func EnvName(name, key string) string {
	s := upperSnake(name, false) + "_" + upperSnake(key, true)
	s = strings.Trim(s, "_")
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "SDIM_" + s
	}
	return s
}

// upperSnake folds text into A-Z, 0-9 and single underscores, splitting camelCase when
// camel is set.
func upperSnake(s string, camel bool) string {
	var b strings.Builder
	under := false
	var prev rune
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(unicode.ToUpper(c))
		case c >= 'A' && c <= 'Z':
			if (under || camel && prev >= 'a' && prev <= 'z') && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(c)
		default:
			under = true
		}
		prev = c
	}
	return b.String()
}

func fileStem(name, key string) string {
	stem := strings.ToLower(strings.ReplaceAll(EnvName(name, key), "_", "-"))
	return strings.TrimPrefix(stem, "sdim-")
}

func hasKeyFold(m map[string]any, key string) bool {
	for k := range m {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// textNode is a string as YAML text that loads back as exactly the tenant's text: "${"
// becomes "$${" (or the loader would read a secret reference, and resolve it from
// sdim-sync's own environment), "<<" is quoted (or YAML would read a merge key), and
// text the encoder's own choice of style would not carry exactly (only newlines, tabs at
// the start of a line, other control characters) is double-quoted, where every
// character is escaped. Other text is quoted by the encoder when YAML would read it as
// something else (yes, null, 007, 1e3).
func textNode(s string, key bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.ReplaceAll(s, "${", "$${")}
	switch {
	case s == "<<":
		n.Style = yaml.DoubleQuotedStyle
	case needsQuotes(s), needsCheck(s) && (key || !roundTrips(n)):
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// needsCheck reports whether s holds characters whose encoding is worth checking: line
// breaks, tabs and other control or invisible characters.
func needsCheck(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c >= 0x80 && c <= 0x9f || c == 0x2028 || c == 0x2029 || c == 0xfeff {
			return true
		}
	}
	return false
}

// needsQuotes reports whether s holds characters that are best shown escaped: control
// characters other than line breaks and tabs, and invisible or line-breaking ones.
func needsQuotes(s string) bool {
	for _, c := range s {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f || c >= 0x80 && c <= 0x9f || c == 0x2028 || c == 0x2029 || c == 0xfeff {
			return true
		}
	}
	return false
}

// roundTrips reports whether the string scalar n, encoded in the style the encoder
// chooses, decodes to the same text.
func roundTrips(n *yaml.Node) bool {
	out, err := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "k"}, n}})
	if err != nil {
		return false
	}
	var back struct {
		K *string `yaml:"k"`
	}
	if err := yaml.Unmarshal(out, &back); err != nil || back.K == nil {
		return false
	}
	return *back.K == n.Value
}

// serviceDeskSpec is a service desk integration's spec: the writable fields but its
// name, which is the document's, in the order of the desired-state documentation.
func serviceDeskSpec(o sdim.ServiceDeskIntegration, ov *openValues) omap {
	attrs := ov.mapAt(o.Attributes, "/attributes")
	desc := ov.typed(o.Description, "/description", false)
	if attrs == nil {
		attrs = map[string]any{}
	}
	// The deprecated aliases count only where their successors are unset, as in the
	// canonical form the planner compares.
	clusterRef := bareRef(o.ClusterRef)
	if clusterRef == nil && o.Cluster != "" {
		clusterRef = &sdim.Reference{ID: o.Cluster}
	}
	var refs []any
	var pc omap
	if p := o.ProvisioningConfig; p != nil {
		for _, r := range p.ManagedResourceRefs {
			if b := refMap(&r); b != nil {
				refs = append(refs, b)
			}
		}
		if p.PlanInitializerScript != nil {
			if src := p.PlanInitializerScript.Source; ov.typed(src, "/provisioningConfig/planInitializerScript", true) == src {
				pc = pc.add("planInitializerScript", omap{{"source", src}})
			}
		}
		if p.NoProvisioningRequests != nil {
			pc = pc.add("noProvisioningRequests", *p.NoProvisioningRequests)
		}
		if p.ProvisioningRequestExpiration != nil {
			pc = pc.add("provisioningRequestExpiration", *p.ProvisioningRequestExpiration)
		}
	}
	if len(refs) == 0 {
		for _, id := range o.ManagedSources {
			if id != "" {
				refs = append(refs, omap{{"id", id}})
			}
		}
	}
	if len(refs) > 0 {
		pc = append(omap{{"managedResourceRefs", refs}}, pc...)
	}
	spec := omap{{"description", desc}, {"type", o.Type}}
	spec = spec.add("ownerRef", refMap(o.OwnerRef))
	spec = spec.add("clusterRef", refMap(clusterRef))
	spec = spec.add("provisioningConfig", pc)
	spec = spec.add("attributes", attrs)
	spec = spec.add("beforeProvisioningRule", refMap(o.BeforeProvisioningRule))
	return spec
}

func simSpec(o sdim.SIMIntegration, ov *openValues) omap {
	var sources []string
	for _, s := range o.Sources {
		if s != "" {
			sources = append(sources, s)
		}
	}
	var spec omap
	if desc := ov.typed(o.Description, "/description", false); desc != "" {
		spec = spec.add("description", desc)
	}
	spec = spec.add("type", o.Type)
	if o.Cluster != "" {
		spec = spec.add("cluster", o.Cluster)
	}
	if len(sources) > 0 {
		spec = spec.add("sources", sources)
	}
	spec = spec.add("statusMap", ov.mapAt(o.StatusMap, "/statusMap"))
	spec = spec.add("request", ov.mapAt(o.Request, "/request"))
	spec = spec.add("attributes", ov.mapAt(o.Attributes, "/attributes"))
	spec = spec.add("beforeProvisioningRule", refMap(o.BeforeProvisioningRule))
	return spec
}

// statusCheckSpec writes the two values as YAML integers when they are integers.
func statusCheckSpec(s sdim.StatusCheckConfiguration) omap {
	num := func(v string) any {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
		return v
	}
	return omap{
		{"provisioningStatusCheckIntervalMinutes", num(s.ProvisioningStatusCheckIntervalMinutes)},
		{"provisioningMaxStatusCheckDays", num(s.ProvisioningMaxStatusCheckDays)},
	}
}

// refMap is a reference as written: its type and id, or nil (see bareRef).
func refMap(r *sdim.Reference) any {
	b := bareRef(r)
	if b == nil {
		return nil
	}
	m := omap{}
	if b.Type != "" {
		m = append(m, kv{"type", b.Type})
	}
	return append(m, kv{"id", b.ID})
}

// bareRef keeps a reference's type and id; the name is the tenant's to fill in. A
// reference without an id points at nothing: the tenant and the planner treat it as
// unset, and the loader refuses it, so it is left out.
func bareRef(r *sdim.Reference) *sdim.Reference {
	if r == nil || r.ID == "" {
		return nil
	}
	return &sdim.Reference{Type: r.Type, ID: r.ID}
}

// openValues turns the tenant's open maps (attributes, statusMap, request) into what the
// export writes: numbers with the tenant's own digits, and secrets left out (a tenant
// that returns one must not have it end up in a file; see secretFilter), where they were
// kept for the comment and options.ignore. A list is written whole or not at all: the
// entry holding a list with a secret in it is left out.
type openValues struct {
	f     *secretFilter
	left  []leftOut
	keyed []string // maps an entry was left out of because its key holds a secret
}

func (ov *openValues) mapAt(m map[string]any, at string) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if _, bad := ov.f.textWhy(k, false); bad {
			// The key itself is never named: the pointer would hold the secret.
			ov.keyed = append(ov.keyed, at)
			continue
		}
		p := at + "/" + sdim.EscapePointerToken(k)
		if ov.f.secretKey(k) {
			ov.left = append(ov.left, leftOut{ptr: p, key: k, why: leftKey, scheme: scheme(v)})
			continue
		}
		w, why, bad := ov.value(v, p)
		if bad {
			ov.left = append(ov.left, leftOut{ptr: p, key: k, why: why, scheme: scheme(v)})
			continue
		}
		out[k] = w
	}
	return out
}

// value is v as written, or why it is left out (bad): a text or number that is a secret,
// or a list holding one. Maps are filtered entry by entry.
func (ov *openValues) value(v any, at string) (any, string, bool) {
	switch t := v.(type) {
	case map[string]any:
		return ov.mapAt(t, at), "", false
	case []any:
		// A pointer through a list ignores nothing: a list is written whole or not at all.
		for _, e := range t {
			if why, bad := ov.check(e); bad {
				return nil, why, true
			}
		}
		return t, "", false
	case string:
		if why, bad := ov.f.textWhy(t, true); bad {
			return nil, why, true
		}
	case json.Number:
		if why, bad := ov.f.textWhy(t.String(), false); bad {
			return nil, why, true
		}
	}
	return v, "", false
}

// check reports why v, inside a list, is not written: it is or holds a secret.
func (ov *openValues) check(v any) (string, bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if why, bad := ov.f.textWhy(k, false); bad {
				return why, true
			}
			if ov.f.secretKey(k) {
				return leftInList, true
			}
			if why, bad := ov.check(e); bad {
				return why, true
			}
		}
	case []any:
		for _, e := range t {
			if why, bad := ov.check(e); bad {
				return why, true
			}
		}
	case string:
		return ov.f.textWhy(t, true)
	case json.Number:
		return ov.f.textWhy(t.String(), false)
	}
	return "", false
}

// typed is the text of a typed field as written: "" when it holds a secret of the desired
// state (or, with form, looks like a credential), which is then recorded as left out.
func (ov *openValues) typed(s, at string, form bool) string {
	why, bad := ov.f.textWhy(s, form)
	if !bad {
		return s
	}
	ov.left = append(ov.left, leftOut{ptr: at, why: why, typed: true})
	return ""
}

// number writes a JSON number with its own digits: an integer as a YAML integer (one
// beyond 64 bits with an explicit !!int tag, which YAML would otherwise read as a
// float), anything else as a YAML float.
func number(n json.Number) *yaml.Node {
	s := n.String()
	if _, err := n.Int64(); err == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: s}
	}
	if isInteger(s) {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: s}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}
}

func isInteger(s string) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}
