package tenant_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// stamper records the fake time of every request that leaves the client, and the pauses
// the client announced (through its Retry hook), so that a test can tell whether a request
// left inside an announced pause.
type stamper struct {
	base  http.RoundTripper
	clock *clock.Fake

	mu     sync.Mutex
	sent   []stamp
	pauses []pauseWindow
}

type stamp struct {
	path string
	at   time.Time
}

func (s stamp) String() string { return s.path + " at " + s.at.Format(time.RFC3339Nano) }

// pauseWindow is a pause the client announced after `after` requests had left.
type pauseWindow struct {
	after     int
	from, end time.Time
}

func (s *stamper) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.sent = append(s.sent, stamp{req.URL.Path, s.clock.Now()})
	s.mu.Unlock()
	return s.base.RoundTrip(req)
}

// announce notes a pause of d starting now; call it from the Retry hook, which the client
// calls right after it set the pause.
func (s *stamper) announce(d time.Duration) {
	s.mu.Lock()
	now := s.clock.Now()
	s.pauses = append(s.pauses, pauseWindow{after: len(s.sent), from: now, end: now.Add(d)})
	s.mu.Unlock()
}

func (s *stamper) requests() []stamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stamp(nil), s.sent...)
}

// inPause lists the requests that left after a pause was announced and before it ended.
func (s *stamper) inPause() []stamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []stamp
	for _, p := range s.pauses {
		for _, r := range s.sent[p.after:] {
			if r.at.Before(p.end) {
				out = append(out, r)
			}
		}
	}
	return out
}

// fakeTimeClient is a client of env on the fake clock, its requests stamped by st.
func fakeTimeClient(t *testing.T, env *tenantEnv, s tenant.Settings, fake *clock.Fake, hooks tenant.Hooks) (*tenant.Client, *stamper) {
	t.Helper()
	st := &stamper{base: env.srv.Client().Transport, clock: fake}
	c, err := tenant.New(s, tenant.WithTransport(st), tenant.WithClock(fake), tenant.WithHooks(hooks))
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

// TestRetryAfterOnFakeTime: a 429 with Retry-After: 30 holds the call for exactly 30 s of
// fake time: nothing reaches the tenant a nanosecond before, and the call completes as
// soon as the 30 s are up, without waiting 30 real seconds.
func TestRetryAfterOnFakeTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	realStart := time.Now()
	fake := newFakeClock()
	env := startEmulator(t, emulator.Config{Now: fake.Now, RateLimit: -1})
	var h hookLog
	c, st := fakeTimeClient(t, env, env.settings(t, sdim.V3), fake, h.hooks())
	if _, err := c.GetStatusCheck(ctx); err != nil { // the token, fetched before the 429
		t.Fatal(err)
	}
	if err := env.emu.SetFaults(emulator.Faults{Force429: 1, RetryAfterSeconds: 30}); err != nil {
		t.Fatal(err)
	}
	t0 := fake.Now()
	done := make(chan error, 1)
	go func() {
		_, err := c.ListServiceDesk(ctx, tenant.ListOptions{})
		done <- err
	}()
	if err := fake.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if next, _ := fake.Next(); !next.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("the client waits until %v, want 30 s after the 429 (%v)", next, t0.Add(30*time.Second))
	}
	sent := len(st.requests())
	apiRequests := env.emu.Counters().TotalRequests()

	fake.Advance(30*time.Second - time.Nanosecond)
	if fake.Waiters() != 1 {
		t.Errorf("the wait ended before the 30 s were up")
	}
	select {
	case err := <-done:
		t.Fatalf("the call returned (%v) before the Retry-After ended", err)
	default:
	}
	if got := len(st.requests()); got != sent {
		t.Errorf("%d requests left inside the Retry-After", got-sent)
	}
	if got := env.emu.Counters().TotalRequests(); got != apiRequests {
		t.Errorf("the tenant received %d requests inside the Retry-After", got-apiRequests)
	}

	fake.Advance(time.Nanosecond)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the call after the Retry-After: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the call did not complete once the Retry-After ended")
	}
	reqs := st.requests()
	if len(reqs) != sent+1 || !reqs[len(reqs)-1].at.Equal(t0.Add(30*time.Second)) {
		t.Errorf("after the wait: %d requests, the last at %v; want one, at %v", len(reqs)-sent, reqs[len(reqs)-1].at, t0.Add(30*time.Second))
	}
	if h.retry("429") != 1 || h.waits["server"] != 30*time.Second {
		t.Errorf("hooks: retries %v, waits %v; want one 429 and a server wait of exactly 30s", h.retries, h.waits)
	}
	if got := env.emu.Counters().Faults["forced429"]; got != 1 {
		t.Errorf("the emulator forced %d 429s", got)
	}
	if took := time.Since(realStart); took > 10*time.Second {
		t.Errorf("30 s of fake time took %s of real time", took)
	}
}

