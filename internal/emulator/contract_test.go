package emulator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/contracttest"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// The contract tests drive the emulator through a client whose transport validates every
// request and response against SailPoint's OpenAPI documents (see contract_helpers_test.go).
// Run them with:
//
//	go test -race ./internal/emulator/ -run Contract -v
//
// SDIM_SPEC_DIR overrides where the documents are (default ../../../shared/spec).

// Reference ids the scenarios send.
const (
	ownerID   = "2c9180a46faadee4016fb4e018c20639"
	clusterID = "2c9180847a7fccdd017aa5896f9f4f6f"
	sourceID  = "2c9180855d191c59015d291ceb051111"
	ruleID1   = "048eb3d55c5a4758bd07dccb87741c78"
	ruleID2   = "2c918085708c274401708c2a8a760001"
	ruleID3   = "2c918085708c274401708c2a8a760002"
	unknownID = "ffffffffffffffffffffffffffffffff"
	password  = "s3cr3t-do-not-return"
)

func TestContractSpecsLoadAndValidate(t *testing.T) {
	dir := contracttest.Dir(t)
	for _, f := range contracttest.Files() {
		t.Run(f.Name, func(t *testing.T) {
			doc := contracttest.Load(t, dir, f) // loads with external refs refused, then doc.Validate
			if got := doc.Paths.Len(); got != f.Paths {
				t.Errorf("%s has %d paths, want %d", f.Name, got, f.Paths)
			}
			for path := range doc.Paths.Map() {
				if full := f.Base + path; !strings.HasPrefix(full, strings.TrimSuffix(f.Prefix, "/")) {
					t.Errorf("%s: path %s is outside the prefix %s the tests route to it", f.Name, full, f.Prefix)
				}
			}
		})
	}
}

// step is one request of a scenario and what it must answer.
type step struct {
	name   string
	method string
	path   string     // may hold placeholders such as {id}, filled from earlier answers
	query  url.Values // values may hold placeholders too
	// body is sent as JSON, or as is when it is a string.
	body        any
	contentType string // default application/json when there is a body
	sim         bool   // send X-SailPoint-Experimental: true
	noAuth      bool   // send no Authorization header
	auth        string // an Authorization header to send instead of the token
	expect      contracttest.Expectation
	before      func(t *testing.T, s *scenario)
	wantStatus  int
	check       func(t *testing.T, s *scenario, resp *http.Response, body []byte)
}

// scenario is the state one version's steps share.
type scenario struct {
	env  *contractEnv
	vars map[string]string // placeholder -> value, e.g. "{id}"
}

var placeholderRE = regexp.MustCompile(`\{[A-Za-z0-9]+\}`)

// expand fills the placeholders of s; ok is false when one is still unknown.
func (s *scenario) expand(in string) (out string, missing string) {
	out = placeholderRE.ReplaceAllStringFunc(in, func(p string) string {
		if v, ok := s.vars[p]; ok {
			return v
		}
		missing = p
		return p
	})
	return out, missing
}

