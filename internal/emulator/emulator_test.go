package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tenantT is an emulator behind a loopback server, with a token for the demo client.
type tenantT struct {
	t     *testing.T
	e     *Emulator
	srv   *httptest.Server
	token string
}

func startTenant(t *testing.T, cfg Config) *tenantT {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	tt := &tenantT{t: t, e: e, srv: srv}
	if _, demo := cfg.Clients[DemoClientID]; cfg.Clients == nil || demo {
		tt.token = tt.getToken(DemoClientID, DemoClientSecret)
	}
	return tt
}

func (tt *tenantT) getToken(id, secret string) string {
	tt.t.Helper()
	resp, err := http.PostForm(tt.srv.URL+TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		tt.t.Fatalf("token: %v", err)
	}
	defer resp.Body.Close()
	var tok tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		tt.t.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// call sends a request with the tenant's token. body may be nil, a string (sent as is) or
// a value (sent as JSON). Headers come in pairs; Content-Type defaults to application/json.
func (tt *tenantT) call(method, path string, body any, headers ...string) (int, http.Header, []byte) {
	tt.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tt.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, tt.srv.URL+path, rd)
	if err != nil {
		tt.t.Fatal(err)
	}
	if tt.token != "" {
		req.Header.Set("Authorization", "Bearer "+tt.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tt.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// obj decodes a JSON object answer.
func obj(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return m
}

func list(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return l
}

// errText is the first message of an ErrorResponseDto.
func errText(t *testing.T, b []byte) string {
	t.Helper()
	var e errorResponse
	if err := json.Unmarshal(b, &e); err != nil || len(e.Messages) == 0 || e.TrackingID == "" || e.DetailCode == "" {
		t.Fatalf("not an ErrorResponseDto: %s", b)
	}
	return e.Messages[0].Text
}

func snow(name string) map[string]any {
	return map[string]any{
		"name":        name,
		"description": "Tickets for manual provisioning",
		"type":        "ServiceNowSDIM",
		"ownerRef":    map[string]any{"type": "IDENTITY", "id": "2c9180a46faadee4016fb4e018c20639"},
		"clusterRef":  map[string]any{"type": "CLUSTER", "id": "2c9180847a7fccdd017aa5896f9f4f6f"},
		"provisioningConfig": map[string]any{
			"managedResourceRefs": []any{map[string]any{"type": "SOURCE", "id": "2c9180855d191c59015d291ceb051111"}},
		},
		"attributes": map[string]any{"url": "https://acme.service-now.com", "username": "svc", "Password": "hunter2", "nested": map[string]any{"apiKey": "k"}},
	}
}

const sdimV3 = "/v3/service-desk-integrations"

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestTokenEndpoint(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tt := startTenant(t, Config{Now: clock.Now, TokenTTL: 5 * time.Second})
	post := func(form url.Values, basicID, basicSecret string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", tt.srv.URL+TokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basicID != "" {
			req.SetBasicAuth(basicID, basicSecret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, obj(t, b)
	}
	tests := []struct {
		name       string
		form       url.Values
		basic      [2]string
		wantStatus int
		wantError  string
	}{
		{"form body", url.Values{"grant_type": {"client_credentials"}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}}, [2]string{}, 200, ""},
		{"basic auth", url.Values{"grant_type": {"client_credentials"}}, [2]string{DemoClientID, DemoClientSecret}, 200, ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {DemoClientID}, "client_secret": {"nope"}}, [2]string{}, 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"who"}, "client_secret": {"x"}}, [2]string{}, 401, "invalid_client"},
		{"wrong grant", url.Values{"grant_type": {"password"}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}}, [2]string{}, 400, "unsupported_grant_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.form, tc.basic[0], tc.basic[1])
			if code != tc.wantStatus {
				t.Fatalf("status %d, want %d (%v)", code, tc.wantStatus, body)
			}
			if tc.wantError != "" {
				if body["error"] != tc.wantError {
					t.Errorf("error = %v, want %q", body["error"], tc.wantError)
				}
				return
			}
			if body["expires_in"] != float64(5) || body["token_type"] != "bearer" || body["access_token"] == "" {
				t.Errorf("token answer %v", body)
			}
		})
	}

	// The query-string form SailPoint's docs show works too.
	resp, err := http.Post(tt.srv.URL+TokenPath+"?grant_type=client_credentials&client_id="+DemoClientID+"&client_secret="+DemoClientSecret, "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("query-string token: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	bearer := []struct {
		name, header, want string
	}{
		{"missing", "", "no Authorization header"},
		{"not bearer", "Basic abc", "must be 'Bearer"},
		{"unknown", "Bearer 0123", "unknown or malformed"},
	}
	for _, b := range bearer {
		t.Run("bearer "+b.name, func(t *testing.T) {
			code, _, body := tt.call("GET", sdimV3, nil, "Authorization", b.header)
			if code != 401 || !strings.Contains(obj(t, body)["error"].(string), b.want) {
				t.Errorf("status %d body %s, want 401 with %q", code, body, b.want)
			}
		})
	}
	if code, _, _ := tt.call("GET", sdimV3, nil); code != 200 {
		t.Fatalf("fresh token: status %d", code)
	}
	clock.Add(5 * time.Second)
	code, _, body := tt.call("GET", sdimV3, nil)
	if code != 401 || obj(t, body)["error"] != "JWT validation failed: JWT is expired" {
		t.Errorf("expired token: status %d body %s", code, body)
	}
}

