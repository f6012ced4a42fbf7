package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// specDirEnv names the variable that overrides where SailPoint's OpenAPI files are.
const specDirEnv = "SDIM_SPEC_DIR"

// specFile is one of the OpenAPI documents in the spec directory.
type specFile struct {
	name string // file name in the spec directory
	// prefix is the path prefix of the requests the document describes; it is also the
	// path the document's server URL gets ("" for the v1 files, whose paths carry it).
	prefix  string
	base    string // path appended to the test server's URL to make the document's server
	version sdim.APIVersion
	paths   int // how many paths the file holds
}

// specFiles lists the documents, one per path prefix.
func specFiles() []specFile {
	return []specFile{
		{name: "isc-sdim-v3.yaml", prefix: "/v3/", base: "/v3", version: sdim.V3, paths: 5},
		{name: "isc-sdim-v2024.yaml", prefix: "/v2024/", base: "/v2024", version: sdim.V2024, paths: 8},
		{name: "isc-sdim-v2025.yaml", prefix: "/v2025/", base: "/v2025", version: sdim.V2025, paths: 8},
		{name: "isc-sdim-v1.yaml", prefix: "/service-desk-integrations/v1", version: sdim.V1, paths: 5},
		{name: "isc-sim-v1.yaml", prefix: "/sim-integrations/v1", version: sdim.V1, paths: 3},
	}
}

// specDir returns the spec directory, from SDIM_SPEC_DIR or beside the repository, and
// skips the test when it is missing.
func specDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(specDirEnv)
	if dir == "" {
		// The tests run in internal/emulator; the spec sits in shared/spec beside the repo.
		dir = filepath.Join("..", "..", "..", "shared", "spec")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("spec directory %s: %v", dir, err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		t.Skipf("OpenAPI spec directory %s not found (set %s to the directory holding the isc-*.yaml files): %v", abs, specDirEnv, err)
	}
	return abs
}

// loadSpec reads, loads and validates one document, skipping the test when it is missing.
func loadSpec(t testing.TB, dir string, f specFile) *openapi3.T {
	t.Helper()
	path := filepath.Join(dir, f.name)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("OpenAPI file %s not found (set %s to the directory holding it)", path, specDirEnv)
	}
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("validating %s: %v", path, err)
	}
	return doc
}

// specRouter routes the requests under one path prefix to one document's operations.
type specRouter struct {
	file   specFile
	doc    *openapi3.T
	router routers.Router
}

// newSpecRouters loads every document with its servers pointed at serverURL.
func newSpecRouters(t testing.TB, serverURL string) []specRouter {
	t.Helper()
	dir := specDir(t)
	var out []specRouter
	for _, f := range specFiles() {
		doc := loadSpec(t, dir, f)
		doc.Servers = openapi3.Servers{{URL: serverURL + f.base}}
		r, err := legacy.NewRouter(doc)
		if err != nil {
			t.Fatalf("routing %s: %v", f.name, err)
		}
		out = append(out, specRouter{file: f, doc: doc, router: r})
	}
	return out
}

// expectation is what a test says about one request on purpose.
type expectation struct {
	// invalidRequest: the request breaks the spec deliberately, so it is not validated.
	invalidRequest bool
	// unlistedStatus is a status the spec does not list for the operation but the test
	// expects (405, 415); the body is then checked against the error schema instead.
	unlistedStatus int
}

type expectationKey struct{}

// withExpectation marks a request's context with what the test expects of it.
func withExpectation(ctx context.Context, e expectation) context.Context {
	return context.WithValue(ctx, expectationKey{}, e)
}

func expectationOf(ctx context.Context) expectation {
	e, _ := ctx.Value(expectationKey{}).(expectation)
	return e
}

// passThrough reports whether a path is outside the spec (token and admin endpoints).
func passThrough(path string) bool {
	return path == emulator.TokenPath || strings.HasPrefix(path, emulator.AdminPrefix)
}