func (s *scenario) run(t *testing.T, st step) {
	t.Helper()
	if st.before != nil {
		st.before(t, s)
	}
	path, missing := s.expand(st.path)
	q := url.Values{}
	for k, vs := range st.query {
		for _, v := range vs {
			ev, m := s.expand(v)
			if m != "" {
				missing = m
			}
			q.Add(k, ev)
		}
	}
	if missing != "" {
		t.Skipf("%s is unknown: an earlier step failed", missing)
	}
	u := s.env.srv.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if st.body != nil {
		switch b := st.body.(type) {
		case string:
			body = strings.NewReader(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatalf("encoding the body: %v", err)
			}
			body = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequestWithContext(contracttest.WithExpectation(t.Context(), st.expect), st.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if st.body != nil {
		ct := st.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case st.auth != "":
		req.Header.Set("Authorization", st.auth)
	case !st.noAuth:
		req.Header.Set("Authorization", "Bearer "+s.env.token)
	}
	if st.sim {
		req.Header.Set(sdim.ExperimentalHeader, "true")
	}
	resp, err := s.env.client(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", st.method, path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", st.method, path, err)
	}
	if resp.StatusCode != st.wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body: %s", st.method, path, resp.StatusCode, st.wantStatus, respBody)
	}
	if st.check != nil {
		st.check(t, s, resp, respBody)
	}
}

func TestContractEmulator(t *testing.T) {
	contracttest.Dir(t) // skip early, with the path, when the spec is absent
	for _, v := range sdim.APIVersions() {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			env := newContractEnv(t)
			s := &scenario{env: env, vars: map[string]string{}}
			steps := serviceDeskSteps(v)
			if v.HasSIM() {
				steps = append(steps, simSteps(v)...)
			}
			steps = append(steps, rateLimitStep(v))
			for _, st := range steps {
				t.Run(st.name, func(t *testing.T) { s.run(t, st) })
			}

			// The test must not pass by validating nothing: every step but the ones
			// marked otherwise had its request and its response validated.
			var wantRequests, wantResponses int64
			for _, st := range steps {
				if !st.expect.InvalidRequest {
					wantRequests++
				}
				if st.expect.UnlistedStatus == 0 {
					wantResponses++
				}
			}
			if got := env.stats.Requests.Load(); got < wantRequests || got < 20 {
				t.Errorf("%d requests validated against the spec, want at least %d", got, max(wantRequests, 20))
			}
			if got := env.stats.Responses.Load(); got < wantResponses || got < 25 {
				t.Errorf("%d responses validated against the spec, want at least %d", got, max(wantResponses, 25))
			}
			seen := env.stats.Seen()
			t.Logf("%s: %d requests and %d responses validated, %d operations exercised",
				v, env.stats.Requests.Load(), env.stats.Responses.Load(), len(seen))
			for _, op := range env.operationsOf(v) {
				if seen[op] == 0 {
					t.Errorf("operation %s of the %s spec was never exercised", op, v)
				}
			}
		})
	}
}

// fullIntegration is a ServiceDeskIntegrationDto with every writable field set.
func fullIntegration(name, description string) map[string]any {
	return map[string]any{
		"name":        name,
		"description": description,
		"type":        "ServiceNowSDIM",
		"ownerRef":    map[string]any{"type": "IDENTITY", "id": ownerID, "name": "Support"},
		"clusterRef":  map[string]any{"type": "CLUSTER", "id": clusterID, "name": "Training VA"},
		"provisioningConfig": map[string]any{
			"managedResourceRefs": []any{
				map[string]any{"type": "SOURCE", "id": sourceID, "name": "My Source 1"},
			},
			"planInitializerScript":         map[string]any{"source": "<Rule name=\"Example Rule\"/>"},
			"noProvisioningRequests":        true,
			"provisioningRequestExpiration": 7,
		},
		"beforeProvisioningRule": map[string]any{"type": "RULE", "id": ruleID1, "name": "Before Provisioning Rule"},
		"attributes": map[string]any{
			"url":      "https://example.service-now.com",
			"username": "svc-sailpoint",
			"password": password,
		},
	}
}

