package emulator

import (
	"fmt"
	"net/http"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

const jsonPatchType = "application/json-patch+json"

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// parseOps reads RFC 6902 operations out of a decoded body.
func parseOps(v any) ([]patchOp, *apiError) {
	list, ok := v.([]any)
	if !ok {
		return nil, badRequest("the body must be a JSON array of patch operations, not %s", jsonType(v))
	}
	if len(list) == 0 {
		return nil, badRequest("the body holds no patch operations")
	}
	ops := make([]patchOp, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, badRequest("operation %d must be an object with op, path and value", i)
		}
		op, _ := m["op"].(string)
		path, _ := m["path"].(string)
		if op == "" {
			return nil, badRequest("operation %d: 'op' is required", i)
		}
		if _, ok := m["path"].(string); !ok {
			return nil, badRequest("operation %d: 'path' is required", i)
		}
		value, hasValue := m["value"]
		if op == "replace" && !hasValue {
			return nil, badRequest("operation %d (replace %s): 'value' is required", i, path)
		}
		ops = append(ops, patchOp{Op: op, Path: path, Value: value})
	}
	return ops, nil
}

// checkOps enforces the API's rule: only replace, and only on the patchable paths.
func checkOps(ops []patchOp, allowed []string) *apiError {
	for i, op := range ops {
		if op.Op != "replace" {
			return forbidden("operation %d: %q is not allowed; only replace operations are accepted", i, op.Op)
		}
		if !pathAllowed(op.Path, allowed) {
			return forbidden("operation %d: %s cannot be patched; patchable paths: %s", i, op.Path, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func pathAllowed(path string, allowed []string) bool {
	for _, a := range allowed {
		if path == a || strings.HasPrefix(path, a+"/") {
			return true
		}
	}
	return false
}

// applyOps applies replace operations to a stored document. A replace whose target is
// missing but whose parent exists sets it (the tenant lets PATCH set an unset reference).
func applyOps(doc map[string]any, ops []patchOp) (map[string]any, *apiError) {
	exec := make([]patchOp, len(ops))
	cur := doc
	for i, op := range ops {
		exec[i] = op
		if _, found := sdim.Lookup(cur, op.Path); !found {
			exec[i].Op = "add"
		}
		// Apply one at a time so that each existence check sees the previous operations.
		next, err := applyPatch(cur, exec[i:i+1])
		if err != nil {
			return nil, badRequest("operation %d (%s %s): %v", i, op.Op, op.Path, err)
		}
		cur = next
	}
	return cur, nil
}

func applyPatch(doc map[string]any, ops []patchOp) (map[string]any, error) {
	patch, err := jsonpatch.DecodePatch(mustJSON(ops))
	if err != nil {
		return nil, err
	}
	out, err := patch.Apply(mustJSON(doc))
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON(out)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the result is %s, not an object", jsonType(v))
	}
	return m, nil
}

func (e *Emulator) patch(w http.ResponseWriter, r *http.Request, k kindOps, ops []patchOp, allowed []string) {
	if aerr := checkOps(ops, allowed); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	id := r.PathValue("id")
	e.mu.Lock()
	c := k.coll(e)
	o, ok := c.byID[id]
	var doc map[string]any
	if ok {
		doc = deepCopy(o.doc).(map[string]any)
	}
	e.mu.Unlock()
	if !ok {
		writeAPIError(w, notFound("%s %q not found", c.kind, id))
		return
	}
	patched, aerr := applyOps(doc, ops)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	normalized, aerr := k.normalize(e.norm, patched)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	wire, aerr := e.update(k, id, normalized)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	writeRawJSON(w, http.StatusOK, wire)
}

// patchSDIM takes a bare array of operations, as the service desk API does.
func (e *Emulator) patchSDIM(w http.ResponseWriter, r *http.Request) {
	v, aerr := readBody(r, jsonPatchType)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	ops, aerr := parseOps(v)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	e.patch(w, r, sdimOps, ops, e.cfg.PatchablePaths)
}

// simOperations reads the SIM API's {"operations": [...]} body.
func simOperations(r *http.Request) ([]patchOp, *apiError) {
	v, aerr := readBody(r, jsonPatchType)
	if aerr != nil {
		return nil, aerr
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest(`the body must be an object {"operations": [...]}, not %s`, jsonType(v))
	}
	list, ok := m["operations"]
	if !ok {
		return nil, badRequest(`'operations' is required: the body must be {"operations": [...]}`)
	}
	return parseOps(list)
}

func (e *Emulator) patchSIM(w http.ResponseWriter, r *http.Request) {
	ops, aerr := simOperations(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	e.patch(w, r, simOps, ops, e.cfg.SIMPatchablePaths)
}

// patchSIMRule patches the beforeProvisioningRule of a SIM integration. Paths are taken
// relative to the rule ("/id"); a path that already starts with /beforeProvisioningRule
// is taken as it is.
func (e *Emulator) patchSIMRule(w http.ResponseWriter, r *http.Request) {
	ops, aerr := simOperations(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	const rule = "/beforeProvisioningRule"
	for i := range ops {
		if ops[i].Path != rule && !strings.HasPrefix(ops[i].Path, rule+"/") {
			ops[i].Path = rule + ops[i].Path
		}
	}
	e.patch(w, r, simOps, ops, []string{rule})
}
