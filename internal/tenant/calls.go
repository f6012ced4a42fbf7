package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// PageSize is the largest page the list endpoints serve.
const PageSize = 250

const (
	jsonType      = "application/json"
	jsonPatchType = "application/json-patch+json"
)

// PatchOp is one RFC 6902 operation. The tenant accepts only "replace".
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Replace is the operation that sets the field at pointer to value.
func Replace(pointer string, value any) PatchOp {
	return PatchOp{Op: "replace", Path: pointer, Value: value}
}

// ListOptions narrow a list call. Filters is in SailPoint's filter syntax; build it with
// FilterNameEq and FilterIDIn to get the quoting right.
type ListOptions struct {
	Filters string
}

// FilterNameEq is the filter `name eq "<name>"`, with `"` and `\` escaped.
func FilterNameEq(name string) string { return `name eq ` + quote(name) }

// FilterIDIn is the filter `id in ("<id>", ...)`.
func FilterIDIn(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = quote(id)
	}
	return "id in (" + strings.Join(q, ",") + ")"
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (c *Client) sdPath() string { return c.s.APIVersion.ServiceDeskPath() }

func (c *Client) simPath(op string) (string, error) {
	if !c.s.APIVersion.HasSIM() {
		return "", fmt.Errorf("%s: SIM integrations need API version v2024, v2025 or v1, not %s", op, c.s.APIVersion)
	}
	return c.s.APIVersion.SIMPath(), nil
}

// ListServiceDesk returns every service desk integration that matches opts, 250 a page,
// sorted by name.
func (c *Client) ListServiceDesk(ctx context.Context, opts ListOptions) ([]sdim.ServiceDeskIntegration, error) {
	base := c.sdPath()
	return listAll[sdim.ServiceDeskIntegration](ctx, c, "list service desk integrations", base, opts,
		func(o sdim.ServiceDeskIntegration) string { return o.ID })
}

// GetServiceDesk reads one service desk integration by id.
func (c *Client) GetServiceDesk(ctx context.Context, id string) (*sdim.ServiceDeskIntegration, error) {
	var out sdim.ServiceDeskIntegration
	err := c.call(ctx, &request{op: "get service desk integration", object: id, method: http.MethodGet,
		route: c.sdPath() + "/{id}", path: c.sdPath() + "/" + url.PathEscape(id)}, &out)
	return &out, err
}

// FindServiceDeskByName returns the integration named name, or nil when there is none. More
// than one is an error: names are unique in a tenant.
func (c *Client) FindServiceDeskByName(ctx context.Context, name string) (*sdim.ServiceDeskIntegration, error) {
	found, err := c.ListServiceDesk(ctx, ListOptions{Filters: FilterNameEq(name)})
	if err != nil {
		return nil, fmt.Errorf("look up service desk integration %q: %w", name, err)
	}
	return onlyOne(found, "service desk integration", name, func(o sdim.ServiceDeskIntegration) string { return o.Name })
}

// CreateServiceDesk creates obj (POST) and returns what the tenant stored. A create is never
// retried after it may have reached the tenant: IsAmbiguous tells when to look it up first.
func (c *Client) CreateServiceDesk(ctx context.Context, obj sdim.ServiceDeskIntegration) (*sdim.ServiceDeskIntegration, error) {
	body, err := encodeServiceDesk(obj)
	if err != nil {
		return nil, fmt.Errorf("create service desk integration %q: %w", obj.Name, err)
	}
	var out sdim.ServiceDeskIntegration
	err = c.call(ctx, &request{op: "create service desk integration", object: obj.Name, method: http.MethodPost,
		route: c.sdPath(), path: c.sdPath(), body: body, contentType: jsonType}, &out)
	return &out, err
}

// PutServiceDesk replaces the integration id with obj: every field obj leaves out is
// cleared on the tenant.
func (c *Client) PutServiceDesk(ctx context.Context, id string, obj sdim.ServiceDeskIntegration) (*sdim.ServiceDeskIntegration, error) {
	body, err := encodeServiceDesk(obj)
	if err != nil {
		return nil, fmt.Errorf("replace service desk integration %q: %w", obj.Name, err)
	}
	var out sdim.ServiceDeskIntegration
	err = c.call(ctx, &request{op: "replace service desk integration", object: nameOr(obj.Name, id), method: http.MethodPut,
		route: c.sdPath() + "/{id}", path: c.sdPath() + "/" + url.PathEscape(id), body: body, contentType: jsonType}, &out)
	return &out, err
}

// PatchServiceDesk applies ops to the integration id (a bare JSON Patch array). name is
// only for errors.
func (c *Client) PatchServiceDesk(ctx context.Context, id, name string, ops []PatchOp) (*sdim.ServiceDeskIntegration, error) {
	body, err := encodePatch(ops, false)
	if err != nil {
		return nil, fmt.Errorf("patch service desk integration %q: %w", nameOr(name, id), err)
	}
	var out sdim.ServiceDeskIntegration
	err = c.call(ctx, &request{op: "patch service desk integration", object: nameOr(name, id), method: http.MethodPatch,
		route: c.sdPath() + "/{id}", path: c.sdPath() + "/" + url.PathEscape(id), body: body, contentType: jsonPatchType}, &out)
	return &out, err
}

