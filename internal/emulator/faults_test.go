package emulator

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tt := startTenant(t, Config{Now: clock.Now, RateLimit: 3, RateWindow: 3 * time.Second})
	for i := range 3 {
		if code, _, _ := tt.call("GET", sdimV3, nil); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	code, h, body := tt.call("GET", sdimV3, nil)
	if code != 429 || h.Get("Retry-After") != "1" || !strings.Contains(string(body), "Rate Limit Exceeded") {
		t.Fatalf("4th request: %d Retry-After %q %s", code, h.Get("Retry-After"), body)
	}
	// Each API version has its own bucket, as the documented limit is per client and version.
	if code, _, _ := tt.call("GET", "/service-desk-integrations/v1", nil); code != 200 {
		t.Errorf("v1 shares v3's bucket: %d", code)
	}
	// Another client has its own bucket.
	other := tt.token
	tt.token = tt.getToken(DemoClientID, DemoClientSecret) // same client, new token: same bucket
	if code, _, _ := tt.call("GET", sdimV3, nil); code != 429 {
		t.Errorf("a new token escaped the client's limit: %d", code)
	}
	tt.token = other
	clock.Add(time.Second) // one request's worth refills
	if code, _, _ := tt.call("GET", sdimV3, nil); code != 200 {
		t.Errorf("after the refill: %d", code)
	}
	if code, _, _ := tt.call("GET", sdimV3, nil); code != 429 {
		t.Errorf("the bucket refilled more than one request: %d", code)
	}
	if n := tt.e.Counters().Faults["rateLimited"]; n != 3 {
		t.Errorf("rateLimited counter %d, want 3", n)
	}

	t.Run("separate clients", func(t *testing.T) {
		tt := startTenant(t, Config{Now: clock.Now, RateLimit: 1, Clients: map[string]string{"a": "1", "b": "2"}})
		tt.token = tt.getToken("a", "1")
		tt.call("GET", sdimV3, nil)
		if code, _, _ := tt.call("GET", sdimV3, nil); code != 429 {
			t.Fatalf("client a not limited: %d", code)
		}
		tt.token = tt.getToken("b", "2")
		if code, _, _ := tt.call("GET", sdimV3, nil); code != 200 {
			t.Errorf("client b limited by a's requests: %d", code)
		}
	})
	t.Run("off", func(t *testing.T) {
		tt := startTenant(t, Config{Now: clock.Now, RateLimit: -1})
		for range 150 {
			if code, _, _ := tt.call("GET", sdimV3, nil); code != 200 {
				t.Fatalf("limited although off: %d", code)
			}
		}
	})
}

