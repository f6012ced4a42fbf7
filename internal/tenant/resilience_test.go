package tenant_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// hookLog records what the metric hooks were told.
type hookLog struct {
	mu       sync.Mutex
	requests map[string]int // "METHOD route status"
	retries  map[string]int // reason
	waits    map[string]time.Duration
}

func (h *hookLog) hooks() tenant.Hooks {
	h.requests, h.retries, h.waits = map[string]int{}, map[string]int{}, map[string]time.Duration{}
	return tenant.Hooks{
		Request: func(method, route string, status int, _ time.Duration) {
			h.mu.Lock()
			h.requests[fmt.Sprintf("%s %s %d", method, route, status)]++
			h.mu.Unlock()
		},
		Retry: func(_, _, reason string) {
			h.mu.Lock()
			h.retries[reason]++
			h.mu.Unlock()
		},
		RateLimitWait: func(source string, d time.Duration) {
			h.mu.Lock()
			h.waits[source] += d
			h.mu.Unlock()
		},
	}
}

// healAfter returns hooks that record into h and switch the emulator's faults off once
// n retries for reason have been made.
func (h *hookLog) healAfter(env *tenantEnv, reason string, n int) tenant.Hooks {
	hooks := h.hooks()
	record := hooks.Retry
	hooks.Retry = func(m, r, why string) {
		record(m, r, why)
		if why == reason && h.retry(reason)%n == 0 {
			_ = env.emu.SetFaults(emulator.Faults{})
		}
	}
	return hooks
}

func (h *hookLog) retry(reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.retries[reason]
}

// TestRetryAfterIsWaited: a 429 with Retry-After: 2 is waited, at least 2 s and not much
// more, then the call succeeds; the hooks see one retry and a server-side wait.
func TestRetryAfterIsWaited(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	var h hookLog
	c := env.client(t, env.settings(t, sdim.V3), tenant.WithHooks(h.hooks()))
	if _, err := c.GetStatusCheck(t.Context()); err != nil { // token fetched, path warm
		t.Fatal(err)
	}
	if err := env.emu.SetFaults(emulator.Faults{Force429: 1, RetryAfterSeconds: 2}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	list, err := c.ListServiceDesk(t.Context(), tenant.ListOptions{})
	waited := time.Since(start)
	if err != nil {
		t.Fatalf("list after a 429: %v", err)
	}
	t.Logf("waited %s for Retry-After: 2 (%d objects)", waited, len(list))
	if waited < 2*time.Second {
		t.Errorf("waited %s, less than the 2 s the tenant asked for", waited)
	}
	if waited > 5*time.Second {
		t.Errorf("waited %s for a Retry-After of 2 s", waited)
	}
	if h.retry("429") != 1 || h.waits["server"] < 2*time.Second-10*time.Millisecond {
		t.Errorf("hooks: retries %v, waits %v", h.retries, h.waits)
	}
	if got := env.emu.Counters().Faults["forced429"]; got != 1 {
		t.Errorf("the emulator forced %d 429s", got)
	}
}

// TestRetryAfterCeiling: a Retry-After beyond the ceiling is a clear error, not a wait.
func TestRetryAfterCeiling(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	s := env.settings(t, sdim.V3)
	s.MaxRetryAfter = 10 * time.Second
	c := env.client(t, s)
	if err := env.emu.SetFaults(emulator.Faults{Force429: 1, RetryAfterSeconds: 3600}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.GetStatusCheck(t.Context())
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %s to give up", time.Since(start))
	}
	if !errors.Is(err, tenant.ErrRetryAfterTooLong) || tenant.StatusCode(err) != 429 ||
		!strings.Contains(err.Error(), "asked to wait 1h0m0s, the ceiling is 10s") {
		t.Errorf("got %v", err)
	}
}

// TestServerErrorsAreRetried: GET, PUT, PATCH and DELETE answered 500 are retried with
// backoff until they succeed.
func TestServerErrorsAreRetried(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	var h hookLog
	c := env.client(t, env.settings(t, sdim.V3), tenant.WithHooks(h.healAfter(env, "5xx", 2))) // the tenant recovers after two retries
	ctx := t.Context()
	obj, err := c.CreateServiceDesk(ctx, snow("Flaky"))
	if err != nil {
		t.Fatal(err)
	}
	fail := emulator.Faults{ErrorRate: 1, ErrorCodes: []int{500}}
	steps := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := c.GetServiceDesk(ctx, obj.ID); return err }},
		{"list", func() error { _, err := c.ListServiceDesk(ctx, tenant.ListOptions{}); return err }},
		{"put", func() error { _, err := c.PutServiceDesk(ctx, obj.ID, snow("Flaky")); return err }},
		{"patch", func() error {
			_, err := c.PatchServiceDesk(ctx, obj.ID, obj.Name, []tenant.PatchOp{tenant.Replace("/beforeProvisioningRule",
				sdim.Reference{Type: sdim.RefRule, ID: "2c918085708c274401708c2a8a760001"})})
			return err
		}},
		{"delete", func() error { return c.DeleteServiceDesk(ctx, obj.ID, obj.Name) }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := h.retry("5xx")
			if err := env.emu.SetFaults(fail); err != nil {
				t.Fatal(err)
			}
			if err := st.call(); err != nil {
				t.Fatalf("%s after two 500s: %v", st.name, err)
			}
			if got := h.retry("5xx") - before; got != 2 {
				t.Errorf("%d retries, want 2", got)
			}
		})
	}
	// When the tenant keeps failing, the call gives up after MaxRetries with the last answer.
	if err := env.emu.SetFaults(fail); err != nil {
		t.Fatal(err)
	}
	c2 := env.client(t, env.settings(t, sdim.V3))
	_, err = c2.GetStatusCheck(ctx)
	if tenant.StatusCode(err) != 500 {
		t.Errorf("after the retries: %v", err)
	}
	if got := env.emu.Counters().Requests["GET "+sdim.V3.ServiceDeskPath()+"/status-check-configuration"]; got != 1+tenant.DefaultMaxRetries {
		t.Errorf("%d requests, want 1 + %d retries", got, tenant.DefaultMaxRetries)
	}
}