func TestCreateGetPutDelete(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tt := startTenant(t, Config{Now: clock.Now, SecretKeys: []string{"password", "apiKey"}})

	in := snow("ServiceNow Production")
	in["id"], in["created"] = "ignored", "2000-01-01T00:00:00Z"
	code, _, body := tt.call("POST", sdimV3, in)
	if code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	got := obj(t, body)
	id, _ := got["id"].(string)
	if !hex32.MatchString(id) {
		t.Fatalf("id %q is not 32 hex digits", id)
	}
	if got["created"] != "2026-01-01T00:00:00.000Z" || got["modified"] != got["created"] {
		t.Errorf("timestamps created=%v modified=%v", got["created"], got["modified"])
	}
	attrs := got["attributes"].(map[string]any)
	if _, ok := attrs["Password"]; ok {
		t.Errorf("a secret attribute came back: %v", attrs)
	}
	if nested := attrs["nested"].(map[string]any); len(nested) != 0 {
		t.Errorf("a nested secret came back: %v", nested)
	}
	if attrs["username"] != "svc" {
		t.Errorf("a plain attribute was lost: %v", attrs)
	}
	stored := tt.e.State().ServiceDeskIntegrations[0]["attributes"].(map[string]any)
	if stored["Password"] != "hunter2" {
		t.Errorf("the secret was not stored: %v", stored)
	}
	if got["cluster"] != "2c9180847a7fccdd017aa5896f9f4f6f" || len(got["managedSources"].([]any)) != 1 {
		t.Errorf("deprecated aliases not filled: cluster=%v managedSources=%v", got["cluster"], got["managedSources"])
	}

	code, _, body = tt.call("GET", sdimV3+"/"+id, nil)
	if code != 200 || obj(t, body)["name"] != "ServiceNow Production" {
		t.Fatalf("get: %d %s", code, body)
	}
	// The same object through every version's path.
	for _, p := range []string{"/v2024/service-desk-integrations/", "/v2025/service-desk-integrations/", "/service-desk-integrations/v1/"} {
		if code, _, _ := tt.call("GET", p+id, nil); code != 200 {
			t.Errorf("GET %s: %d", p+id, code)
		}
	}

	clock.Add(time.Minute)
	put := map[string]any{"name": "ServiceNow Production", "description": "replaced", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://other"}}
	code, _, body = tt.call("PUT", sdimV3+"/"+id, put)
	if code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	got = obj(t, body)
	if _, ok := got["ownerRef"]; ok {
		t.Errorf("PUT kept a field it was not sent: %v", got["ownerRef"])
	}
	if a := got["attributes"].(map[string]any); len(a) != 1 || a["url"] != "https://other" {
		t.Errorf("PUT did not replace the attributes: %v", a)
	}
	if got["created"] != "2026-01-01T00:00:00.000Z" || got["modified"] != "2026-01-01T00:01:00.000Z" {
		t.Errorf("after PUT created=%v modified=%v", got["created"], got["modified"])
	}
	// modified moves on every write, even when the clock stands still.
	_, _, body = tt.call("PUT", sdimV3+"/"+id, put)
	if m := obj(t, body)["modified"]; m != "2026-01-01T00:01:00.001Z" {
		t.Errorf("modified after a second PUT at the same instant = %v", m)
	}

	if code, _, body := tt.call("DELETE", sdimV3+"/"+id, nil); code != 204 || len(body) != 0 {
		t.Errorf("delete: %d %s", code, body)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if code, _, body := tt.call(m, sdimV3+"/"+id, nil); code != 404 || !strings.Contains(errText(t, body), id) {
			t.Errorf("%s after delete: %d %s", m, code, body)
		}
	}
	if code, _, body := tt.call("PUT", sdimV3+"/"+id, put); code != 404 {
		t.Errorf("PUT unknown id: %d %s", code, body)
	}
}

func TestCreateValidation(t *testing.T) {
	tt := startTenant(t, Config{})
	if code, _, body := tt.call("POST", sdimV3, snow("Taken")); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	with := func(mut func(m map[string]any)) map[string]any {
		m := snow("New")
		mut(m)
		return m
	}
	tests := []struct {
		name     string
		body     any
		headers  []string
		status   int
		wantText string
	}{
		{"missing name", with(func(m map[string]any) { delete(m, "name") }), nil, 400, "'name' is required"},
		{"empty name", with(func(m map[string]any) { m["name"] = "" }), nil, 400, "'name' must not be empty"},
		{"missing description", with(func(m map[string]any) { delete(m, "description") }), nil, 400, "'description' is required"},
		{"missing type", with(func(m map[string]any) { delete(m, "type") }), nil, 400, "'type' is required"},
		{"missing attributes", with(func(m map[string]any) { delete(m, "attributes") }), nil, 400, "'attributes' is required"},
		{"attributes not an object", with(func(m map[string]any) { m["attributes"] = []any{} }), nil, 400, "'attributes' must be an object"},
		{"name not a string", with(func(m map[string]any) { m["name"] = 5 }), nil, 400, "'name' must be a string"},
		{"wrong owner type", with(func(m map[string]any) { m["ownerRef"] = map[string]any{"type": "SOURCE", "id": "x"} }), nil, 400, "'ownerRef.type' must be IDENTITY"},
		{"ref without id", with(func(m map[string]any) { m["clusterRef"] = map[string]any{"type": "CLUSTER"} }), nil, 400, "'clusterRef.id' is required"},
		{"bad source ref", with(func(m map[string]any) {
			m["provisioningConfig"] = map[string]any{"managedResourceRefs": []any{map[string]any{"type": "RULE", "id": "x"}}}
		}), nil, 400, "'provisioningConfig.managedResourceRefs[0].type' must be SOURCE"},
		{"expiration not an integer", with(func(m map[string]any) {
			m["provisioningConfig"] = map[string]any{"provisioningRequestExpiration": 1.5}
		}), nil, 400, "provisioningRequestExpiration' must be a 32-bit integer"},
		{"duplicate name", snow("Taken"), nil, 400, `named "Taken" already exists`},
		{"not JSON", `{"name":`, nil, 400, "not valid JSON"},
		{"trailing data", `{} {}`, nil, 400, "not valid JSON"},
		{"an array", `[]`, nil, 400, "must be a JSON object"},
		{"empty body", ` `, nil, 400, "empty"},
		{"wrong content type", snow("New"), []string{"Content-Type", "text/plain"}, 415, "Content-Type must be application/json"},
		{"no content type", snow("New"), []string{"Content-Type", ""}, 415, "Content-Type must be application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := tt.call("POST", sdimV3, tc.body, tc.headers...)
			if code != tc.status || !strings.Contains(errText(t, body), tc.wantText) {
				t.Errorf("status %d %s; want %d with %q", code, body, tc.status, tc.wantText)
			}
		})
	}
	if n := len(tt.e.State().ServiceDeskIntegrations); n != 1 {
		t.Errorf("refused creates stored objects: %d objects", n)
	}
}