// validationStats counts what a validating transport checked, across the clients that
// share it.
type validationStats struct {
	requests  atomic.Int64 // requests validated against the spec
	responses atomic.Int64 // responses validated against the spec

	mu         sync.Mutex
	operations map[string]int // operationId -> responses validated
}

func (s *validationStats) operation(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.operations == nil {
		s.operations = map[string]int{}
	}
	s.operations[id]++
}

func (s *validationStats) seen() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.operations)
}

// validatingTransport checks each request and its response against the spec document its
// path prefix selects, reporting every mismatch to t.
type validatingTransport struct {
	t       testing.TB
	base    http.RoundTripper
	routers []specRouter
	stats   *validationStats
}

func (vt *validatingTransport) routerFor(path string) (specRouter, bool) {
	for _, r := range vt.routers {
		p := r.file.prefix
		if strings.HasPrefix(path, p) && (strings.HasSuffix(p, "/") || len(path) == len(p) || path[len(p)] == '/') {
			return r, true
		}
	}
	return specRouter{}, false
}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := vt.t
	if passThrough(req.URL.Path) {
		return vt.base.RoundTrip(req)
	}
	what := req.Method + " " + req.URL.Path
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the request body of %s: %w", what, err)
		}
		body = b
	}
	out := req.Clone(req.Context())
	if req.Body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}

	exp := expectationOf(req.Context())
	sr, ok := vt.routerFor(req.URL.Path)
	if !ok {
		t.Errorf("%s: no OpenAPI document covers this path", what)
		return vt.base.RoundTrip(out)
	}
	route, pathParams, routeErr := sr.router.FindRoute(req)
	if routeErr != nil && !exp.invalidRequest {
		t.Errorf("%s: no operation in %s: %v", what, sr.file.name, routeErr)
	}
	var reqInput *openapi3filter.RequestValidationInput
	if routeErr == nil {
		check := req.Clone(req.Context())
		check.Body = io.NopCloser(bytes.NewReader(body))
		reqInput = &openapi3filter.RequestValidationInput{
			Request:    check,
			PathParams: pathParams,
			Route:      route,
			Options:    requestOptions(),
		}
		if !exp.invalidRequest {
			if err := openapi3filter.ValidateRequest(req.Context(), reqInput); err != nil {
				t.Errorf("%s: request does not match %s (%s): %v", what, sr.file.name, route.Operation.OperationID, err)
			}
			vt.stats.requests.Add(1)
		}
	}

	resp, err := vt.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the response body of %s: %w", what, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	if exp.unlistedStatus != 0 && resp.StatusCode == exp.unlistedStatus {
		if routeErr == nil && route.Operation.Responses.Status(resp.StatusCode) != nil {
			t.Errorf("%s: status %d was expected to be missing from %s (%s), but the spec lists it",
				what, resp.StatusCode, sr.file.name, route.Operation.OperationID)
		}
		if err := validateErrorBody(sr.doc, resp.Header, respBody); err != nil {
			t.Errorf("%s: %d answer does not match %s's error schema: %v", what, resp.StatusCode, sr.file.name, err)
		}
		return resp, nil
	}
	if routeErr != nil {
		if exp.invalidRequest { // not reported above
			t.Errorf("%s: answered %d, but the request matches no operation of %s: %v", what, resp.StatusCode, sr.file.name, routeErr)
		}
		return resp, nil
	}
	respInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                responseOptions(),
	}
	if err := openapi3filter.ValidateResponse(req.Context(), respInput); err != nil {
		t.Errorf("%s: %d response does not match %s (%s): %v", what, resp.StatusCode, sr.file.name, route.Operation.OperationID, err)
	}
	vt.stats.responses.Add(1)
	vt.stats.operation(route.Operation.OperationID)
	return resp, nil
}

