package desired

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// The keys of each part of a document. The JSON Schema (schema.json) lists the same
// keys; a test holds the two together.

func documentKeys() []string { return []string{"kind", "name", "spec", "options"} }

func serviceDeskKeys() []string {
	return []string{"description", "type", "ownerRef", "clusterRef", "cluster", "managedSources",
		"provisioningConfig", "attributes", "beforeProvisioningRule"}
}

func provisioningConfigKeys() []string {
	return []string{"managedResourceRefs", "planInitializerScript", "noProvisioningRequests", "provisioningRequestExpiration"}
}

func referenceKeys() []string { return []string{"type", "id", "name"} }

func scriptKeys() []string { return []string{"source"} }

// dtoTypes are the reference types of the SIM definitions' DtoType, which a SIM
// integration's beforeProvisioningRule may carry (v2024, v2025 and v1 all allow any).
func dtoTypes() []string {
	return []string{"ACCOUNT_CORRELATION_CONFIG", "ACCESS_PROFILE", "ACCESS_REQUEST_APPROVAL", "ACCOUNT",
		"APPLICATION", "CAMPAIGN", "CAMPAIGN_FILTER", "CERTIFICATION", "CLUSTER", "CONNECTOR_SCHEMA",
		"ENTITLEMENT", "GOVERNANCE_GROUP", "IDENTITY", "IDENTITY_PROFILE", "IDENTITY_REQUEST",
		"MACHINE_IDENTITY", "LIFECYCLE_STATE", "PASSWORD_POLICY", "ROLE", "RULE", "SOD_POLICY", "SOURCE",
		"TAG", "TAG_CATEGORY", "TASK_RESULT", "REPORT_RESULT", "SOD_VIOLATION", "ACCOUNT_ACTIVITY", "WORKGROUP"}
}

func simKeys() []string {
	return []string{"description", "type", "attributes", "sources", "cluster", "statusMap", "request", "beforeProvisioningRule"}
}

func statusCheckKeys() []string {
	return []string{"provisioningStatusCheckIntervalMinutes", "provisioningMaxStatusCheckDays"}
}

func optionKeys() []string { return []string{"previousNames", "ignore", "mode"} }

func kindNames() []string {
	return []string{string(sdim.KindServiceDesk), string(sdim.KindStatusCheck), string(sdim.KindSIM)}
}

// specRefusal explains the keys a spec must not hold.
func specRefusal(key string) string {
	switch key {
	case "id", "created", "modified", "universalManager":
		return "is set by the tenant: remove it"
	case "name":
		return "belongs at the top level of the document, beside kind: move it there"
	}
	return ""
}

// document decodes one YAML document into a resource of the file's result.
func (d *fileDecoder) document(doc *yaml.Node) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	d.documentRoot(doc.Content[0])
}

// documentRoot decodes the root node of a document (envelope hands it the root without
// the keys it takes out).
func (d *fileDecoder) documentRoot(root *yaml.Node) {
	n := d.deref(root)
	if isNull(n) {
		return // an empty document, such as a file of comments
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "a document must be a mapping with kind, name and spec, not %s", describe(n))
		return
	}
	pairs, ok := d.mapping(n, pathOf("document"))
	if !ok {
		return
	}
	defer d.free(pairs)
	if !looksLikeDocument(pairs) {
		// Not an attempt at a desired-state document (a config file of another tool, or a
		// link to a system file): one problem, and none of its keys or values quoted, since
		// the file may hold anything.
		d.errorf(n, "not a desired-state document: it has no kind, and none of its %s is a key of one (%s); its content is not shown. If the file is not meant for sdim-sync, give it another extension or move it out of the directory",
			plural(len(pairs), "key", "keys"), strings.Join(documentKeys(), ", "))
		return
	}
	var kindN, nameN, specN, optsN *yaml.Node
	d.fields(pairs, pathOf(""), documentKeys(), nil, func(p pair) {
		switch p.key {
		case "kind":
			kindN = p.v
		case "name":
			nameN = p.v
		case "spec":
			specN = p.v
		case "options":
			optsN = p.v
		}
	})
	if kindN == nil {
		d.errorf(n, "kind is required: one of %s", strings.Join(kindNames(), ", "))
		return
	}
	kindText, ok := d.str(kindN, pathOf("kind"))
	if !ok {
		return
	}
	kind := sdim.Kind(kindText)
	if !slices.Contains(sdim.Kinds(), kind) {
		if s := suggest(kindText, kindNames()); s != "" {
			d.errorf(kindN, "kind: unknown kind %q; did you mean %q?", kindText, s)
		} else {
			d.errorf(kindN, "kind: unknown kind %q; want one of %s", kindText, strings.Join(kindNames(), ", "))
		}
		return
	}
	name := ""
	switch {
	case nameN != nil:
		name, _ = d.nonEmpty(nameN, pathOf("name"))
		if name != "" && strings.TrimSpace(name) != name {
			d.errorf(nameN, "name: %q starts or ends with spaces: remove them", name)
		}
	case kind != sdim.KindStatusCheck:
		d.errorf(n, "name is required: it identifies the %s in the tenant", kind)
	}
	res := Resource{Kind: kind, Name: name, Source: d.source(n)}
	if optsN != nil {
		res.Options = d.options(optsN, kind, name)
	}
	if specN == nil {
		d.errorf(n, "spec is required: the %s's fields, as the API names them", kind)
		return
	}
	switch kind {
	case sdim.KindServiceDesk:
		spec := d.serviceDeskSpec(specN)
		spec.Name = name
		d.res.serviceDesk = append(d.res.serviceDesk, &ServiceDeskResource{Resource: res, Spec: spec})
	case sdim.KindSIM:
		spec := d.simSpec(specN)
		spec.Name = name
		d.res.sim = append(d.res.sim, &SIMResource{Resource: res, Spec: spec})
	case sdim.KindStatusCheck:
		spec := d.statusCheckSpec(specN)
		d.res.statusChecks = append(d.res.statusChecks, StatusCheckResource{Resource: res, Spec: spec})
	}
}