func TestTolerantReferences(t *testing.T) {
	tt := startTenant(t, Config{RefNames: map[string]string{"2c9180a46faadee4016fb4e018c20639": "Support"}})
	in := map[string]any{
		"name": "Legacy", "description": "", "type": "Web Service SDIM", "attributes": map[string]any{"n": 1470348809380},
		"ownerRef": map[string]any{"id": "2c9180a46faadee4016fb4e018c20639"}, "beforeProvisioningRule": "",
		"cluster": "xyzzy999", "managedSources": []any{"s2", "s1"},
	}
	code, _, body := tt.call("POST", sdimV3, in)
	if code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	if !strings.Contains(string(body), `"n":1470348809380`) {
		t.Errorf("a large number attribute changed: %s", body)
	}
	got := obj(t, body)
	if o := got["ownerRef"].(map[string]any); o["type"] != "IDENTITY" || o["name"] != "Support" {
		t.Errorf("ownerRef = %v, want default type and the tenant's name", o)
	}
	if _, ok := got["beforeProvisioningRule"]; ok {
		t.Errorf(`"" reference was stored: %v`, got["beforeProvisioningRule"])
	}
	if c := got["clusterRef"].(map[string]any); c["id"] != "xyzzy999" || c["type"] != "CLUSTER" {
		t.Errorf("cluster alias not folded: %v", c)
	}
	refs := got["provisioningConfig"].(map[string]any)["managedResourceRefs"].([]any)
	if len(refs) != 2 || refs[0].(map[string]any)["id"] != "s2" {
		t.Errorf("managedSources alias not folded: %v", refs)
	}
}