// validateErrorBody checks an answer the spec does not list against the document's
// ErrorResponseDto schema, whatever its spelling.
func validateErrorBody(doc *openapi3.T, h http.Header, body []byte) error {
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("the Content-Type is %q, not application/json", ct)
	}
	var schema *openapi3.Schema
	for name, ref := range doc.Components.Schemas {
		if strings.EqualFold(name, "ErrorResponseDto") {
			schema = ref.Value
		}
	}
	if schema == nil {
		return errors.New("the document has no ErrorResponseDto schema")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("body is not a JSON object: %s", body)
	}
	return schema.VisitJSON(v, openapi3.MultiErrors(), openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage))
}

// requestOptions validate a request without checking its credentials, which the emulator
// does, and without filling in defaults.
func requestOptions() *openapi3filter.Options {
	o := &openapi3filter.Options{
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		SkipSettingDefaults: true,
		MultiError:          true,
	}
	o.WithCustomSchemaErrorFunc(schemaErrorMessage)
	return o
}

// responseOptions validate a response, refusing a status the operation does not list.
func responseOptions() *openapi3filter.Options {
	o := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	o.WithCustomSchemaErrorFunc(schemaErrorMessage)
	return o
}

// schemaErrorMessage shortens kin-openapi's schema errors, which print the whole schema,
// to where, why and what value.
func schemaErrorMessage(err *openapi3.SchemaError) string {
	if err.Origin != nil {
		return "" // kin-openapi's own message names the cause
	}
	v, _ := json.Marshal(err.Value)
	if len(v) > 200 {
		v = append(v[:200:200], "..."...)
	}
	return fmt.Sprintf("at /%s: %s (value %s)", strings.Join(err.JSONPointer(), "/"), err.Reason, v)
}

// contractEnv is an emulator behind a test server, with the spec routed to it.
type contractEnv struct {
	emu     *emulator.Emulator
	srv     *httptest.Server
	routers []specRouter
	stats   *validationStats
	token   string
}

func newContractEnv(t *testing.T) *contractEnv {
	t.Helper()
	dir := specDir(t) // skip before starting anything
	for _, f := range specFiles() {
		if _, err := os.Stat(filepath.Join(dir, f.name)); err != nil {
			t.Skipf("OpenAPI file %s not found (set %s to the directory holding it): %v", filepath.Join(dir, f.name), specDirEnv, err)
		}
	}
	e, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		if err := e.Close(); err != nil {
			t.Errorf("closing the emulator: %v", err)
		}
	})
	env := &contractEnv{emu: e, srv: srv, routers: newSpecRouters(t, srv.URL), stats: &validationStats{}}
	env.token = env.fetchToken(t)
	return env
}

// client returns an HTTP client whose requests and responses are checked against the
// spec, with failures reported to t.
func (env *contractEnv) client(t testing.TB) *http.Client {
	return &http.Client{Transport: &validatingTransport{
		t:       t,
		base:    env.srv.Client().Transport,
		routers: env.routers,
		stats:   env.stats,
	}}
}

func (env *contractEnv) fetchToken(t *testing.T) string {
	t.Helper()
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {emulator.DemoClientID},
		"client_secret": {emulator.DemoClientSecret},
	}
	resp, err := env.client(t).PostForm(env.srv.URL+emulator.TokenPath, form)
	if err != nil {
		t.Fatalf("POST %s: %v", emulator.TokenPath, err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("POST %s: status %d, token %q, decode error %v", emulator.TokenPath, resp.StatusCode, tok.AccessToken, err)
	}
	return tok.AccessToken
}

// operationsOf lists the operationIds of the documents that serve version v.
func (env *contractEnv) operationsOf(v sdim.APIVersion) []string {
	var ids []string
	for _, r := range env.routers {
		if r.file.version != v {
			continue
		}
		for _, item := range r.doc.Paths.Map() {
			for _, op := range item.Operations() {
				ids = append(ids, op.OperationID)
			}
		}
	}
	slices.Sort(ids)
	return ids
}