// looksLikeDocument reports whether a mapping is meant as a desired-state document: it
// has a kind, or one of its keys is a document key or a likely typo of one.
func looksLikeDocument(pairs []pair) bool {
	// The two lists are searched one after the other, not appended into a new one for
	// every document: a key is as close to their union as to the closer of the two.
	doc, env := documentKeys(), envelopeKeys()
	for _, p := range pairs {
		if slices.Contains(doc, p.key) || slices.Contains(env, p.key) ||
			suggest(p.key, doc) != "" || suggest(p.key, env) != "" {
			return true
		}
	}
	return false
}

func (d *fileDecoder) serviceDeskSpec(n *yaml.Node) sdim.ServiceDeskIntegration {
	var s sdim.ServiceDeskIntegration
	spec := pathOf("spec")
	pairs, ok := d.mapping(n, spec)
	if !ok {
		return s
	}
	defer d.free(pairs)
	var clusterN, sourcesN *yaml.Node
	seen := d.fields(pairs, spec, serviceDeskKeys(), specRefusal, func(p pair) {
		at := spec.key(p.key)
		switch p.key {
		case "description":
			s.Description, _ = d.str(p.v, at)
		case "type":
			s.Type, _ = d.nonEmpty(p.v, at)
		case "ownerRef":
			s.OwnerRef = d.ref(p.v, at, sdim.RefIdentity)
		case "clusterRef":
			s.ClusterRef = d.ref(p.v, at, sdim.RefCluster)
		case "cluster":
			clusterN = p.v
			if !isNull(p.v) {
				s.Cluster, _ = d.str(p.v, at)
			}
		case "managedSources":
			sourcesN = p.v
			if !isNull(p.v) {
				s.ManagedSources, _ = d.stringList(p.v, at)
			}
		case "provisioningConfig":
			s.ProvisioningConfig = d.provisioningConfig(p.v, at)
		case "attributes":
			s.Attributes = d.attributes(p.v, at)
		case "beforeProvisioningRule":
			s.BeforeProvisioningRule = d.ref(p.v, at, sdim.RefRule)
		}
	})
	d.requireKeys(n, spec, seen, "type", "attributes")
	// The deprecated aliases may stay, but must agree with their successors.
	if s.Cluster != "" && s.ClusterRef != nil && s.ClusterRef.ID != s.Cluster {
		d.errorf(clusterN, "spec.cluster (deprecated) is %q but spec.clusterRef.id is %q: remove cluster", s.Cluster, s.ClusterRef.ID)
	}
	if len(s.ManagedSources) > 0 && s.ProvisioningConfig != nil && len(s.ProvisioningConfig.ManagedResourceRefs) > 0 {
		ids := make([]string, 0, len(s.ProvisioningConfig.ManagedResourceRefs))
		for _, r := range s.ProvisioningConfig.ManagedResourceRefs {
			ids = append(ids, r.ID)
		}
		if !sameSet(ids, s.ManagedSources) {
			d.errorf(sourcesN, "spec.managedSources (deprecated) lists other sources than spec.provisioningConfig.managedResourceRefs: remove managedSources")
		}
	}
	return s
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// attributes decodes a required open map in which secret references may appear.
func (d *fileDecoder) attributes(n *yaml.Node, at path) map[string]any {
	if isNull(n) {
		p := at.String()
		d.errorf(n, "%s: want a mapping, got nothing (null); write %s: {} for none", p, p[strings.LastIndexByte(p, '.')+1:])
		return nil
	}
	m, _ := d.object(n, at, 0, true)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// openMap decodes an optional open map (null is absent).
func (d *fileDecoder) openMap(n *yaml.Node, at path) map[string]any {
	if isNull(n) {
		return nil
	}
	m, _ := d.object(n, at, 0, true)
	return m
}

// ref decodes a reference whose type, if written, must be want (or one of also). Null
// and "" mean no reference, as in SailPoint's own examples.
func (d *fileDecoder) ref(n *yaml.Node, ref path, want string, also ...string) *sdim.Reference {
	r, ok := d.refValue(n, ref, want, also...)
	if !ok {
		return nil
	}
	return &r
}

// refValue is ref for a list of references, which holds them as values: it reports
// false where ref returns nil.
func (d *fileDecoder) refValue(n *yaml.Node, ref path, want string, also ...string) (sdim.Reference, bool) {
	if isNull(n) || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Value == "" {
		return sdim.Reference{}, false
	}
	pairs, ok := d.mapping(n, ref)
	if !ok {
		return sdim.Reference{}, false
	}
	defer d.free(pairs)
	var r sdim.Reference
	seen := d.fields(pairs, ref, referenceKeys(), nil, func(p pair) {
		at := ref.key(p.key)
		switch p.key {
		case "type":
			t, ok := d.str(p.v, at)
			if !ok {
				return
			}
			if t != want && !slices.Contains(also, t) {
				hint := "want " + want + " (or leave type out)"
				if len(also) > 0 {
					hint = "want " + want + " (or leave type out) or another type of the API's DtoType, in capitals"
				}
				if strings.EqualFold(t, want) {
					hint = fmt.Sprintf("did you mean %q?", want)
				}
				d.errorf(p.v, "%s: %q is not a valid type here: %s", at.String(), t, hint)
				return
			}
			r.Type = t
		case "id":
			r.ID, _ = d.nonEmpty(p.v, at)
		case "name":
			r.Name, _ = d.str(p.v, at)
		}
	})
	if !seen.has("id") {
		d.errorf(n, "%s: id is required: the id of the %s", ref.String(), strings.ToLower(want))
	}
	return r, true
}

func (d *fileDecoder) provisioningConfig(n *yaml.Node, config path) *sdim.ProvisioningConfig {
	if isNull(n) {
		return nil
	}
	pairs, ok := d.mapping(n, config)
	if !ok {
		return nil
	}
	defer d.free(pairs)
	var pc sdim.ProvisioningConfig
	d.fields(pairs, config, provisioningConfigKeys(), specRefusal, func(p pair) {
		at := config.key(p.key)
		switch p.key {
		case "managedResourceRefs":
			if isNull(p.v) {
				return
			}
			items, ok := d.sequence(p.v, at)
			if !ok {
				return
			}
			pc.ManagedResourceRefs = make([]sdim.Reference, 0, len(items))
			for i, it := range items {
				ip := at.item(i)
				if r, ok := d.refValue(it, ip, sdim.RefSource); ok {
					pc.ManagedResourceRefs = append(pc.ManagedResourceRefs, r)
				} else if !d.stopped {
					d.errorf(it, "%s: want a source reference such as {type: SOURCE, id: ...}, got %s", ip.String(), describe(it))
				}
			}
		case "planInitializerScript":
			pc.PlanInitializerScript = d.script(p.v, at)
		case "noProvisioningRequests":
			if b, ok := d.boolean(p.v, at); ok {
				pc.NoProvisioningRequests = &b
			}
		case "provisioningRequestExpiration":
			if i, ok := d.int32Field(p.v, at, 0); ok {
				pc.ProvisioningRequestExpiration = &i
			}
		}
	})
	return &pc
}

func (d *fileDecoder) script(n *yaml.Node, script path) *sdim.Script {
	if isNull(n) {
		return nil
	}
	pairs, ok := d.mapping(n, script)
	if !ok {
		return nil
	}
	defer d.free(pairs)
	var sc sdim.Script
	seen := d.fields(pairs, script, scriptKeys(), nil, func(p pair) {
		sc.Source, _ = d.str(p.v, script.key(p.key))
	})
	d.requireKeys(n, script, seen, "source")
	return &sc
}

func (d *fileDecoder) simSpec(n *yaml.Node) sdim.SIMIntegration {
	var s sdim.SIMIntegration
	spec := pathOf("spec")
	pairs, ok := d.mapping(n, spec)
	if !ok {
		return s
	}
	defer d.free(pairs)
	seen := d.fields(pairs, spec, simKeys(), specRefusal, func(p pair) {
		at := spec.key(p.key)
		switch p.key {
		case "description":
			s.Description, _ = d.str(p.v, at)
		case "type":
			s.Type, _ = d.nonEmpty(p.v, at)
		case "attributes":
			s.Attributes = d.openMap(p.v, at)
		case "sources":
			if !isNull(p.v) {
				s.Sources, _ = d.stringList(p.v, at)
			}
		case "cluster":
			if !isNull(p.v) {
				s.Cluster, _ = d.str(p.v, at)
			}
		case "statusMap":
			s.StatusMap = d.openMap(p.v, at)
		case "request":
			s.Request = d.openMap(p.v, at)
		case "beforeProvisioningRule":
			s.BeforeProvisioningRule = d.ref(p.v, at, sdim.RefRule, dtoTypes()...)
		}
	})
	d.requireKeys(n, spec, seen, "type")
	return s
}

func (d *fileDecoder) statusCheckSpec(n *yaml.Node) sdim.StatusCheckConfiguration {
	var s sdim.StatusCheckConfiguration
	spec := pathOf("spec")
	pairs, ok := d.mapping(n, spec)
	if !ok {
		return s
	}
	defer d.free(pairs)
	seen := d.fields(pairs, spec, statusCheckKeys(), specRefusal, func(p pair) {
		v := d.positiveInt(p.v, spec.key(p.key))
		switch p.key {
		case "provisioningStatusCheckIntervalMinutes":
			s.ProvisioningStatusCheckIntervalMinutes = v
		case "provisioningMaxStatusCheckDays":
			s.ProvisioningMaxStatusCheckDays = v
		}
	})
	d.requireKeys(n, spec, seen, statusCheckKeys()...)
	return s
}

// positiveInt accepts a YAML integer or a string of digits above zero and returns it in
// decimal, as the API carries it.
func (d *fileDecoder) positiveInt(n *yaml.Node, at path) string {
	bad := func() string {
		d.errorf(n, "%s: want a positive whole number such as 30 (or \"30\"), got %s", at.String(), describeValue(n))
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		if d.stopped {
			return ""
		}
		return bad()
	}
	var text string
	switch n.ShortTag() {
	case "!!int", "!!float":
		v, msg := number(n)
		if msg != "" && leadingZero(n.Value) {
			d.errorf(n, "%s: %s", at.String(), msg)
			return ""
		}
		i, ok := v.(int64)
		if !ok || msg != "" {
			return bad()
		}
		text = strconv.FormatInt(i, 10)
	case "!!str":
		text = n.Value
		for _, c := range text {
			if c < '0' || c > '9' {
				return bad()
			}
		}
	default:
		return bad()
	}
	i, err := strconv.ParseInt(text, 10, 32)
	if err != nil || i <= 0 {
		return bad()
	}
	return strconv.FormatInt(i, 10)
}

// describeValue is describe with the text of a string shown.
func describeValue(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		return strconv.Quote(n.Value)
	}
	return describe(n)
}

func (d *fileDecoder) options(n *yaml.Node, kind sdim.Kind, name string) Options {
	var o Options
	if isNull(n) {
		return o
	}
	options := pathOf("options")
	pairs, ok := d.mapping(n, options)
	if !ok {
		return o
	}
	defer d.free(pairs)
	d.fields(pairs, options, optionKeys(), nil, func(p pair) {
		at := options.key(p.key)
		switch p.key {
		case "previousNames":
			if kind == sdim.KindStatusCheck {
				d.errorf(p.k, "%s: a StatusCheckConfiguration is a singleton matched without a name: remove previousNames", at.String())
				return
			}
			if isNull(p.v) {
				return
			}
			items, ok := d.sequence(p.v, at)
			if !ok {
				return
			}
			for i, it := range items {
				ip := at.item(i)
				s, ok := d.nonEmpty(it, ip)
				switch {
				case !ok:
				case s == name:
					d.errorf(it, "%s: %q is the current name: list only names the object had before", ip.String(), s)
				case slices.Contains(o.PreviousNames, s):
					d.errorf(it, "%s: %q is listed twice", ip.String(), s)
				default:
					o.PreviousNames = append(o.PreviousNames, s)
				}
			}
		case "ignore":
			if isNull(p.v) {
				return
			}
			items, ok := d.sequence(p.v, at)
			if !ok {
				return
			}
			for i, it := range items {
				ip := at.item(i)
				s, ok := d.str(it, ip)
				if !ok {
					continue
				}
				if msg := checkPointer(s, kind); msg != "" {
					d.errorf(it, "%s: %s", ip.String(), msg)
					continue
				}
				if slices.Contains(o.Ignore, s) {
					d.errorf(it, "%s: %q is listed twice", ip.String(), s)
					continue
				}
				o.Ignore = append(o.Ignore, s)
			}
		case "mode":
			s, ok := d.str(p.v, at)
			if !ok {
				return
			}
			switch Mode(s) {
			case ModeEnforce, ModeObserve:
				o.Mode = Mode(s)
			default:
				modes := []string{string(ModeEnforce), string(ModeObserve)}
				if h := suggest(s, modes); h != "" {
					d.errorf(p.v, "%s: unknown mode %q; did you mean %q?", at.String(), s, h)
				} else {
					d.errorf(p.v, "%s: unknown mode %q; want enforce (repair drift) or observe (only report it)", at.String(), s)
				}
			}
		}
	})
	return o
}

// checkPointer validates an ignore entry: an RFC 6901 JSON pointer into the kind's spec.
func checkPointer(p string, kind sdim.Kind) string {
	if p == "" || p == "/" {
		return fmt.Sprintf("%q would ignore the whole object: name a field, such as /attributes/lastSyncDate, or use mode: observe", p)
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Sprintf("%q is not a JSON pointer: it must start with /, such as /%s", p, p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || p[i+1] != '0' && p[i+1] != '1') {
			return fmt.Sprintf("%q is not a JSON pointer: ~ must be followed by 0 (for ~) or 1 (for /)", p)
		}
	}
	first, _, _ := strings.Cut(p[1:], "/")
	first = strings.ReplaceAll(strings.ReplaceAll(first, "~1", "/"), "~0", "~")
	var keys []string
	switch kind {
	case sdim.KindServiceDesk:
		keys = serviceDeskKeys()
	case sdim.KindSIM:
		keys = simKeys()
	default:
		keys = statusCheckKeys()
	}
	if !slices.Contains(keys, first) {
		if s := suggest(first, keys); s != "" {
			return fmt.Sprintf("%q points at no field of a %s spec: did you mean /%s?", p, kind, s)
		}
		return fmt.Sprintf("%q points at no field of a %s spec: the pointer starts at the spec, as in /attributes/lastSyncDate", p, kind)
	}
	return checkPointerDepth(p, kind, first)
}

// checkPointerDepth refuses the pointers that would ignore less than they seem to: the
// comparison treats references, lists, scalars and the provisioning settings as wholes,
// and only the open maps (attributes, and a SIM integration's statusMap and request) key
// by key. A pointer inside a whole could never be honoured, and the field would drift for
// ever.
func checkPointerDepth(p string, kind sdim.Kind, first string) string {
	// The first token is first; the second and third are looked at only as far as they
	// exist.
	_, afterFirst, hasSecond := strings.Cut(p[1:], "/")
	switch {
	case kind == sdim.KindServiceDesk && first == "cluster":
		return fmt.Sprintf("%q: cluster is compared as clusterRef, its successor: ignore /clusterRef", p)
	case kind == sdim.KindServiceDesk && first == "managedSources":
		return fmt.Sprintf("%q: managedSources is compared as provisioningConfig.managedResourceRefs, its successor: ignore /provisioningConfig/managedResourceRefs", p)
	case first == "attributes" || kind == sdim.KindSIM && (first == "statusMap" || first == "request"):
		return "" // open maps: any key, at any depth
	case kind == sdim.KindServiceDesk && first == "provisioningConfig":
		if !hasSecond {
			return ""
		}
		second, _, hasThird := strings.Cut(afterFirst, "/")
		second = strings.ReplaceAll(strings.ReplaceAll(second, "~1", "/"), "~0", "~")
		if !slices.Contains(provisioningConfigKeys(), second) {
			if second == "universalManager" {
				return fmt.Sprintf("%q: universalManager is set by the tenant and never compared", p)
			}
			return fmt.Sprintf("%q points at no field of provisioningConfig (%s)", p, strings.Join(provisioningConfigKeys(), ", "))
		}
		if hasThird {
			return fmt.Sprintf("%q: /provisioningConfig/%s is compared as a whole: ignore /provisioningConfig/%s", p, second, second)
		}
		return ""
	case hasSecond:
		return fmt.Sprintf("%q: /%s is compared as a whole (a reference by its type and id, a list as a set or a list, text as text): ignore /%s", p, first, first)
	}
	return ""
}