func TestList(t *testing.T) {
	tt := startTenant(t, Config{})
	names := []string{"Charlie", "alpha", "Bravo", "Delta \"quoted\"", "Echo"}
	ids := map[string]string{}
	for i, n := range names {
		m := snow(n)
		if i%2 == 1 {
			m["type"] = "JiraCloudSDIM"
			m["clusterRef"] = map[string]any{"type": "CLUSTER", "id": "c2"}
		}
		code, _, body := tt.call("POST", sdimV3, m)
		if code != 200 {
			t.Fatalf("create %s: %d %s", n, code, body)
		}
		ids[n] = obj(t, body)["id"].(string)
	}
	q := func(params ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(params); i += 2 {
			v.Set(params[i], params[i+1])
		}
		return sdimV3 + "?" + v.Encode()
	}
	tests := []struct {
		name      string
		path      string
		want      []string
		wantTotal string
	}{
		{"default order is creation order", q(), names, ""},
		{"page", q("offset", "1", "limit", "2"), []string{"alpha", "Bravo"}, ""},
		{"count", q("offset", "4", "limit", "2", "count", "true"), []string{"Echo"}, "5"},
		{"offset past the end", q("offset", "9", "count", "true"), []string{}, "5"},
		{"limit 0", q("limit", "0", "count", "true"), []string{}, "5"},
		{"sorted by name", q("sorters", "name"), []string{"Bravo", "Charlie", "Delta \"quoted\"", "Echo", "alpha"}, ""},
		{"sorted by -name", q("sorters", "-name", "limit", "2"), []string{"alpha", "Echo"}, ""},
		{"name eq with quotes", q("filters", `name eq "Delta \"quoted\""`), []string{"Delta \"quoted\""}, ""},
		{"id in", q("filters", `id in ("`+ids["Echo"]+`","`+ids["alpha"]+`")`), []string{"alpha", "Echo"}, ""},
		{"type eq and count", q("filters", `type eq "JiraCloudSDIM"`, "count", "true"), []string{"alpha", "Delta \"quoted\""}, "2"},
		{"cluster in", q("filters", `cluster in ("c2")`, "sorters", "name"), []string{"Delta \"quoted\"", "alpha"}, ""},
		{"filtered page with count", q("filters", `type in ("ServiceNowSDIM")`, "limit", "1", "offset", "1", "count", "true"), []string{"Bravo"}, "3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := tt.call("GET", tc.path, nil)
			if code != 200 {
				t.Fatalf("status %d %s", code, body)
			}
			var got []string
			for _, o := range list(t, body) {
				got = append(got, o["name"].(string))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("names %q, want %q", got, tc.want)
			}
			if h.Get("X-Total-Count") != tc.wantTotal {
				t.Errorf("X-Total-Count %q, want %q", h.Get("X-Total-Count"), tc.wantTotal)
			}
		})
	}
	bad := []struct{ name, path, want string }{
		{"limit over 250", q("limit", "251"), "'limit' must be an integer from 0 to 250"},
		{"negative offset", q("offset", "-1"), "'offset'"},
		{"bad count", q("count", "maybe"), "'count'"},
		{"unsupported filter field", q("filters", `description eq "x"`), `field "description" cannot be filtered`},
		{"unsupported operator", q("filters", `name co "x"`), `operator "co" is not supported on "name"`},
		{"unsupported sorter", q("sorters", "created"), "sorting is supported on name only"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := tt.call("GET", tc.path, nil)
			if code != 400 || !strings.Contains(errText(t, body), tc.want) {
				t.Errorf("status %d %s; want 400 with %q", code, body, tc.want)
			}
		})
	}
}