// DeleteServiceDesk deletes the integration id. name is only for errors. A 404 comes back
// as an error for which IsNotFound is true.
func (c *Client) DeleteServiceDesk(ctx context.Context, id, name string) error {
	return c.call(ctx, &request{op: "delete service desk integration", object: nameOr(name, id), method: http.MethodDelete,
		route: c.sdPath() + "/{id}", path: c.sdPath() + "/" + url.PathEscape(id)}, nil)
}

// GetStatusCheck reads the status-check configuration.
func (c *Client) GetStatusCheck(ctx context.Context) (*sdim.StatusCheckConfiguration, error) {
	var out sdim.StatusCheckConfiguration
	p := c.sdPath() + "/status-check-configuration"
	err := c.call(ctx, &request{op: "get status-check configuration", method: http.MethodGet, route: p, path: p}, &out)
	return &out, err
}

// PutStatusCheck replaces the status-check configuration.
func (c *Client) PutStatusCheck(ctx context.Context, cfg sdim.StatusCheckConfiguration) (*sdim.StatusCheckConfiguration, error) {
	body, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("replace status-check configuration: %w", err)
	}
	var out sdim.StatusCheckConfiguration
	p := c.sdPath() + "/status-check-configuration"
	err = c.call(ctx, &request{op: "replace status-check configuration", method: http.MethodPut, route: p, path: p,
		body: body, contentType: jsonType}, &out)
	return &out, err
}

// ListTypes lists the service desk integration types the tenant offers.
func (c *Client) ListTypes(ctx context.Context) ([]sdim.IntegrationType, error) {
	var out []sdim.IntegrationType
	p := c.sdPath() + "/types"
	err := c.call(ctx, &request{op: "list service desk integration types", method: http.MethodGet, route: p, path: p}, &out)
	return out, err
}

// GetTemplate reads the template of the type whose script name is scriptName.
func (c *Client) GetTemplate(ctx context.Context, scriptName string) (*sdim.Template, error) {
	var out sdim.Template
	err := c.call(ctx, &request{op: "get service desk integration template", object: scriptName, method: http.MethodGet,
		route: c.sdPath() + "/templates/{scriptName}", path: c.sdPath() + "/templates/" + url.PathEscape(scriptName)}, &out)
	return &out, err
}

// ListSIM returns every SIM integration (v2024, v2025 and v1 only).
func (c *Client) ListSIM(ctx context.Context) ([]sdim.SIMIntegration, error) {
	const op = "list SIM integrations"
	base, err := c.simPath(op)
	if err != nil {
		return nil, err
	}
	// The SIM list endpoint takes no paging parameters and answers with every integration.
	var out []sdim.SIMIntegration
	err = c.call(ctx, &request{op: op, method: http.MethodGet, route: base, path: base, experimental: true}, &out)
	return out, err
}

// GetSIM reads one SIM integration by id.
func (c *Client) GetSIM(ctx context.Context, id string) (*sdim.SIMIntegration, error) {
	const op = "get SIM integration"
	base, err := c.simPath(op)
	if err != nil {
		return nil, err
	}
	var out sdim.SIMIntegration
	err = c.call(ctx, &request{op: op, object: id, method: http.MethodGet, route: base + "/{id}",
		path: base + "/" + url.PathEscape(id), experimental: true}, &out)
	return &out, err
}

// FindSIMByName returns the SIM integration named name, or nil when there is none.
func (c *Client) FindSIMByName(ctx context.Context, name string) (*sdim.SIMIntegration, error) {
	all, err := c.ListSIM(ctx)
	if err != nil {
		return nil, fmt.Errorf("look up SIM integration %q: %w", name, err)
	}
	return onlyOne(all, "SIM integration", name, func(o sdim.SIMIntegration) string { return o.Name })
}

// onlyOne picks the object named exactly name (the tenant's filter may ignore case): nil
// when there is none, an error when there are several, as names are unique in a tenant.
func onlyOne[T any](objs []T, kind, name string, nameOf func(T) string) (*T, error) {
	var match []T
	for _, o := range objs {
		if nameOf(o) == name {
			match = append(match, o)
		}
	}
	switch len(match) {
	case 0:
		return nil, nil
	case 1:
		return &match[0], nil
	}
	return nil, fmt.Errorf("look up %s %q: %d integrations have this name", kind, name, len(match))
}