func serviceDeskSteps(v sdim.APIVersion) []step {
	base := v.ServiceDeskPath()
	nameA := "Contract A ServiceNow " + string(v)
	nameB := "Contract B Jira " + string(v)
	invalid := contracttest.Expectation{InvalidRequest: true}
	return []step{
		{
			name: "create", method: http.MethodPost, path: base,
			body:       fullIntegration(nameA, "created by the contract test"),
			wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				m := decodeObject(t, body)
				id := str(m, "id")
				if id == "" {
					t.Fatalf("create answered no id: %s", body)
				}
				s.vars["{id}"] = id
				wantFields(t, m, map[string]string{
					"name":                        nameA,
					"ownerRef.id":                 ownerID,
					"clusterRef.id":               clusterID,
					"cluster":                     clusterID,
					"beforeProvisioningRule.id":   ruleID1,
					"beforeProvisioningRule.type": "RULE",
					"attributes.username":         "svc-sailpoint",
				})
				wantSecretHidden(t, m)
				refs, _ := dig(m, "provisioningConfig.managedResourceRefs").([]any)
				if len(refs) != 1 || str(refs[0].(map[string]any), "id") != sourceID {
					t.Errorf("provisioningConfig.managedResourceRefs = %v, want the one source %s", refs, sourceID)
				}
				if created, modified := str(m, "created"), str(m, "modified"); created == "" || modified == "" {
					t.Errorf("created %q / modified %q must be set", created, modified)
				}
			},
		},
		{
			name: "create second", method: http.MethodPost, path: base,
			body: map[string]any{
				"name": nameB, "description": "", "type": "JiraCloudSDIM",
				"attributes": map[string]any{"url": "https://example.atlassian.net"},
			},
			wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				s.vars["{id2}"] = str(decodeObject(t, body), "id")
			},
		},
		{
			name: "get", method: http.MethodGet, path: base + "/{id}", wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				m := decodeObject(t, body)
				wantFields(t, m, map[string]string{"id": s.vars["{id}"], "name": nameA})
				wantSecretHidden(t, m)
			},
		},
		{
			name: "list filtered by type", method: http.MethodGet, path: base,
			query: url.Values{
				"offset": {"0"}, "limit": {"10"}, "count": {"true"},
				"filters": {`type eq "ServiceNowSDIM"`}, "sorters": {"name"},
			},
			wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, resp *http.Response, body []byte) {
				wantTotal(t, resp, "1")
				wantIDs(t, decodeArray(t, body), s.vars["{id}"])
			},
		},
		{
			name: "list page two by -name", method: http.MethodGet, path: base,
			query: url.Values{
				"offset": {"1"}, "limit": {"1"}, "count": {"true"},
				"filters": {`id in ("{id}","{id2}")`}, "sorters": {"-name"},
			},
			wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, resp *http.Response, body []byte) {
				wantTotal(t, resp, "2")
				wantIDs(t, decodeArray(t, body), s.vars["{id}"]) // B, then A
			},
		},
		{
			name: "put", method: http.MethodPut, path: base + "/{id}",
			body: func() map[string]any {
				b := fullIntegration(nameA, "updated by the contract test")
				delete(b, "beforeProvisioningRule")
				return b
			}(),
			wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				m := decodeObject(t, body)
				wantFields(t, m, map[string]string{"id": s.vars["{id}"], "description": "updated by the contract test"})
				if _, ok := m["beforeProvisioningRule"]; ok {
					t.Errorf("PUT without beforeProvisioningRule kept it: %v", m["beforeProvisioningRule"])
				}
				wantSecretHidden(t, m)
			},
		},
		{
			name: "patch beforeProvisioningRule", method: http.MethodPatch, path: base + "/{id}",
			contentType: "application/json-patch+json",
			body:        []any{replaceOp("/beforeProvisioningRule", map[string]any{"type": "RULE", "id": ruleID2})},
			wantStatus:  http.StatusOK,
			check: func(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
				wantFields(t, decodeObject(t, body), map[string]string{
					"beforeProvisioningRule.id":   ruleID2,
					"beforeProvisioningRule.type": "RULE",
					"description":                 "updated by the contract test",
				})
			},
		},
		{
			name: "patch of a field not patchable", method: http.MethodPatch, path: base + "/{id}",
			contentType: "application/json-patch+json",
			body:        []any{replaceOp("/name", "renamed")},
			wantStatus:  http.StatusForbidden,
			check:       wantDetailCode("403 Forbidden"),
		},
		{
			name: "patch with an op other than replace", method: http.MethodPatch, path: base + "/{id}",
			contentType: "application/json-patch+json",
			body:        []any{map[string]any{"op": "remove", "path": "/beforeProvisioningRule"}},
			wantStatus:  http.StatusForbidden,
		},
		{
			name: "patch with the wrong content type", method: http.MethodPatch, path: base + "/{id}",
			body:       []any{replaceOp("/beforeProvisioningRule", map[string]any{"type": "RULE", "id": ruleID1})},
			expect:     contracttest.Expectation{InvalidRequest: true, UnlistedStatus: http.StatusUnsupportedMediaType},
			wantStatus: http.StatusUnsupportedMediaType,
		},
		{
			name: "method not allowed", method: http.MethodPost, path: base + "/{id}",
			body:       fullIntegration(nameA, "x"),
			expect:     contracttest.Expectation{InvalidRequest: true, UnlistedStatus: http.StatusMethodNotAllowed},
			wantStatus: http.StatusMethodNotAllowed,
			check: func(t *testing.T, _ *scenario, resp *http.Response, _ []byte) {
				if allow := resp.Header.Get("Allow"); !strings.Contains(allow, http.MethodGet) {
					t.Errorf("Allow = %q, want it to list GET", allow)
				}
			},
		},
		{
			name: "get unknown id", method: http.MethodGet, path: base + "/" + unknownID,
			wantStatus: http.StatusNotFound, check: wantDetailCode("404 Not found"),
		},
		{
			name: "create without attributes", method: http.MethodPost, path: base,
			body:       map[string]any{"name": "Contract no attributes", "description": "", "type": "ServiceNowSDIM"},
			expect:     invalid,
			wantStatus: http.StatusBadRequest, check: wantDetailCode("400.1 Bad Request Content"),
		},
		{
			name: "list with limit over 250", method: http.MethodGet, path: base,
			query:  url.Values{"limit": {"251"}},
			expect: invalid, wantStatus: http.StatusBadRequest,
		},
		{
			name: "types", method: http.MethodGet, path: base + "/types", wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				types := decodeArray(t, body)
				if len(types) == 0 {
					t.Fatal("no integration types")
				}
				first := types[0].(map[string]any)
				s.vars["{scriptName}"] = str(first, "scriptName")
				s.vars["{type}"] = str(first, "type")
			},
		},
		{
			name: "template", method: http.MethodGet, path: base + "/templates/{scriptName}", wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				wantFields(t, decodeObject(t, body), map[string]string{"type": s.vars["{type}"]})
			},
		},
		{
			name: "unknown template", method: http.MethodGet, path: base + "/templates/no-such-script",
			wantStatus: http.StatusNotFound,
		},
		{
			name: "status check get", method: http.MethodGet, path: base + "/status-check-configuration",
			wantStatus: http.StatusOK,
		},
		{
			name: "status check put", method: http.MethodPut, path: base + "/status-check-configuration",
			body:       map[string]any{"provisioningStatusCheckIntervalMinutes": "45", "provisioningMaxStatusCheckDays": "3"},
			wantStatus: http.StatusOK,
			check: func(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
				wantFields(t, decodeObject(t, body), map[string]string{
					"provisioningStatusCheckIntervalMinutes": "45", "provisioningMaxStatusCheckDays": "3",
				})
			},
		},
		{
			name: "status check get after put", method: http.MethodGet, path: base + "/status-check-configuration",
			wantStatus: http.StatusOK,
			check: func(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
				wantFields(t, decodeObject(t, body), map[string]string{
					"provisioningStatusCheckIntervalMinutes": "45", "provisioningMaxStatusCheckDays": "3",
				})
			},
		},
		{
			name: "no token", method: http.MethodGet, path: base, noAuth: true,
			wantStatus: http.StatusUnauthorized, check: wantErrorField,
		},
		{
			name: "unknown token", method: http.MethodGet, path: base + "/{id}", auth: "Bearer not-a-token",
			wantStatus: http.StatusUnauthorized, check: wantErrorField,
		},
		{name: "delete second", method: http.MethodDelete, path: base + "/{id2}", wantStatus: http.StatusNoContent},
		{
			name: "delete", method: http.MethodDelete, path: base + "/{id}", wantStatus: http.StatusNoContent,
			check: func(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
				if len(body) != 0 {
					t.Errorf("204 answer has a body: %s", body)
				}
			},
		},
		{name: "get deleted", method: http.MethodGet, path: base + "/{id}", wantStatus: http.StatusNotFound},
		{name: "delete again", method: http.MethodDelete, path: base + "/{id}", wantStatus: http.StatusNotFound},
	}
}