func TestPatch(t *testing.T) {
	tt := startTenant(t, Config{PatchablePaths: []string{"/beforeProvisioningRule", "/description"}})
	_, _, body := tt.call("POST", sdimV3, snow("Patched"))
	id := obj(t, body)["id"].(string)
	path := sdimV3 + "/" + id
	const jp = "application/json-patch+json"
	rule := map[string]any{"type": "RULE", "id": "2c918085708c274401708c2a8a760001"}
	tests := []struct {
		name        string
		body        any
		contentType string
		status      int
		want        string // in the error text, or the JSON of the patched field
		field       string
	}{
		{"set an unset rule", []any{map[string]any{"op": "replace", "path": "/beforeProvisioningRule", "value": rule}}, jp, 200, "2c918085708c274401708c2a8a760001", "beforeProvisioningRule"},
		{"replace below a patchable path", []any{map[string]any{"op": "replace", "path": "/beforeProvisioningRule/id", "value": "abc"}}, jp, 200, `"id":"abc"`, "beforeProvisioningRule"},
		{"configured path", []any{map[string]any{"op": "replace", "path": "/description", "value": "new"}}, jp, 200, `"new"`, "description"},
		{"path not patchable", []any{map[string]any{"op": "replace", "path": "/name", "value": "x"}}, jp, 403, "/name cannot be patched", ""},
		{"add refused", []any{map[string]any{"op": "add", "path": "/description", "value": "x"}}, jp, 403, `"add" is not allowed`, ""},
		{"remove refused", []any{map[string]any{"op": "remove", "path": "/beforeProvisioningRule"}}, jp, 403, `"remove" is not allowed`, ""},
		{"invalid value", []any{map[string]any{"op": "replace", "path": "/beforeProvisioningRule", "value": map[string]any{"type": "SOURCE", "id": "x"}}}, jp, 400, "'beforeProvisioningRule.type' must be RULE", ""},
		{"missing value", []any{map[string]any{"op": "replace", "path": "/description"}}, jp, 400, "'value' is required", ""},
		{"SIM-shaped body", map[string]any{"operations": []any{}}, jp, 400, "must be a JSON array", ""},
		{"empty array", []any{}, jp, 400, "no patch operations", ""},
		{"plain JSON content type", []any{}, "application/json", 415, "application/json-patch+json", ""},
		{"merge patch content type", map[string]any{"description": "x"}, "application/merge-patch+json", 415, "application/json-patch+json", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := tt.call("PATCH", path, tc.body, "Content-Type", tc.contentType)
			if code != tc.status {
				t.Fatalf("status %d %s, want %d", code, body, tc.status)
			}
			if code != 200 {
				if !strings.Contains(errText(t, body), tc.want) {
					t.Errorf("error %s, want %q", body, tc.want)
				}
				return
			}
			if f, _ := json.Marshal(obj(t, body)[tc.field]); !strings.Contains(string(f), tc.want) {
				t.Errorf("%s = %s, want %s", tc.field, f, tc.want)
			}
		})
	}
	if code, _, _ := tt.call("PATCH", sdimV3+"/0000", []any{map[string]any{"op": "replace", "path": "/description", "value": "x"}}, "Content-Type", jp); code != 404 {
		t.Errorf("PATCH unknown id: %d", code)
	}
	// A PATCH keeps the secrets it did not touch.
	if a := tt.e.State().ServiceDeskIntegrations[0]["attributes"].(map[string]any); a["Password"] != "hunter2" {
		t.Errorf("PATCH lost a secret: %v", a)
	}
}