// TestPostIsNeverRetried: a create answered 5xx or whose answer is lost is sent once, and
// its error says the create may have happened; the lookup by name then finds it.
func TestPostIsNeverRetried(t *testing.T) {
	tests := []struct {
		name          string
		faults        emulator.Faults
		wantCommitted int64
	}{
		{"500 before processing", emulator.Faults{ErrorRate: 1, ErrorCodes: []int{500}}, 0},
		{"answer lost: connection dropped", emulator.Faults{LostWriteRate: 1}, 1},
		{"answer lost: 500 after commit", emulator.Faults{LostWriteRate: 1, LostWriteStatus: 500}, 1},
		{"connection dropped before processing", emulator.Faults{DropRate: 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startEmulator(t, emulator.Config{})
			c := env.client(t, env.settings(t, sdim.V3))
			if _, err := c.GetStatusCheck(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := env.emu.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			_, err := c.CreateServiceDesk(t.Context(), snow("Once"))
			if err == nil || !tenant.IsAmbiguous(err) || !strings.Contains(err.Error(), "look the object up before trying again") {
				t.Fatalf("want an ambiguous error, got %v", err)
			}
			if n := env.wire.count(http.MethodPost, sdim.V3.ServiceDeskPath()); n != 1 {
				t.Errorf("POST sent %d times", n)
			}
			if got := env.emu.Counters().Committed; got != tt.wantCommitted {
				t.Errorf("committed %d writes, want %d", got, tt.wantCommitted)
			}
			_ = env.emu.SetFaults(emulator.Faults{})
			found, err := c.FindServiceDeskByName(t.Context(), "Once")
			if err != nil || (found != nil) != (tt.wantCommitted == 1) {
				t.Errorf("lookup after the ambiguous create: %+v, %v", found, err)
			}
		})
	}
}

// TestTokenExpiresMidRun: the tenant's clock passes the token's expiry while the client
// still holds it; the 401 makes the client fetch a new token and repeat the call once.
func TestTokenExpiresMidRun(t *testing.T) {
	fake := newFakeClock()
	env := startEmulator(t, emulator.Config{Now: fake.Now})
	var h hookLog
	c := env.client(t, env.settings(t, sdim.V3), tenant.WithHooks(h.hooks()))
	if _, err := c.ListServiceDesk(t.Context(), tenant.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	fake.Advance(emulator.DefaultTokenTTL + time.Second) // the tenant's clock only: the client's still trusts its token
	if _, err := c.CreateServiceDesk(t.Context(), snow("After expiry")); err != nil {
		t.Fatalf("create after the token expired: %v", err)
	}
	cnt := env.emu.Counters()
	if cnt.Responses["401"] != 1 || cnt.Requests["POST "+emulator.TokenPath] != 2 || h.retry("401") != 1 {
		t.Errorf("401s %d, token requests %d, 401 retries %d; want 1, 2, 1", cnt.Responses["401"], cnt.Requests["POST "+emulator.TokenPath], h.retry("401"))
	}
	if toks := env.wire.tokens(); len(toks) != 2 {
		t.Errorf("%d distinct tokens sent, want 2", len(toks))
	}
	if n := env.wire.count(http.MethodPost, sdim.V3.ServiceDeskPath()); n != 2 {
		t.Errorf("the refused POST should be sent again once: sent %d times", n)
	}
}

// TestTokenRefreshedBeforeExpiry: with both clocks moving, the client fetches a new token
// before the old one expires, so the tenant never answers 401.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	fake := newFakeClock()
	env := startEmulator(t, emulator.Config{Now: fake.Now})
	c := env.client(t, env.settings(t, sdim.V3), tenant.WithClock(fake))
	for i := range 10 {
		if _, err := c.GetStatusCheck(t.Context()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		fake.Advance(100 * time.Second) // 1,000 s in all: past the 749 s lifetime
	}
	cnt := env.emu.Counters()
	if cnt.Responses["401"] != 0 || cnt.Requests["POST "+emulator.TokenPath] != 2 {
		t.Errorf("401s %d, token requests %d; want 0 and 2", cnt.Responses["401"], cnt.Requests["POST "+emulator.TokenPath])
	}
}

// TestBadCredentials: a refused client secret is one clear error, without the secret.
func TestBadCredentials(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	s := env.settings(t, sdim.V3)
	s.ClientSecret = sdim.NewSecret("wrong-secret-value", "test")
	_, err := env.client(t, s).ListServiceDesk(t.Context(), tenant.ListOptions{})
	var te *tenant.TokenError
	if !errors.As(err, &te) || te.Status != 401 || !strings.Contains(err.Error(), "the client id or secret was refused") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("the error shows the secret: %v", err)
	}
	if got := env.emu.Counters().Requests["POST "+emulator.TokenPath]; got != 1 {
		t.Errorf("a refused secret was tried %d times", got)
	}
}

// TestReadOnlyClientNeverWrites: every write of a read-only client is refused before any
// I/O, and reads still work.
func TestReadOnlyClientNeverWrites(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	if err := env.emu.Generate(3); err != nil {
		t.Fatal(err)
	}
	rw := env.client(t, env.settings(t, sdim.V2025))
	ro := rw.ReadOnly()
	ctx := t.Context()
	id := "ffffffffffffffffffffffffffffffff"
	writes := map[string]func() error{
		"create": func() error { _, err := ro.CreateServiceDesk(ctx, snow("x")); return err },
		"put":    func() error { _, err := ro.PutServiceDesk(ctx, id, snow("x")); return err },
		"patch": func() error {
			_, err := ro.PatchServiceDesk(ctx, id, "x", []tenant.PatchOp{tenant.Replace("/a", 1)})
			return err
		},
		"delete":       func() error { return ro.DeleteServiceDesk(ctx, id, "x") },
		"status check": func() error { _, err := ro.PutStatusCheck(ctx, sdim.StatusCheckConfiguration{}); return err },
		"create SIM":   func() error { _, err := ro.CreateSIM(ctx, sdim.SIMIntegration{Name: "x"}); return err },
		"put SIM":      func() error { _, err := ro.PutSIM(ctx, id, sdim.SIMIntegration{Name: "x"}); return err },
		"patch SIM": func() error {
			_, err := ro.PatchSIM(ctx, id, "x", []tenant.PatchOp{tenant.Replace("/a", 1)})
			return err
		},
		"patch SIM rule": func() error {
			_, err := ro.PatchSIMBeforeProvisioningRule(ctx, id, "x", []tenant.PatchOp{tenant.Replace("/id", "1")})
			return err
		},
		"delete SIM": func() error { return ro.DeleteSIM(ctx, id, "x") },
	}
	for name, write := range writes {
		if err := write(); !errors.Is(err, tenant.ErrReadOnly) {
			t.Errorf("%s: got %v, want ErrReadOnly", name, err)
		}
	}
	if got := env.emu.Counters().TotalRequests(); got != 0 {
		t.Errorf("the refused writes made %d requests", got)
	}
	live, err := ro.Snapshot(ctx, tenant.SnapshotOptions{SIM: true})
	if err != nil || len(live.ServiceDesk) != 3 {
		t.Fatalf("snapshot through the read-only client: %v", err)
	}
	if got := env.emu.Counters().TotalWrites(); got != 0 {
		t.Errorf("the read-only client wrote %d times", got)
	}
	if !ro.IsReadOnly() || rw.IsReadOnly() {
		t.Error("ReadOnly changed the client it came from")
	}
}

// TestClientRateLimitIsShared: eight goroutines share one limiter set to the tenant's own
// limit, and the tenant never answers 429.
func TestClientRateLimitIsShared(t *testing.T) {
	env := startEmulator(t, emulator.Config{RateLimit: 10, RateWindow: time.Second})
	s := env.settings(t, sdim.V3)
	s.RateLimit, s.RateWindow = 10, time.Second
	var h hookLog
	c := env.client(t, s, tenant.WithHooks(h.hooks()))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 8 {
		wg.Go(func() {
			for range 3 {
				if _, err := c.GetStatusCheck(t.Context()); err != nil {
					failed.Add(1)
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	cnt := env.emu.Counters()
	if cnt.Responses["429"] != 0 || cnt.Faults["rateLimited"] != 0 {
		t.Errorf("the tenant answered %d 429s", cnt.Responses["429"])
	}
	if h.waits["client"] <= 0 {
		t.Errorf("24 requests at 10 a second never waited: %v", h.waits)
	}
}

// TestNetworkErrorsAreRetried: dropped connections on GET are retried until it succeeds.
func TestNetworkErrorsAreRetried(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	var h hookLog
	c := env.client(t, env.settings(t, sdim.V3), tenant.WithHooks(h.healAfter(env, "network", 3)))
	if _, err := c.GetStatusCheck(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := env.emu.SetFaults(emulator.Faults{DropRate: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListServiceDesk(t.Context(), tenant.ListOptions{}); err != nil {
		t.Fatalf("list after three drops: %v", err)
	}
	if h.retry("network") != 3 {
		t.Errorf("retries: %v", h.retries)
	}
}

// TestTimeouts: an attempt that gets no answer within the request timeout is retried for a
// GET, and for a POST it is an ambiguous error sent once.
func TestTimeouts(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	var h hookLog
	s := env.settings(t, sdim.V3)
	s.RequestTimeout = 100 * time.Millisecond
	c := env.client(t, s, tenant.WithHooks(h.healAfter(env, "network", 2)))
	if _, err := c.GetStatusCheck(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := env.emu.SetFaults(emulator.Faults{LatencyMS: 400}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetStatusCheck(t.Context()); err != nil {
		t.Fatalf("GET after two timeouts: %v", err)
	}
	if h.retry("network") != 2 {
		t.Errorf("retries %v", h.retries)
	}
	if err := env.emu.SetFaults(emulator.Faults{LatencyMS: 400}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateServiceDesk(t.Context(), snow("Slow"))
	if !tenant.IsAmbiguous(err) || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("a timed-out create: %v", err)
	}
	if n := env.wire.count(http.MethodPost, sdim.V3.ServiceDeskPath()); n != 1 {
		t.Errorf("POST sent %d times", n)
	}
	for _, r := range env.wire.requests() {
		if ua := r.header.Get("User-Agent"); r.path != emulator.TokenPath && !strings.HasPrefix(ua, "sdim-sync/") {
			t.Errorf("%s %s sent User-Agent %q", r.method, r.path, ua)
		}
	}
}

// tokenThrottle answers the first token request 429 with Retry-After: 1, as a busy token
// endpoint would; the emulator's faults leave its token endpoint alone.
type tokenThrottle struct {
	base http.RoundTripper
	done atomic.Bool
}

func (tt *tokenThrottle) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == emulator.TokenPath && tt.done.CompareAndSwap(false, true) {
		if req.Body != nil {
			req.Body.Close()
		}
		return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests",
			Header: http.Header{"Retry-After": {"1"}, "Content-Type": {"application/json"}},
			Body:   io.NopCloser(strings.NewReader(`{"error":"slow down"}`)), Request: req}, nil
	}
	return tt.base.RoundTrip(req)
}

// TestTokenEndpointRetryAfter: a 429 from the token endpoint is waited as told.
func TestTokenEndpointRetryAfter(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	var h hookLog
	c, err := tenant.New(env.settings(t, sdim.V3), tenant.WithTransport(&tokenThrottle{base: env.srv.Client().Transport}),
		tenant.WithHooks(h.hooks()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.GetStatusCheck(t.Context()); err != nil {
		t.Fatalf("after a throttled token request: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("waited %s, less than the token endpoint's Retry-After of 1 s", waited)
	}
	if h.retry("token") != 1 {
		t.Errorf("retries %v", h.retries)
	}
}

// expireDuringRetry answers the first API request after a token refresh with a 503 and,
// meanwhile, lets the tenant's clock run past the fresh token's lifetime, so the retry
// that follows the backoff carries a token the tenant has expired in between.
type expireDuringRetry struct {
	next    http.RoundTripper
	fake    *clock.Fake
	mu      sync.Mutex
	tokens  int
	tripped bool
}

func (e *expireDuringRetry) RoundTrip(r *http.Request) (*http.Response, error) {
	e.mu.Lock()
	if r.URL.Path == emulator.TokenPath {
		e.tokens++
	}
	trip := e.tokens == 2 && !e.tripped && r.URL.Path != emulator.TokenPath
	if trip {
		e.tripped = true
		e.fake.Advance(emulator.DefaultTokenTTL + time.Second)
	}
	e.mu.Unlock()
	if trip {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(`{"messages":[{"text":"busy"}]}`)),
			Request: r}, nil
	}
	return e.next.RoundTrip(r)
}

// TestTokenExpiresAgainDuringARetry: a call whose token was refused and renewed, and whose
// fresh token then expires while it waits out a 5xx, renews it once more and succeeds,
// instead of ending with "refused even after a fresh one" (found by the daemon's soak).
func TestTokenExpiresAgainDuringARetry(t *testing.T) {
	fake := newFakeClock()
	env := startEmulator(t, emulator.Config{Now: fake.Now})
	s := env.settings(t, sdim.V3)
	rt := &expireDuringRetry{next: env.srv.Client().Transport, fake: fake}
	c, err := tenant.New(s, tenant.WithTransport(rt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListServiceDesk(t.Context(), tenant.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	fake.Advance(emulator.DefaultTokenTTL + time.Second) // the first token expires at the tenant
	if _, err := c.ListServiceDesk(t.Context(), tenant.ListOptions{}); err != nil {
		t.Fatalf("a token that expires again during a retry ended the call: %v", err)
	}
	if !rt.tripped || rt.tokens != 3 {
		t.Errorf("tripped %v, %d tokens fetched; want the 503 and 3 tokens", rt.tripped, rt.tokens)
	}
}