// simDetails is a SimIntegrationDetails with every field set.
func simDetails(name, description string) map[string]any {
	return map[string]any{
		"name":        name,
		"description": description,
		"type":        "ServiceNow Service Desk",
		"cluster":     clusterID,
		"sources":     []any{sourceID},
		"statusMap": map[string]any{
			"closed_complete": "Committed", "closed_cancelled": "Failed", "requested": "Queued",
		},
		"request": map[string]any{
			"short_description": "SailPoint Access Request $!plan.arguments.identityRequestId",
		},
		"attributes": map[string]any{
			"uid": "sailpoint", "url": "https://example.service-now.com", "password": password,
		},
		"beforeProvisioningRule": map[string]any{"type": "RULE", "id": ruleID1, "name": "Example Rule"},
	}
}

func simSteps(v sdim.APIVersion) []step {
	base := v.SIMPath()
	name := "Contract SIM " + string(v)
	return []step{
		{
			name: "sim create", method: http.MethodPost, path: base, sim: true,
			body: simDetails(name, "created by the contract test"), wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				m := decodeObject(t, body)
				id := str(m, "id")
				if id == "" {
					t.Fatalf("SIM create answered no id: %s", body)
				}
				s.vars["{simID}"] = id
				wantFields(t, m, map[string]string{
					"name": name, "cluster": clusterID, "beforeProvisioningRule.id": ruleID1,
					"attributes.uid": "sailpoint",
				})
				wantSecretHidden(t, m)
			},
		},
		{
			name: "sim get", method: http.MethodGet, path: base + "/{simID}", sim: true, wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				wantFields(t, decodeObject(t, body), map[string]string{"id": s.vars["{simID}"], "name": name})
			},
		},
		{
			name: "sim list", method: http.MethodGet, path: base, sim: true, wantStatus: http.StatusOK,
			check: func(t *testing.T, s *scenario, _ *http.Response, body []byte) {
				wantIDs(t, decodeArray(t, body), s.vars["{simID}"])
			},
		},
		{
			name: "sim put", method: http.MethodPut, path: base + "/{simID}", sim: true,
			body:       simDetails(name, "updated by the contract test"),
			wantStatus: http.StatusOK,
			check: func(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
				m := decodeObject(t, body)
				wantFields(t, m, map[string]string{"description": "updated by the contract test"})
				wantSecretHidden(t, m)
			},
		},
		{
			name: "sim patch", method: http.MethodPatch, path: base + "/{simID}", sim: true,
			contentType: "application/json-patch+json",
			body: map[string]any{"operations": []any{
				replaceOp("/beforeProvisioningRule", map[string]any{"type": "RULE", "id": ruleID2}),
			}},
			wantStatus: http.StatusOK,
			check: func(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
				wantFields(t, decodeObject(t, body), map[string]string{"beforeProvisioningRule.id": ruleID2})
			},
		},
		{
			name: "sim patch beforeProvisioningRule", method: http.MethodPatch, path: base + "/{simID}/beforeProvisioningRule",
			sim: true, contentType: "application/json-patch+json",
			body: map[string]any{"operations": []any{
				replaceOp("/beforeProvisioningRule", map[string]any{"type": "RULE", "id": ruleID3, "name": "Third Rule"}),
			}},
			wantStatus: http.StatusOK,
			check: func(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
				wantFields(t, decodeObject(t, body), map[string]string{
					"beforeProvisioningRule.id": ruleID3, "description": "updated by the contract test",
				})
			},
		},
		{
			name: "sim patch of a field not patchable", method: http.MethodPatch, path: base + "/{simID}", sim: true,
			contentType: "application/json-patch+json",
			body:        map[string]any{"operations": []any{replaceOp("/description", "x")}},
			wantStatus:  http.StatusForbidden,
		},
		{
			name: "sim without experimental header", method: http.MethodGet, path: base + "/{simID}",
			expect: contracttest.Expectation{InvalidRequest: true}, wantStatus: http.StatusBadRequest,
		},
		{
			name: "sim get unknown id", method: http.MethodGet, path: base + "/" + unknownID, sim: true,
			wantStatus: http.StatusNotFound,
		},
		{
			name: "sim no token", method: http.MethodGet, path: base, sim: true, noAuth: true,
			wantStatus: http.StatusUnauthorized, check: wantErrorField,
		},
		{
			name: "sim delete", method: http.MethodDelete, path: base + "/{simID}", sim: true,
			wantStatus: http.StatusOK, // the SIM definitions list 200, not 204
		},
		{name: "sim get deleted", method: http.MethodGet, path: base + "/{simID}", sim: true, wantStatus: http.StatusNotFound},
	}
}