func TestStatusCheck(t *testing.T) {
	tt := startTenant(t, Config{})
	for _, base := range []string{sdimV3, "/service-desk-integrations/v1"} {
		path := base + "/status-check-configuration"
		code, _, body := tt.call("GET", path, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		if got := obj(t, body); got["provisioningStatusCheckIntervalMinutes"] == nil {
			t.Fatalf("GET %s: %s", path, body)
		}
	}
	path := sdimV3 + "/status-check-configuration"
	tests := []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"strings", map[string]any{"provisioningStatusCheckIntervalMinutes": "45", "provisioningMaxStatusCheckDays": "3"}, 200, ""},
		{"numbers", map[string]any{"provisioningStatusCheckIntervalMinutes": 45, "provisioningMaxStatusCheckDays": "3"}, 400, "'provisioningStatusCheckIntervalMinutes' must be a string"},
		{"zero", map[string]any{"provisioningStatusCheckIntervalMinutes": "45", "provisioningMaxStatusCheckDays": "0"}, 400, "'provisioningMaxStatusCheckDays' must be a string holding a positive integer"},
		{"not a number", map[string]any{"provisioningStatusCheckIntervalMinutes": "soon", "provisioningMaxStatusCheckDays": "3"}, 400, "positive integer"},
		{"missing", map[string]any{"provisioningStatusCheckIntervalMinutes": "45"}, 400, "'provisioningMaxStatusCheckDays' is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := tt.call("PUT", path, tc.body)
			if code != tc.status {
				t.Fatalf("status %d %s", code, body)
			}
			if tc.want != "" && !strings.Contains(errText(t, body), tc.want) {
				t.Errorf("error %s, want %q", body, tc.want)
			}
		})
	}
	_, _, body := tt.call("GET", "/v2025/service-desk-integrations/status-check-configuration", nil)
	if got := obj(t, body); got["provisioningStatusCheckIntervalMinutes"] != "45" || got["provisioningMaxStatusCheckDays"] != "3" {
		t.Errorf("after PUT: %s", body)
	}
	if code, _, _ := tt.call("DELETE", path, nil); code != 405 {
		t.Errorf("DELETE of the singleton: %d, want 405", code)
	}
}

