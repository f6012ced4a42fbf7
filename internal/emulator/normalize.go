package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The emulator keeps each object as the set of writable fields the tenant stores, already
// validated and normalized: read-only fields (id, created, modified, universalManager) are
// dropped, the deprecated aliases (cluster, managedSources) folded into their successors,
// `""` references treated as unset, a missing reference type filled with its default, and
// unknown top-level keys ignored. Every error names the field at fault.

type refSpec struct {
	field    string
	wantType string
}

var (
	ownerRefSpec   = refSpec{"ownerRef", "IDENTITY"}
	clusterRefSpec = refSpec{"clusterRef", "CLUSTER"}
	ruleRefSpec    = refSpec{"beforeProvisioningRule", "RULE"}
	sourceRefSpec  = refSpec{"provisioningConfig.managedResourceRefs", "SOURCE"}
)

// normalizer turns a request body into a stored document.
type normalizer struct {
	refNames map[string]string // reference id -> display name the tenant fills in
}

func requiredString(raw map[string]any, field string, allowEmpty bool) (string, *apiError) {
	v, ok := raw[field]
	if !ok || v == nil {
		return "", badRequest("'%s' is required", field)
	}
	s, ok := v.(string)
	if !ok {
		return "", badRequest("'%s' must be a string, not %s", field, jsonType(v))
	}
	if s == "" && !allowEmpty {
		return "", badRequest("'%s' must not be empty", field)
	}
	return s, nil
}

func optionalString(raw map[string]any, field string) (string, bool, *apiError) {
	v, ok := raw[field]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, badRequest("'%s' must be a string, not %s", field, jsonType(v))
	}
	return s, true, nil
}

func optionalObject(raw map[string]any, field string) (map[string]any, bool, *apiError) {
	v, ok := raw[field]
	if !ok || v == nil {
		return nil, false, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false, badRequest("'%s' must be an object, not %s", field, jsonType(v))
	}
	return m, true, nil
}

func stringList(v any, field string) ([]any, *apiError) {
	list, ok := v.([]any)
	if !ok {
		return nil, badRequest("'%s' must be an array of strings, not %s", field, jsonType(v))
	}
	out := make([]any, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok || s == "" {
			return nil, badRequest("'%s[%d]' must be a non-empty string", field, i)
		}
		out = append(out, s)
	}
	return out, nil
}

// ref validates a reference: an object with an id and, if given, the one type allowed.
// nil and "" mean "not set" (SailPoint's own examples send "").
func (n normalizer) ref(v any, spec refSpec) (map[string]any, *apiError) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("'%s' must be an object with type and id, not %s", spec.field, jsonType(v))
	}
	id, ok := m["id"].(string)
	if !ok || id == "" {
		return nil, badRequest("'%s.id' is required", spec.field)
	}
	typ := spec.wantType
	if t, present := m["type"]; present && t != nil {
		s, ok := t.(string)
		if !ok || s != spec.wantType {
			return nil, badRequest("'%s.type' must be %s, not %v", spec.field, spec.wantType, t)
		}
	}
	out := map[string]any{"type": typ, "id": id}
	if name, ok := n.refNames[id]; ok {
		out["name"] = name
	} else if name, ok := m["name"].(string); ok && name != "" {
		out["name"] = name
	}
	return out, nil
}

// sdim validates and normalizes a ServiceDeskIntegrationDto body.
func (n normalizer) sdim(raw map[string]any) (map[string]any, *apiError) {
	doc := map[string]any{}
	var err *apiError
	if doc["name"], err = requiredString(raw, "name", false); err != nil {
		return nil, err
	}
	if doc["description"], err = requiredString(raw, "description", true); err != nil {
		return nil, err
	}
	if doc["type"], err = requiredString(raw, "type", false); err != nil {
		return nil, err
	}
	attrs, ok, err := optionalObject(raw, "attributes")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badRequest("'attributes' is required")
	}
	doc["attributes"] = attrs
	for _, spec := range []refSpec{ownerRefSpec, clusterRefSpec, ruleRefSpec} {
		r, err := n.ref(raw[spec.field], spec)
		if err != nil {
			return nil, err
		}
		if r != nil {
			doc[spec.field] = r
		}
	}
	// cluster: deprecated alias of clusterRef.id; clusterRef wins when both are sent.
	if cluster, ok, err := optionalString(raw, "cluster"); err != nil {
		return nil, err
	} else if ok && cluster != "" && doc["clusterRef"] == nil {
		doc["clusterRef"], _ = n.ref(map[string]any{"id": cluster}, clusterRefSpec)
	}
	pc, err := n.provisioningConfig(raw)
	if err != nil {
		return nil, err
	}
	if pc != nil {
		doc["provisioningConfig"] = pc
	}
	return doc, nil
}