// rateLimitStep forces a 429, which must match the spec and carry Retry-After.
func rateLimitStep(v sdim.APIVersion) step {
	return step{
		name: "forced 429", method: http.MethodGet, path: v.ServiceDeskPath(),
		before: func(t *testing.T, s *scenario) {
			if err := s.env.emu.SetFaults(emulator.Faults{Force429: 1, RetryAfterSeconds: 2}); err != nil {
				t.Fatalf("SetFaults: %v", err)
			}
		},
		wantStatus: http.StatusTooManyRequests,
		check: func(t *testing.T, s *scenario, resp *http.Response, body []byte) {
			if got := resp.Header.Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After = %q, want %q", got, "2")
			}
			if msg := str(decodeObject(t, body), "message"); msg == "" {
				t.Errorf("429 body has no message: %s", body)
			}
			if left := s.env.emu.CurrentFaults().Force429; left != 0 {
				t.Errorf("%d forced 429s left after one request, want 0", left)
			}
		},
	}
}

func replaceOp(path string, value any) map[string]any {
	return map[string]any{"op": "replace", "path": path, "value": value}
}

func decodeObject(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, body)
	}
	return m
}

func decodeArray(t *testing.T, body []byte) []any {
	t.Helper()
	var a []any
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer is not a JSON array: %v: %s", err, body)
	}
	return a
}