func TestTypesAndTemplates(t *testing.T) {
	tt := startTenant(t, Config{})
	code, _, body := tt.call("GET", sdimV3+"/types", nil)
	if code != 200 {
		t.Fatalf("types: %d", code)
	}
	types := list(t, body)
	if len(types) != 7 {
		t.Fatalf("%d types, want 7", len(types))
	}
	for _, ty := range types {
		code, _, body := tt.call("GET", "/service-desk-integrations/v1/templates/"+ty["scriptName"].(string), nil)
		if code != 200 {
			t.Fatalf("template %v: %d", ty["scriptName"], code)
		}
		tmpl := obj(t, body)
		if tmpl["type"] != ty["type"] || tmpl["attributes"] == nil || tmpl["provisioningConfig"] == nil {
			t.Errorf("template %v: %s", ty["scriptName"], body)
		}
	}
	if code, _, _ := tt.call("GET", sdimV3+"/templates/nope", nil); code != 404 {
		t.Errorf("unknown template: %d, want 404", code)
	}
}

func TestSIM(t *testing.T) {
	tt := startTenant(t, Config{})
	exp := []string{"X-SailPoint-Experimental", "true"}
	in := map[string]any{
		"name": "ServiceNow SIM", "description": "Legacy SIM", "type": "ServiceNow Service Desk", "cluster": "xyzzy999",
		"sources": []any{"2c9180835d191a86015d28455b4a2329"}, "statusMap": map[string]any{"closed_complete": "Committed"},
		"request": map[string]any{"description": "SailPoint Access Request"}, "attributes": map[string]any{"uid": "svc", "password": "p"},
	}
	for _, base := range []string{"/v2024/sim-integrations", "/v2025/sim-integrations", "/sim-integrations/v1"} {
		t.Run(base, func(t *testing.T) {
			if code, _, body := tt.call("GET", base, nil); code != 400 || !strings.Contains(errText(t, body), "X-SailPoint-Experimental") {
				t.Errorf("without the header: %d %s", code, body)
			}
			m := map[string]any{}
			for k, v := range in {
				m[k] = v
			}
			m["name"] = "SIM " + base
			code, _, body := tt.call("POST", base, m, exp...)
			if code != 200 {
				t.Fatalf("create: %d %s", code, body)
			}
			got := obj(t, body)
			id := got["id"].(string)
			if _, ok := got["attributes"].(map[string]any)["password"]; ok || got["cluster"] != "xyzzy999" {
				t.Errorf("create answered %s", body)
			}
			if code, _, body := tt.call("GET", base+"/"+id, nil, exp...); code != 200 || obj(t, body)["name"] != m["name"] {
				t.Errorf("get: %d %s", code, body)
			}
			ops := map[string]any{"operations": []any{map[string]any{"op": "replace", "path": "/beforeProvisioningRule", "value": map[string]any{"type": "RULE", "id": "r1"}}}}
			if code, _, body := tt.call("PATCH", base+"/"+id, ops, append(exp, "Content-Type", "application/json-patch+json")...); code != 200 || !strings.Contains(string(body), `"r1"`) {
				t.Errorf("patch: %d %s", code, body)
			}
			if code, _, body := tt.call("PATCH", base+"/"+id, []any{}, append(exp, "Content-Type", "application/json-patch+json")...); code != 400 || !strings.Contains(errText(t, body), "operations") {
				t.Errorf("patch with a bare array: %d %s", code, body)
			}
			rel := map[string]any{"operations": []any{map[string]any{"op": "replace", "path": "/id", "value": "r2"}}}
			if code, _, body := tt.call("PATCH", base+"/"+id+"/beforeProvisioningRule", rel, append(exp, "Content-Type", "application/json-patch+json")...); code != 200 || !strings.Contains(string(body), `"r2"`) {
				t.Errorf("patch rule: %d %s", code, body)
			}
			m["description"] = "changed"
			if code, _, body := tt.call("PUT", base+"/"+id, m, exp...); code != 200 || obj(t, body)["description"] != "changed" {
				t.Errorf("put: %d %s", code, body)
			}
			if code, _, body := tt.call("DELETE", base+"/"+id, nil, exp...); code != 200 {
				t.Errorf("delete: %d %s", code, body)
			}
			if code, _, _ := tt.call("GET", base+"/"+id, nil, exp...); code != 404 {
				t.Errorf("get after delete: %d", code)
			}
		})
	}
	if code, _, _ := tt.call("GET", "/v3/sim-integrations", nil, exp...); code != 404 {
		t.Errorf("v3 has no SIM API, got %d", code)
	}
}

