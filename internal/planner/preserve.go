package planner

import (
	"maps"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// A put replaces the whole object, so a field the desired side ignores (options.ignore)
// must be sent with its live value, or the put would overwrite what the user asked never
// to touch. preserve* copy those live values into the desired object sent, without
// changing the desired state itself. (A secret attribute the tenant hides cannot be
// copied: the tenant never returns it.)
//
// A live reference that points at nothing ("" on the wire, {}, or a type or name without
// an id) is kept as no reference at all: the put omits it, as the tenant treats it as
// unset, whereas sending it back as {} is refused ("'ownerRef.id' is required"). The same
// holds for an entry without an id in managedResourceRefs and an empty id in
// managedSources or a SIM integration's sources.

func preserveServiceDesk(w, l sdim.ServiceDeskIntegration, ignore []string) sdim.ServiceDeskIntegration {
	for _, ig := range ignore {
		toks, err := sdim.SplitPointer(ig)
		if err != nil || len(toks) == 0 {
			continue
		}
		switch toks[0] {
		case "description":
			w.Description = l.Description
		case "type":
			w.Type = l.Type
		case "ownerRef":
			w.OwnerRef = liveRef(l.OwnerRef)
		case "clusterRef", "cluster":
			w.ClusterRef, w.Cluster = liveRef(l.ClusterRef), l.Cluster
		case "beforeProvisioningRule":
			w.BeforeProvisioningRule = liveRef(l.BeforeProvisioningRule)
		case "managedSources":
			w.ManagedSources = liveIDs(l.ManagedSources)
			w.ProvisioningConfig = withPC(w.ProvisioningConfig, func(pc *sdim.ProvisioningConfig) {
				pc.ManagedResourceRefs = liveRefs(livePC(l).ManagedResourceRefs)
			})
		case "provisioningConfig":
			lpc := livePC(l)
			if len(toks) == 1 {
				w.ManagedSources = liveIDs(l.ManagedSources)
				w.ProvisioningConfig = nil
				if l.ProvisioningConfig != nil {
					w.ProvisioningConfig = &lpc
					w.ProvisioningConfig.ManagedResourceRefs = liveRefs(lpc.ManagedResourceRefs)
				}
				continue
			}
			w.ProvisioningConfig = withPC(w.ProvisioningConfig, func(pc *sdim.ProvisioningConfig) {
				switch toks[1] {
				case "managedResourceRefs":
					pc.ManagedResourceRefs = liveRefs(lpc.ManagedResourceRefs)
					w.ManagedSources = liveIDs(l.ManagedSources)
				case "planInitializerScript":
					pc.PlanInitializerScript = lpc.PlanInitializerScript
				case "noProvisioningRequests":
					pc.NoProvisioningRequests = lpc.NoProvisioningRequests
				case "provisioningRequestExpiration":
					pc.ProvisioningRequestExpiration = lpc.ProvisioningRequestExpiration
				}
			})
		case "attributes":
			w.Attributes = preserveMap(w.Attributes, l.Attributes, toks[1:])
		}
	}
	return w
}

func preserveSIM(w, l sdim.SIMIntegration, ignore []string) sdim.SIMIntegration {
	for _, ig := range ignore {
		toks, err := sdim.SplitPointer(ig)
		if err != nil || len(toks) == 0 {
			continue
		}
		switch toks[0] {
		case "description":
			w.Description = l.Description
		case "type":
			w.Type = l.Type
		case "cluster":
			w.Cluster = l.Cluster
		case "sources":
			w.Sources = liveIDs(l.Sources)
		case "beforeProvisioningRule":
			w.BeforeProvisioningRule = liveRef(l.BeforeProvisioningRule)
		case "attributes":
			w.Attributes = preserveMap(w.Attributes, l.Attributes, toks[1:])
		case "statusMap":
			w.StatusMap = preserveMap(w.StatusMap, l.StatusMap, toks[1:])
		case "request":
			w.Request = preserveMap(w.Request, l.Request, toks[1:])
		}
	}
	return w
}

// liveRef is a live reference as a put sends it: nil when it points at nothing (no id),
// else a copy.
func liveRef(r *sdim.Reference) *sdim.Reference {
	if r == nil || r.ID == "" {
		return nil
	}
	c := *r
	return &c
}

// liveRefs keeps the references of a live list that have an id (nil when none has).
func liveRefs(rs []sdim.Reference) []sdim.Reference {
	var out []sdim.Reference
	for _, r := range rs {
		if r.ID != "" {
			out = append(out, r)
		}
	}
	return out
}

// liveIDs keeps the non-empty ids of a live list (nil when none is).
func liveIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func livePC(l sdim.ServiceDeskIntegration) sdim.ProvisioningConfig {
	if l.ProvisioningConfig == nil {
		return sdim.ProvisioningConfig{}
	}
	return *l.ProvisioningConfig
}

// withPC returns a copy of pc (a new one when nil) changed by f.
func withPC(pc *sdim.ProvisioningConfig, f func(*sdim.ProvisioningConfig)) *sdim.ProvisioningConfig {
	var c sdim.ProvisioningConfig
	if pc != nil {
		c = *pc
	}
	f(&c)
	return &c
}

// preserveMap returns a copy of want in which the value at toks is live's (removed when
// live has none), exactly where the comparison skips it: the comparison walks into a key
// only when it is a map on both sides (or a map on one side and absent on the other), so
// a pointer that goes through a list or a scalar ignores nothing, and nothing is kept
// from the live side for it either (the put sends the desired value, as the plan showed).
func preserveMap(want, live map[string]any, toks []string) map[string]any {
	if len(toks) == 0 {
		return deepCopyMap(live)
	}
	out := maps.Clone(want)
	if out == nil {
		out = map[string]any{}
	}
	k := toks[0]
	lv, lok := live[k]
	wv, wok := out[k]
	if len(toks) == 1 {
		if lok {
			out[k] = deepCopy(lv)
		} else {
			delete(out, k)
		}
		return out
	}
	wm, wIsMap := wv.(map[string]any)
	lm, lIsMap := lv.(map[string]any)
	if wIsMap && (lIsMap || !lok) || lIsMap && !wok {
		if sub := preserveMap(wm, lm, toks[1:]); len(sub) > 0 || wIsMap {
			out[k] = sub
		}
	}
	return out
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return deepCopy(m).(map[string]any)
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