// CreateSIM creates a SIM integration (POST, never retried blindly).
func (c *Client) CreateSIM(ctx context.Context, obj sdim.SIMIntegration) (*sdim.SIMIntegration, error) {
	const op = "create SIM integration"
	base, err := c.simPath(op)
	if err != nil {
		return nil, err
	}
	body, err := encodeSIM(obj)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, obj.Name, err)
	}
	var out sdim.SIMIntegration
	err = c.call(ctx, &request{op: op, object: obj.Name, method: http.MethodPost, route: base, path: base,
		body: body, contentType: jsonType, experimental: true}, &out)
	return &out, err
}

// PutSIM replaces the SIM integration id with obj.
func (c *Client) PutSIM(ctx context.Context, id string, obj sdim.SIMIntegration) (*sdim.SIMIntegration, error) {
	const op = "replace SIM integration"
	base, err := c.simPath(op)
	if err != nil {
		return nil, err
	}
	body, err := encodeSIM(obj)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, obj.Name, err)
	}
	var out sdim.SIMIntegration
	err = c.call(ctx, &request{op: op, object: nameOr(obj.Name, id), method: http.MethodPut, route: base + "/{id}",
		path: base + "/" + url.PathEscape(id), body: body, contentType: jsonType, experimental: true}, &out)
	return &out, err
}

// PatchSIM applies ops to the SIM integration id ({"operations": [...]}).
func (c *Client) PatchSIM(ctx context.Context, id, name string, ops []PatchOp) (*sdim.SIMIntegration, error) {
	return c.patchSIM(ctx, "patch SIM integration", id, name, "", ops)
}

// PatchSIMBeforeProvisioningRule applies ops to the SIM integration's before-provisioning
// rule through its own endpoint; paths are relative to the rule ("/id").
func (c *Client) PatchSIMBeforeProvisioningRule(ctx context.Context, id, name string, ops []PatchOp) (*sdim.SIMIntegration, error) {
	return c.patchSIM(ctx, "patch SIM integration before-provisioning rule", id, name, "/beforeProvisioningRule", ops)
}

func (c *Client) patchSIM(ctx context.Context, op, id, name, suffix string, ops []PatchOp) (*sdim.SIMIntegration, error) {
	base, err := c.simPath(op)
	if err != nil {
		return nil, err
	}
	body, err := encodePatch(ops, true)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, nameOr(name, id), err)
	}
	// The rule endpoint answers with a ServiceDeskIntegrationDto in its definitions; the
	// fields both share decode the same.
	var out sdim.SIMIntegration
	err = c.call(ctx, &request{op: op, object: nameOr(name, id), method: http.MethodPatch, route: base + "/{id}" + suffix,
		path: base + "/" + url.PathEscape(id) + suffix, body: body, contentType: jsonPatchType, experimental: true}, &out)
	return &out, err
}

// DeleteSIM deletes the SIM integration id.
func (c *Client) DeleteSIM(ctx context.Context, id, name string) error {
	const op = "delete SIM integration"
	base, err := c.simPath(op)
	if err != nil {
		return err
	}
	return c.call(ctx, &request{op: op, object: nameOr(name, id), method: http.MethodDelete, route: base + "/{id}",
		path: base + "/" + url.PathEscape(id), experimental: true}, nil)
}

// call sends r and decodes the answer into out (when out is not nil), keeping numbers in
// attributes as the tenant wrote them.
func (c *Client) call(ctx context.Context, r *request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(resp.body)) == 0 {
		return nil
	}
	return decode(r, resp.body, out)
}

func decode(r *request, body []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		what := r.op
		if r.object != "" {
			what += fmt.Sprintf(" %q", r.object)
		}
		return fmt.Errorf("%s: %s %s: the answer is not what the API defines: %w", what, r.method, r.path, err)
	}
	return nil
}

// listAll pages through a list endpoint, 250 a page, with count=true: it stops when the
// tenant's X-Total-Count is reached or a page comes back short, so N objects take
// ceil(N/250) calls (one when there are none). When the total moves between pages or an id
// comes back twice, objects changed while it listed and the listing starts over (twice at
// most): a snapshot with holes would plan false creates and deletes.
func listAll[T any](ctx context.Context, c *Client, op, base string, opts ListOptions, id func(T) string) ([]T, error) {
	const attempts = 3
	var lastErr error
	for attempt := 0; attempt < attempts; attempt++ {
		all, err := listPages(ctx, c, op, base, opts, id)
		if err == nil {
			return all, nil
		}
		var moved listMoved
		if !errors.As(err, &moved) {
			return nil, err
		}
		lastErr = moved
		c.log.WarnContext(ctx, "the list changed while it was read; reading it again", "op", op, "reason", err.Error())
	}
	return nil, fmt.Errorf("%s: %w (tried %d times)", op, lastErr, attempts)
}

type listMoved string

func (m listMoved) Error() string { return string(m) }

func listPages[T any](ctx context.Context, c *Client, op, base string, opts ListOptions, id func(T) string) ([]T, error) {
	var all []T
	err := eachPage(ctx, c, op, base, opts, id, func(page []T) error {
		all = append(all, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}
