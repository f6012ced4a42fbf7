// Package contracttest checks HTTP traffic against SailPoint's OpenAPI definitions in
// ../shared/spec with kin-openapi. Only tests import it.
package contracttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
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

// SpecDirEnv names the variable that overrides where SailPoint's OpenAPI files are.
const SpecDirEnv = "SDIM_SPEC_DIR"

// File is one of the OpenAPI documents in the spec directory.
type File struct {
	Name string // file name in the spec directory
	// Prefix is the path prefix of the requests the document describes; it is also the
	// path the document's server URL gets ("" for the v1 files, whose paths carry it).
	Prefix  string
	Base    string // path appended to the test server's URL to make the document's server
	Version sdim.APIVersion
	Paths   int // how many paths the file holds
}

// Files lists the documents, one per path prefix.
func Files() []File {
	return []File{
		{Name: "isc-sdim-v3.yaml", Prefix: "/v3/", Base: "/v3", Version: sdim.V3, Paths: 5},
		{Name: "isc-sdim-v2024.yaml", Prefix: "/v2024/", Base: "/v2024", Version: sdim.V2024, Paths: 8},
		{Name: "isc-sdim-v2025.yaml", Prefix: "/v2025/", Base: "/v2025", Version: sdim.V2025, Paths: 8},
		{Name: "isc-sdim-v1.yaml", Prefix: "/service-desk-integrations/v1", Version: sdim.V1, Paths: 5},
		{Name: "isc-sim-v1.yaml", Prefix: "/sim-integrations/v1", Version: sdim.V1, Paths: 3},
	}
}

// Find returns the spec directory, from SDIM_SPEC_DIR or beside the repository, and
// whether it exists.
func Find() (string, bool) {
	dir := os.Getenv(SpecDirEnv)
	if dir == "" {
		// The tests run in internal/<package>; the spec sits in shared/spec beside the repo.
		dir = filepath.Join("..", "..", "..", "shared", "spec")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir, false
	}
	fi, err := os.Stat(abs)
	return abs, err == nil && fi.IsDir()
}

// Dir returns the spec directory and skips the test when it is missing.
func Dir(t testing.TB) string {
	t.Helper()
	dir, ok := Find()
	if !ok {
		t.Skipf("OpenAPI spec directory %s not found (set %s to the directory holding the isc-*.yaml files)", dir, SpecDirEnv)
	}
	return dir
}

// Wrap returns base wrapped in a validating Transport for a server at serverURL when the
// spec directory is present; otherwise base itself and nil stats, so that tests which are
// not about the contract still run without it.
func Wrap(t testing.TB, serverURL string, base http.RoundTripper) (http.RoundTripper, *Stats) {
	t.Helper()
	if _, ok := Find(); !ok {
		return base, nil
	}
	stats := &Stats{}
	return &Transport{T: t, Base: base, Routers: NewRouters(t, serverURL), Stats: stats}, stats
}

