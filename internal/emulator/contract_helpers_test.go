package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/contracttest"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// contractEnv is an emulator behind a test server, with the spec routed to it.
type contractEnv struct {
	emu     *emulator.Emulator
	srv     *httptest.Server
	routers []contracttest.Router
	stats   *contracttest.Stats
	token   string
}

func newContractEnv(t *testing.T) *contractEnv {
	t.Helper()
	dir := contracttest.Dir(t) // skip before starting anything
	for _, f := range contracttest.Files() {
		if _, err := os.Stat(filepath.Join(dir, f.Name)); err != nil {
			t.Skipf("OpenAPI file %s not found (set %s to the directory holding it): %v", filepath.Join(dir, f.Name), contracttest.SpecDirEnv, err)
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
	env := &contractEnv{emu: e, srv: srv, routers: contracttest.NewRouters(t, srv.URL), stats: &contracttest.Stats{}}
	env.token = env.fetchToken(t)
	return env
}

// client returns an HTTP client whose requests and responses are checked against the
// spec, with failures reported to t.
func (env *contractEnv) client(t testing.TB) *http.Client {
	return &http.Client{Transport: &contracttest.Transport{
		T:       t,
		Base:    env.srv.Client().Transport,
		Routers: env.routers,
		Stats:   env.stats,
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
		if r.File.Version != v {
			continue
		}
		for _, item := range r.Doc.Paths.Map() {
			for _, op := range item.Operations() {
				ids = append(ids, op.OperationID)
			}
		}
	}
	slices.Sort(ids)
	return ids
}