func TestCountersAndAdmin(t *testing.T) {
	tt := startTenant(t, Config{})
	tt.call("GET", sdimV3, nil)
	tt.call("POST", sdimV3, snow("Counted"))
	tt.call("POST", sdimV3, map[string]any{}) // refused, but still a write request
	c := tt.e.Counters()
	if c.Requests["GET "+sdimV3] != 1 || c.Writes["POST "+sdimV3] != 2 || c.Committed != 1 || c.TotalWrites() != 2 {
		t.Errorf("counters %+v", c)
	}
	if c.Requests["POST "+TokenPath] != 1 {
		t.Errorf("token requests %d", c.Requests["POST "+TokenPath])
	}
	resp, err := http.Get(tt.srv.URL + AdminPrefix + "counters")
	if err != nil {
		t.Fatal(err)
	}
	var remote Counters
	_ = json.NewDecoder(resp.Body).Decode(&remote)
	resp.Body.Close()
	if remote.Committed != 1 || remote.Writes["POST "+sdimV3] != 2 {
		t.Errorf("admin counters %+v", remote)
	}
	req, _ := http.NewRequest("POST", tt.srv.URL+AdminPrefix+"counters/reset", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("reset: %v", err)
	}
	if c := tt.e.Counters(); c.TotalRequests() != 0 || c.TotalWrites() != 0 {
		t.Errorf("after reset %+v", c)
	}
	// Faults can be switched over HTTP.
	req, _ = http.NewRequest("PUT", tt.srv.URL+AdminPrefix+"faults", strings.NewReader(`{"force429": 1, "retryAfterSeconds": 7}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("set faults: %v %v", resp.StatusCode, err)
	}
	code, h, _ := tt.call("GET", sdimV3, nil)
	if code != 429 || h.Get("Retry-After") != "7" {
		t.Errorf("forced 429: %d Retry-After %q", code, h.Get("Retry-After"))
	}
	req, _ = http.NewRequest("PUT", tt.srv.URL+AdminPrefix+"faults", strings.NewReader(`{"errorRate": 2}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("invalid faults accepted: %v", resp.StatusCode)
	}
}

// TestConcurrentReadsAndWrites runs reads, lists and writes of one object side by side; the
// race detector (go test -race) checks the emulator's locking.
func TestConcurrentReadsAndWrites(t *testing.T) {
	tt := startTenant(t, Config{RateLimit: -1})
	_, _, body := tt.call("POST", sdimV3, snow("Shared"))
	id := obj(t, body)["id"].(string)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 20 {
				switch (w + i) % 3 {
				case 0:
					m := snow("Shared")
					m["description"] = "writer"
					if code, _, body := tt.call("PUT", sdimV3+"/"+id, m); code != 200 {
						t.Errorf("put: %d %s", code, body)
					}
				case 1:
					if code, _, _ := tt.call("GET", sdimV3+"/"+id, nil); code != 200 {
						t.Errorf("get: %d", code)
					}
				default:
					if code, _, _ := tt.call("GET", sdimV3+"?sorters=name&count=true", nil); code != 200 {
						t.Errorf("list: %d", code)
					}
				}
			}
		})
	}
	wg.Wait()
}