// Load reads, loads and validates one document, skipping the test when it is missing.
func Load(t testing.TB, dir string, f File) *openapi3.T {
	t.Helper()
	path := filepath.Join(dir, f.Name)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("OpenAPI file %s not found (set %s to the directory holding it)", path, SpecDirEnv)
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

// Router routes the requests under one path prefix to one document's operations.
type Router struct {
	File   File
	Doc    *openapi3.T
	Router routers.Router
}

// NewRouters loads every document with its servers pointed at serverURL.
func NewRouters(t testing.TB, serverURL string) []Router {
	t.Helper()
	dir := Dir(t)
	var out []Router
	for _, f := range Files() {
		doc := Load(t, dir, f)
		doc.Servers = openapi3.Servers{{URL: serverURL + f.Base}}
		r, err := legacy.NewRouter(doc)
		if err != nil {
			t.Fatalf("routing %s: %v", f.Name, err)
		}
		out = append(out, Router{File: f, Doc: doc, Router: r})
	}
	return out
}

// Expectation is what a test says about one request on purpose.
type Expectation struct {
	// InvalidRequest: the request breaks the spec deliberately, so it is not validated.
	InvalidRequest bool
	// UnlistedStatus is a status the spec does not list for the operation but the test
	// expects (405, 415); the body is then checked against the error schema instead.
	UnlistedStatus int
}

type expectationKey struct{}

// WithExpectation marks a request's context with what the test expects of it.
func WithExpectation(ctx context.Context, e Expectation) context.Context {
	return context.WithValue(ctx, expectationKey{}, e)
}

// ExpectationOf reads what WithExpectation put in ctx.
func ExpectationOf(ctx context.Context) Expectation {
	e, _ := ctx.Value(expectationKey{}).(Expectation)
	return e
}

// passThrough reports whether a path is outside the spec (token and admin endpoints).
func passThrough(path string) bool {
	return path == emulator.TokenPath || strings.HasPrefix(path, emulator.AdminPrefix)
}

// Stats counts what a validating transport checked, across the clients that
// share it.
type Stats struct {
	Requests  atomic.Int64 // requests validated against the spec
	Responses atomic.Int64 // responses validated against the spec

	mu         sync.Mutex
	operations map[string]int // operationId -> responses validated
}

func (s *Stats) operation(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.operations == nil {
		s.operations = map[string]int{}
	}
	s.operations[id]++
}

// Seen counts the validated responses by operationId.
func (s *Stats) Seen() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.operations)
}

// Transport checks each request and its response against the spec document its
// path prefix selects, reporting every mismatch to t.
type Transport struct {
	T       testing.TB
	Base    http.RoundTripper
	Routers []Router
	Stats   *Stats
}

func (vt *Transport) routerFor(path string) (Router, bool) {
	for _, r := range vt.Routers {
		p := r.File.Prefix
		if strings.HasPrefix(path, p) && (strings.HasSuffix(p, "/") || len(path) == len(p) || path[len(p)] == '/') {
			return r, true
		}
	}
	return Router{}, false
}

// RoundTrip validates the request, sends it through Base and validates the answer.
func (vt *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := vt.T
	if passThrough(req.URL.Path) {
		return vt.Base.RoundTrip(req)
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

	exp := ExpectationOf(req.Context())
	sr, ok := vt.routerFor(req.URL.Path)
	if !ok {
		t.Errorf("%s: no OpenAPI document covers this path", what)
		return vt.Base.RoundTrip(out)
	}
	route, pathParams, routeErr := sr.Router.FindRoute(req)
	if routeErr != nil && !exp.InvalidRequest {
		t.Errorf("%s: no operation in %s: %v", what, sr.File.Name, routeErr)
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
		if !exp.InvalidRequest {
			if err := openapi3filter.ValidateRequest(req.Context(), reqInput); err != nil {
				t.Errorf("%s: request does not match %s (%s): %v", what, sr.File.Name, route.Operation.OperationID, err)
			}
			vt.Stats.Requests.Add(1)
		}
	}

	resp, err := vt.Base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the response body of %s: %w", what, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	if exp.UnlistedStatus != 0 && resp.StatusCode == exp.UnlistedStatus {
		if routeErr == nil && route.Operation.Responses.Status(resp.StatusCode) != nil {
			t.Errorf("%s: status %d was expected to be missing from %s (%s), but the spec lists it",
				what, resp.StatusCode, sr.File.Name, route.Operation.OperationID)
		}
		if err := validateErrorBody(sr.Doc, resp.Header, respBody); err != nil {
			t.Errorf("%s: %d answer does not match %s's error schema: %v", what, resp.StatusCode, sr.File.Name, err)
		}
		return resp, nil
	}
	if routeErr != nil {
		if exp.InvalidRequest { // not reported above
			t.Errorf("%s: answered %d, but the request matches no operation of %s: %v", what, resp.StatusCode, sr.File.Name, routeErr)
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
		t.Errorf("%s: %d response does not match %s (%s): %v", what, resp.StatusCode, sr.File.Name, route.Operation.OperationID, err)
	}
	vt.Stats.Responses.Add(1)
	vt.Stats.operation(route.Operation.OperationID)
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
