package tenant

import (
	"encoding/json"
	"fmt"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// The request encoding is the one place a secret's value is revealed: it goes to the
// tenant and nowhere else. Everything else that renders the model (plans, logs, errors)
// sees sdim.Secret's redaction.

// encodeServiceDesk is the body of a create or a replace: the writable fields, with the
// secrets revealed. Server-set fields (id, created, modified, universalManager) are left
// out; attributes are always present, as the API requires.
func encodeServiceDesk(o sdim.ServiceDeskIntegration) ([]byte, error) {
	o.ID, o.Created, o.Modified = "", "", ""
	if o.ProvisioningConfig != nil {
		pc := *o.ProvisioningConfig
		pc.UniversalManager = nil
		o.ProvisioningConfig = &pc
	}
	attrs, err := revealMap(o.Attributes, "attributes")
	if err != nil {
		return nil, err
	}
	if attrs == nil {
		attrs = map[string]any{}
	}
	o.Attributes = attrs
	return json.Marshal(o)
}

// encodeSIM is the body of a SIM create or replace.
func encodeSIM(o sdim.SIMIntegration) ([]byte, error) {
	o.ID, o.Created, o.Modified = "", "", ""
	var err error
	if o.Attributes, err = revealMap(o.Attributes, "attributes"); err != nil {
		return nil, err
	}
	if o.StatusMap, err = revealMap(o.StatusMap, "statusMap"); err != nil {
		return nil, err
	}
	if o.Request, err = revealMap(o.Request, "request"); err != nil {
		return nil, err
	}
	return json.Marshal(o)
}

// encodePatch is a JSON Patch body: a bare array, or {"operations": [...]} for SIM.
func encodePatch(ops []PatchOp, sim bool) ([]byte, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("no patch operations")
	}
	out := make([]PatchOp, len(ops))
	for i, op := range ops {
		v, err := reveal(op.Value, op.Path)
		if err != nil {
			return nil, err
		}
		out[i] = PatchOp{Op: op.Op, Path: op.Path, Value: v}
	}
	if sim {
		return json.Marshal(struct {
			Operations []PatchOp `json:"operations"`
		}{out})
	}
	return json.Marshal(out)
}

func revealMap(m map[string]any, at string) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	v, err := reveal(m, at)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// reveal copies v, replacing each sdim.Secret with its value. It never changes v.
func reveal(v any, at string) (any, error) {
	switch t := v.(type) {
	case sdim.Secret:
		return t.Reveal(), nil
	case *sdim.Secret:
		if t == nil {
			return nil, nil
		}
		return t.Reveal(), nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			r, err := reveal(e, at+"/"+k)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := reveal(e, fmt.Sprintf("%s/%d", at, i))
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[any]any:
		return nil, fmt.Errorf("%s: a map with non-string keys cannot be sent as JSON", at)
	}
	return v, nil
}