// TestPauseHoldsBackEveryWorker: five goroutines share a client limited to one request
// per second of fake time, so four of them are waiting for their turn when the first gets
// a 429 with Retry-After: 30. None of them may send inside that pause: each gives its turn
// back and takes a fresh one, so that when it ends they leave at the limit's pace, one a
// second, not all at once.
func TestPauseHoldsBackEveryWorker(t *testing.T) {
	const workers, calls = 5, 2
	const retryAfter = 30 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	fake := newFakeClock()
	env := startEmulator(t, emulator.Config{Now: fake.Now, RateLimit: -1})
	s := env.settings(t, sdim.V3)
	s.RateLimit, s.RateWindow = 1, time.Second
	var st *stamper
	var h hookLog
	hooks := h.hooks()
	record := hooks.Retry
	hooks.Retry = func(m, r, reason string) {
		record(m, r, reason)
		if reason == "429" {
			st.announce(retryAfter)
		}
	}
	c, st := fakeTimeClient(t, env, s, fake, hooks)
	if _, err := c.GetStatusCheck(ctx); err != nil { // the token, and the limiter's first turn
		t.Fatal(err)
	}
	if err := env.emu.SetFaults(emulator.Faults{Force429: 1, RetryAfterSeconds: int(retryAfter / time.Second)}); err != nil {
		t.Fatal(err)
	}
	t0 := fake.Now()

	var active atomic.Int64
	active.Store(workers)
	errs := make(chan error, workers*calls)
	for range workers {
		go func() {
			defer active.Add(-1)
			for range calls {
				if _, err := c.GetStatusCheck(ctx); err != nil {
					errs <- err
				}
			}
		}()
	}
	// Move the fake clock from one timer to the next, each time once every worker still
	// running is asleep on it, so that the fake time of each request is exact.
	for steps := 0; ; steps++ {
		for fake.Waiters() < int(active.Load()) {
			if ctx.Err() != nil {
				t.Fatalf("the workers did not settle: %d running, %d asleep", active.Load(), fake.Waiters())
			}
			time.Sleep(time.Millisecond)
		}
		if active.Load() == 0 {
			break
		}
		if steps > 1000 {
			t.Fatal("the workers never finished")
		}
		next, _ := fake.Next()
		fake.Set(next)
	}
	close(errs)
	for err := range errs {
		t.Errorf("a call failed: %v", err)
	}

	if bad := st.inPause(); len(bad) > 0 {
		t.Errorf("%d requests left inside the announced pause: %v", len(bad), bad)
	}
	st.mu.Lock()
	pauses := st.pauses
	st.mu.Unlock()
	if len(pauses) != 1 {
		t.Fatalf("%d pauses announced, want 1", len(pauses))
	}
	p := pauses[0]
	if d := p.from.Sub(t0); d < time.Second || d > 1100*time.Millisecond {
		t.Errorf("the 429 came at +%v, want about a second after the start (one request a second)", d)
	}
	reqs := st.requests()
	after := reqs[p.after:]
	if len(after) != workers*calls {
		t.Fatalf("%d requests after the pause, want %d (the one refused and the rest)", len(after), workers*calls)
	}
	if !after[0].at.Equal(p.end) {
		t.Errorf("the first request after the pause left at +%s, want +%s, as the pause ended", after[0].at.Sub(t0), p.end.Sub(t0))
	}
	for i := 1; i < len(after); i++ {
		if gap := after[i].at.Sub(after[i-1].at); gap <= time.Second || gap > 1100*time.Millisecond {
			t.Errorf("request %d after the pause left %s after the one before, want just over a second (the limit's pace)", i+1, gap)
		}
	}
	if got := env.emu.Counters().Faults["forced429"]; got != 1 {
		t.Errorf("%d 429s answered, want 1", got)
	}
	if h.retry("429") != 1 {
		t.Errorf("retries %v", h.retries)
	}
}

// TestTokenRefreshHook: the hook hears of every token fetch, the failed ones with their
// error: a throttled token request (waited on fake time), the fetch after it, the refresh
// before expiry, and a refused secret.
func TestTokenRefreshHook(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	fake := newFakeClock()
	env := startEmulator(t, emulator.Config{Now: fake.Now})
	var mu sync.Mutex
	var fetches []error
	hooks := tenant.Hooks{TokenRefresh: func(err error) {
		mu.Lock()
		fetches = append(fetches, err)
		mu.Unlock()
	}}
	got := func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), fetches...)
	}
	c, err := tenant.New(env.settings(t, sdim.V3), tenant.WithClock(fake), tenant.WithHooks(hooks),
		tenant.WithTransport(&tokenThrottle{base: env.srv.Client().Transport}))
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { _, err := c.GetStatusCheck(ctx); done <- err }()
	if err := fake.WaitForWaiters(ctx, 1); err != nil { // the token endpoint's Retry-After: 1
		t.Fatal(err)
	}
	if next, _ := fake.Next(); next.Sub(fake.Now()) != time.Second {
		t.Errorf("after the throttled token request the client waits %s, want the 1 s asked for", next.Sub(fake.Now()))
	}
	fake.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("after a throttled token request: %v", err)
	}
	f := got()
	var te *tenant.TokenError
	if len(f) != 2 || !errors.As(f[0], &te) || te.Status != http.StatusTooManyRequests || f[1] != nil {
		t.Fatalf("token fetches reported: %v; want the 429, then a success", f)
	}

	for range 3 { // the cached token: no fetch
		if _, err := c.GetStatusCheck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(got()); n != 2 {
		t.Errorf("%d fetches reported for a cached token", n-2)
	}
	fake.Advance(700 * time.Second) // past the refresh point of a 749 s token
	if _, err := c.GetStatusCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if f := got(); len(f) != 3 || f[2] != nil {
		t.Errorf("after 700 s: %v; want a third, successful fetch", f)
	}

	mu.Lock()
	fetches = nil
	mu.Unlock()
	s := env.settings(t, sdim.V3)
	s.ClientSecret = sdim.NewSecret("wrong-secret-value", "test")
	bad, err := tenant.New(s, tenant.WithClock(fake), tenant.WithHooks(hooks), tenant.WithTransport(env.srv.Client().Transport))
	if err != nil {
		t.Fatal(err)
	}
	_, callErr := bad.GetStatusCheck(ctx)
	if f := got(); len(f) != 1 || !errors.As(f[0], &te) || te.Status != http.StatusUnauthorized || !errors.Is(callErr, f[0]) {
		t.Errorf("a refused secret: reported %v, the call failed with %v", f, callErr)
	}
}