func (n normalizer) provisioningConfig(raw map[string]any) (map[string]any, *apiError) {
	in, _, err := optionalObject(raw, "provisioningConfig")
	if err != nil {
		return nil, err
	}
	pc := map[string]any{}
	if v, ok := in["managedResourceRefs"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, badRequest("'provisioningConfig.managedResourceRefs' must be an array, not %s", jsonType(v))
		}
		refs := make([]any, 0, len(list))
		for i, item := range list {
			spec := refSpec{fmt.Sprintf("provisioningConfig.managedResourceRefs[%d]", i), sourceRefSpec.wantType}
			r, err := n.ref(item, spec)
			if err != nil {
				return nil, err
			}
			if r == nil {
				return nil, badRequest("'%s' must be an object with type and id", spec.field)
			}
			refs = append(refs, r)
		}
		pc["managedResourceRefs"] = refs
	}
	// managedSources: deprecated alias of managedResourceRefs[].id.
	if v, ok := raw["managedSources"]; ok && v != nil && pc["managedResourceRefs"] == nil {
		ids, err := stringList(v, "managedSources")
		if err != nil {
			return nil, err
		}
		refs := make([]any, 0, len(ids))
		for _, id := range ids {
			r, _ := n.ref(map[string]any{"id": id}, sourceRefSpec)
			refs = append(refs, r)
		}
		pc["managedResourceRefs"] = refs
	}
	if v, ok := in["planInitializerScript"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, badRequest("'provisioningConfig.planInitializerScript' must be an object with a source, not %s", jsonType(v))
		}
		script := map[string]any{}
		if src, present := m["source"]; present && src != nil {
			s, ok := src.(string)
			if !ok {
				return nil, badRequest("'provisioningConfig.planInitializerScript.source' must be a string, not %s", jsonType(src))
			}
			script["source"] = s
		}
		pc["planInitializerScript"] = script
	}
	if v, ok := in["noProvisioningRequests"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return nil, badRequest("'provisioningConfig.noProvisioningRequests' must be a boolean, not %s", jsonType(v))
		}
		pc["noProvisioningRequests"] = b
	}
	if v, ok := in["provisioningRequestExpiration"]; ok && v != nil {
		num, ok := v.(json.Number)
		i, perr := strconv.ParseInt(string(num), 10, 64)
		if !ok || perr != nil || i < math.MinInt32 || i > math.MaxInt32 {
			return nil, badRequest("'provisioningConfig.provisioningRequestExpiration' must be a 32-bit integer, not %v", v)
		}
		pc["provisioningRequestExpiration"] = json.Number(strconv.FormatInt(i, 10))
	}
	if len(pc) == 0 && in == nil {
		return nil, nil
	}
	return pc, nil
}

// sim validates and normalizes a SimIntegrationDetails body.
func (n normalizer) sim(raw map[string]any) (map[string]any, *apiError) {
	doc := map[string]any{}
	var err *apiError
	if doc["name"], err = requiredString(raw, "name", false); err != nil {
		return nil, err
	}
	if doc["type"], err = requiredString(raw, "type", false); err != nil {
		return nil, err
	}
	desc, _, err := optionalString(raw, "description")
	if err != nil {
		return nil, err
	}
	doc["description"] = desc
	attrs, _, err := optionalObject(raw, "attributes")
	if err != nil {
		return nil, err
	}
	if attrs == nil {
		attrs = map[string]any{}
	}
	doc["attributes"] = attrs
	if v, ok := raw["sources"]; ok && v != nil {
		if doc["sources"], err = stringList(v, "sources"); err != nil {
			return nil, err
		}
	}
	if cluster, ok, err := optionalString(raw, "cluster"); err != nil {
		return nil, err
	} else if ok {
		doc["cluster"] = cluster
	}
	for _, field := range []string{"statusMap", "request"} {
		m, ok, err := optionalObject(raw, field)
		if err != nil {
			return nil, err
		}
		if ok {
			doc[field] = m
		}
	}
	r, err := n.ref(raw["beforeProvisioningRule"], ruleRefSpec)
	if err != nil {
		return nil, err
	}
	if r != nil {
		doc["beforeProvisioningRule"] = r
	}
	return doc, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