func TestFaults(t *testing.T) {
	transportErr := func(tt *tenantT, method, path string, body any) error {
		req, _ := http.NewRequest(method, tt.srv.URL+path, strings.NewReader(string(mustJSON(body))))
		req.Header.Set("Authorization", "Bearer "+tt.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	t.Run("errors", func(t *testing.T) {
		tt := startTenant(t, Config{Faults: Faults{ErrorRate: 1, ErrorCodes: []int{503}}})
		code, _, body := tt.call("POST", sdimV3, snow("Never"))
		if code != 503 || !strings.Contains(errText(t, body), "injected") {
			t.Fatalf("%d %s", code, body)
		}
		if c := tt.e.Counters(); c.Committed != 0 || c.Faults["error"] != 1 || len(tt.e.State().ServiceDeskIntegrations) != 0 {
			t.Errorf("an injected error committed: %+v", c)
		}
	})
	t.Run("share of errors", func(t *testing.T) {
		tt := startTenant(t, Config{RateLimit: -1, Faults: Faults{ErrorRate: 0.3, Seed: 42}})
		errs := 0
		for range 400 {
			if code, _, _ := tt.call("GET", sdimV3, nil); code >= 500 {
				errs++
			}
		}
		if errs < 80 || errs > 160 {
			t.Errorf("%d of 400 requests failed at a 30%% error rate", errs)
		}
	})
	t.Run("dropped connection", func(t *testing.T) {
		tt := startTenant(t, Config{Faults: Faults{DropRate: 1}})
		if err := transportErr(tt, "POST", sdimV3, snow("Dropped")); err == nil {
			t.Fatal("a dropped request got an answer")
		}
		if n := len(tt.e.State().ServiceDeskIntegrations); n != 0 {
			t.Errorf("a dropped request was processed: %d objects", n)
		}
	})
	t.Run("lost answer", func(t *testing.T) {
		tt := startTenant(t, Config{Faults: Faults{LostWriteRate: 1}})
		if err := transportErr(tt, "POST", sdimV3, snow("Committed")); err == nil {
			t.Fatal("a lost answer arrived")
		}
		st := tt.e.State()
		if len(st.ServiceDeskIntegrations) != 1 || st.ServiceDeskIntegrations[0]["name"] != "Committed" {
			t.Fatalf("the write was not committed: %+v", st.ServiceDeskIntegrations)
		}
		if c := tt.e.Counters(); c.Committed != 1 || c.Faults["lostWrite"] != 1 {
			t.Errorf("counters %+v", c)
		}
		// Reads are answered; a refused write is answered too (nothing was committed).
		if code, _, _ := tt.call("GET", sdimV3, nil); code != 200 {
			t.Errorf("a read was lost: %d", code)
		}
		if code, _, _ := tt.call("POST", sdimV3, snow("Committed")); code != 400 {
			t.Errorf("a refused write: %d, want its 400", code)
		}
	})
	t.Run("lost answer as 504", func(t *testing.T) {
		tt := startTenant(t, Config{Faults: Faults{LostWriteRate: 1, LostWriteStatus: 504}})
		if code, _, _ := tt.call("POST", sdimV3, snow("Committed")); code != 504 {
			t.Errorf("status %d, want 504", code)
		}
		if n := len(tt.e.State().ServiceDeskIntegrations); n != 1 {
			t.Errorf("%d objects, want the committed one", n)
		}
	})
	t.Run("latency", func(t *testing.T) {
		tt := startTenant(t, Config{Faults: Faults{LatencyMS: 50}})
		start := time.Now()
		tt.call("GET", sdimV3, nil)
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("answered in %s with 50ms latency", d)
		}
	})
	t.Run("forced 429 then normal", func(t *testing.T) {
		tt := startTenant(t, Config{})
		if err := tt.e.SetFaults(Faults{Force429: 2, RetryAfterSeconds: 3}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if code, h, _ := tt.call("GET", sdimV3, nil); code != 429 || h.Get("Retry-After") != "3" {
				t.Fatalf("request %d: %d %q", i, code, h.Get("Retry-After"))
			}
		}
		if code, _, _ := tt.call("GET", sdimV3, nil); code != 200 {
			t.Errorf("third request: %d", code)
		}
		if f := tt.e.CurrentFaults(); f.Force429 != 0 {
			t.Errorf("forced 429s left: %d", f.Force429)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		for _, f := range []Faults{{ErrorRate: -0.1}, {DropRate: 1.5}, {ErrorCodes: []int{404}}, {LostWriteStatus: 200}, {LatencyMS: -1}} {
			if _, err := New(Config{Faults: f}); err == nil {
				t.Errorf("New accepted faults %+v", f)
			}
		}
	})
}

func TestPersistenceSeedAndGenerate(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")

	e, err := New(Config{StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Generate(3); err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(dir, "seed.yaml")
	os.WriteFile(seed, []byte(`
serviceDeskIntegrations:
  - id: "00000000000000000000000000000001"
    name: Seeded
    description: from a file
    type: ServiceNowSDIM
    created: "2025-01-01T00:00:00Z"
    attributes: {url: "https://x", password: s3cret}
simIntegrations:
  - name: Seeded SIM
    type: ServiceNow Service Desk
statusCheckConfiguration:
  provisioningStatusCheckIntervalMinutes: "15"
  provisioningMaxStatusCheckDays: "4"
`), 0o600)
	if err := e.SeedFile(seed); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(statePath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}

	e2, err := New(Config{StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	st := e2.State()
	if len(st.ServiceDeskIntegrations) != 4 || len(st.SIMIntegrations) != 1 || st.StatusCheckConfiguration.ProvisioningMaxStatusCheckDays != "4" {
		t.Fatalf("restarted state: %d integrations, %d SIM, %+v", len(st.ServiceDeskIntegrations), len(st.SIMIntegrations), st.StatusCheckConfiguration)
	}
	seeded := st.ServiceDeskIntegrations[3]
	if seeded["id"] != "00000000000000000000000000000001" || seeded["created"] != "2025-01-01T00:00:00.000Z" ||
		seeded["attributes"].(map[string]any)["password"] != "s3cret" {
		t.Errorf("seeded object after restart: %v", seeded)
	}
	if err := e2.Generate(2); err != nil {
		t.Fatal(err)
	}
	if n := len(e2.State().ServiceDeskIntegrations); n != 6 {
		t.Errorf("generate after generate: %d objects, want 6", n)
	}
	if c := e2.Counters(); c.Committed != 0 {
		t.Errorf("seeding counted as committed writes: %d", c.Committed)
	}

	bad := []struct{ name, body, want string }{
		{"invalid object", "serviceDeskIntegrations:\n  - name: X\n    type: T\n", `serviceDeskIntegrations[0] ("X"): 'description' is required`},
		{"unquoted numeric id", "serviceDeskIntegrations:\n  - id: 0001\n    name: X\n", "'id' must be a non-empty string, not 1 (quote it in YAML)"},
		{"bad version", "formatVersion: 9\n", "formatVersion 9"},
		{"bad status", "statusCheckConfiguration: {provisioningStatusCheckIntervalMinutes: '0', provisioningMaxStatusCheckDays: '1'}\n", "positive integer"},
		{"not YAML", "serviceDeskIntegrations: [\n", "seed"},
		{"non-string key", "serviceDeskIntegrations:\n  - name: X\n    attributes: {1: one}\n", "are all keys strings?"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "seed.yaml")
			os.WriteFile(p, []byte(tc.body), 0o600)
			e, _ := New(Config{})
			if err := e.SeedFile(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SeedFile error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{TokenTTL: time.Millisecond},
		{Clients: map[string]string{"a": ""}},
		{PatchablePaths: []string{"description"}},
		{RateWindow: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