// dig follows a dotted path of object keys.
func dig(m map[string]any, path string) any {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

func str(m map[string]any, path string) string {
	s, _ := dig(m, path).(string)
	return s
}

func wantFields(t *testing.T, m map[string]any, want map[string]string) {
	t.Helper()
	for path, w := range want {
		if got := dig(m, path); got != w {
			t.Errorf("%s = %v, want %q", path, got, w)
		}
	}
}

// wantSecretHidden checks that the password attribute sent is never returned.
func wantSecretHidden(t *testing.T, m map[string]any) {
	t.Helper()
	if _, ok := dig(m, "attributes").(map[string]any)["password"]; ok {
		t.Errorf("the answer returns the password attribute: %v", m["attributes"])
	}
	if raw, _ := json.Marshal(m); bytes.Contains(raw, []byte(password)) {
		t.Errorf("the answer holds the password value")
	}
}

func wantIDs(t *testing.T, items []any, ids ...string) {
	t.Helper()
	got := make([]string, 0, len(items))
	for _, it := range items {
		obj, _ := it.(map[string]any)
		got = append(got, str(obj, "id"))
	}
	if !slices.Equal(got, ids) {
		t.Errorf("ids %v, want %v", got, ids)
	}
}

func wantTotal(t *testing.T, resp *http.Response, want string) {
	t.Helper()
	if got := resp.Header.Get("X-Total-Count"); got != want {
		t.Errorf("X-Total-Count = %q, want %q", got, want)
	}
}

func wantDetailCode(code string) func(*testing.T, *scenario, *http.Response, []byte) {
	return func(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
		t.Helper()
		if got := str(decodeObject(t, body), "detailCode"); got != code {
			t.Errorf("detailCode = %q, want %q", got, code)
		}
	}
}

func wantErrorField(t *testing.T, _ *scenario, _ *http.Response, body []byte) {
	t.Helper()
	if str(decodeObject(t, body), "error") == "" {
		t.Errorf("401 body has no error message: %s", body)
	}
}

// recordingTB records the failures a validating transport reports instead of failing.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestContractValidatorReportsMismatches makes sure the validating transport is not
// vacuous: it must flag requests and answers that break the spec, and only those.
func TestContractValidatorReportsMismatches(t *testing.T) {
	const host = "http://contract.test"
	specRouters := contracttest.NewRouters(t, host)
	jsonAnswer := func(status int, body string) roundTripFunc {
		return func(r *http.Request) (*http.Response, error) {
			return &http.Response{
				StatusCode: status, Request: r,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   io.NopCloser(strings.NewReader(body)),
			}, nil
		}
	}
	okList := jsonAnswer(http.StatusOK, `[{"name":"a","description":"","type":"ServiceNowSDIM","attributes":{}}]`)
	tests := []struct {
		name    string
		path    string
		expect  contracttest.Expectation
		answer  roundTripFunc
		wantErr string // "" when the exchange must pass
	}{
		{name: "valid exchange", path: "/v3/service-desk-integrations?limit=10", answer: okList},
		{name: "valid v1 exchange", path: "/service-desk-integrations/v1?limit=10", answer: okList},
		{name: "request out of spec", path: "/v3/service-desk-integrations?limit=251", answer: okList,
			wantErr: "request does not match isc-sdim-v3.yaml"},
		{name: "request out of spec, marked", path: "/v3/service-desk-integrations?limit=251", answer: okList,
			expect: contracttest.Expectation{InvalidRequest: true}},
		{name: "body out of spec", path: "/v2024/service-desk-integrations",
			answer:  jsonAnswer(http.StatusOK, `[{"name":5,"description":"","type":"x","attributes":{}}]`),
			wantErr: "200 response does not match isc-sdim-v2024.yaml"},
		{name: "required field missing", path: "/service-desk-integrations/v1",
			answer:  jsonAnswer(http.StatusOK, `[{"name":"a"}]`),
			wantErr: "200 response does not match isc-sdim-v1.yaml"},
		{name: "status not listed", path: "/v2025/service-desk-integrations",
			answer: jsonAnswer(http.StatusTeapot, `{}`), wantErr: "status is not supported"},
		{name: "status not listed, expected", path: "/v2025/service-desk-integrations",
			expect: contracttest.Expectation{UnlistedStatus: http.StatusTeapot},
			answer: jsonAnswer(http.StatusTeapot, `{"detailCode":"418","messages":[]}`)},
		{name: "expected unlisted status with a bad body", path: "/v3/service-desk-integrations",
			expect:  contracttest.Expectation{UnlistedStatus: http.StatusTeapot},
			answer:  jsonAnswer(http.StatusTeapot, `{"messages":"not an array"}`),
			wantErr: "error schema"},
		{name: "path not in the spec", path: "/v3/no-such-thing", answer: okList, wantErr: "no operation in isc-sdim-v3.yaml"},
		{name: "version without a document", path: "/beta/service-desk-integrations", answer: okList,
			wantErr: "no OpenAPI document covers this path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			client := &http.Client{Transport: &contracttest.Transport{
				T: rec, Base: tc.answer, Routers: specRouters, Stats: &contracttest.Stats{},
			}}
			req, err := http.NewRequestWithContext(contracttest.WithExpectation(t.Context(), tc.expect), http.MethodGet, host+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tc.wantErr == "" {
				if len(rec.errors) > 0 {
					t.Errorf("the transport reported %q, want nothing", rec.errors)
				}
				return
			}
			t.Logf("reported: %q", rec.errors)
			if !slices.ContainsFunc(rec.errors, func(e string) bool { return strings.Contains(e, tc.wantErr) }) {
				t.Errorf("the transport reported %q, want an error containing %q", rec.errors, tc.wantErr)
			}
		})
	}
}
