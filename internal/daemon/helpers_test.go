package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/metrics"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
	"github.com/sdim-sync/sdim-sync/internal/watch"
)

// epoch is where the fake clocks start.
var epoch = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// fakeWatcher is a Watcher the test feeds by hand.
type fakeWatcher struct {
	events chan watch.Event
	errs   chan error
	mu     sync.Mutex
	files  []string
}

func newFakeWatcher() *fakeWatcher {
	return &fakeWatcher{events: make(chan watch.Event, 1000), errs: make(chan error)}
}

func (w *fakeWatcher) Events() <-chan watch.Event { return w.events }
func (w *fakeWatcher) Errors() <-chan error       { return w.errs }
func (w *fakeWatcher) Close() error               { return nil }
func (w *fakeWatcher) SetFiles(files []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files = files
	return nil
}

// gate holds the tenant's list requests while closed, so a test can act during a run.
type gate struct {
	next http.RoundTripper
	mu   sync.Mutex
	hold chan struct{} // nil: open
	held chan struct{} // gets a value each time a request is held
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	hold := g.hold
	g.mu.Unlock()
	if hold != nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/service-desk-integrations") {
		select {
		case g.held <- struct{}{}:
		default:
		}
		select {
		case <-hold:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return g.next.RoundTrip(r)
}

// close makes the next list requests wait until open.
func (g *gate) close() {
	g.mu.Lock()
	g.hold = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	if g.hold != nil {
		close(g.hold)
		g.hold = nil
	}
	g.mu.Unlock()
}

// fixture is a daemon on a fake clock against an emulated tenant, with a fake watcher.
type fixture struct {
	t       *testing.T
	emu     *emulator.Emulator
	clock   *clock.Fake
	dir     string
	d       *Daemon
	watcher *fakeWatcher
	gate    *gate
	metrics *metrics.Metrics
	runs    chan *engine.Run
	checks  chan bool
	cancel  context.CancelFunc
	done    chan error
}

type fixtureOpts struct {
	mode     Mode
	schedule string
	files    map[string]string
	seed     *emulator.State
	// applyFault, when set, is switched on in the emulator before each write.
	prune bool
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	emu, err := emulator.New(emulator.Config{RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		srv.Close()
		_ = emu.Close()
	})
	if o.seed != nil {
		if err := emu.Seed(*o.seed); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for name, body := range o.files {
		writeFile(t, filepath.Join(dir, name), body)
	}
	s, err := tenant.Config{BaseURL: srv.URL, ClientID: emulator.DemoClientID, APIVersion: string(sdim.V2024)}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "test")}).Settings(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.RateLimit, s.RateWindow = 10000, time.Second
	s.RetryBaseDelay, s.RetryMaxDelay = time.Millisecond, 5*time.Millisecond
	g := &gate{next: srv.Client().Transport, held: make(chan struct{}, 1)}
	m := metrics.New(metrics.Options{Version: "test"})
	client, err := tenant.New(s, tenant.WithTransport(g), tenant.WithHooks(m.TenantHooks()))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	eng := engine.New(engine.Client(client), engine.Options{Logger: log})
	fc := clock.NewFake(epoch)
	fw := newFakeWatcher()
	f := &fixture{t: t, emu: emu, clock: fc, dir: dir, watcher: fw, gate: g, metrics: m,
		runs: make(chan *engine.Run, 100), checks: make(chan bool, 100), done: make(chan error, 1)}
	if o.schedule == "" {
		o.schedule = "@every 1h"
	}
	pol := planner.DefaultPolicy()
	pol.Prune = o.prune
	pol.PruneUnownedByName = o.prune // these tests keep no ledger: pruning goes by name
	cfg := Config{
		Dir: dir, Schedule: o.schedule, Watch: true, Debounce: time.Second, Mode: o.mode, Policy: pol,
		ShutdownGrace: 5 * time.Second,
		NewWatcher:    func(string, []string, *slog.Logger) (Watcher, error) { return fw, nil },
		OnRun:         func(r *engine.Run) { f.runs <- r },
	}
	d, err := New(cfg, Deps{Engine: eng, Observer: m, Metrics: m.Handler(), Logger: log, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	d.checked = func(changed bool) { f.checks <- changed }
	f.d = d
	return f
}

// start runs the daemon until the test ends or stop is called.
func (f *fixture) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { f.done <- f.d.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
			f.t.Error("the daemon did not stop within 10 s")
		}
	})
}

// stop cancels the daemon (SIGTERM) and returns Run's error.
func (f *fixture) stop(within time.Duration) error {
	f.t.Helper()
	f.cancel()
	select {
	case err := <-f.done:
		f.done <- err // for the cleanup
		return err
	case <-time.After(within):
		f.t.Fatalf("the daemon did not stop within %s", within)
		return nil
	}
}

// nextRun waits for the next run to be recorded.
func (f *fixture) nextRun() *engine.Run {
	f.t.Helper()
	select {
	case r := <-f.runs:
		return r
	case <-time.After(20 * time.Second):
		f.t.Fatal("no run within 20 s")
		return nil
	}
}

// noRun asserts that no run is recorded within a short real-time window.
func (f *fixture) noRun(why string) {
	f.t.Helper()
	select {
	case r := <-f.runs:
		f.t.Fatalf("%s: an unexpected run %s (trigger %s)", why, r.ID, r.Trigger)
	case <-time.After(300 * time.Millisecond):
	}
}

// event feeds the watcher one event about name in the desired directory.
func (f *fixture) event(name string) {
	f.watcher.events <- watch.Event{Path: filepath.Join(f.dir, name), Op: "write"}
}

// checkAfterDebounce moves the fake clock a debounce at a time until the watcher's
// debounced check runs, and returns whether it found a change. (The watcher goroutine may
// still be resetting its timer when the clock moves, so one step may not be enough.)
func (f *fixture) checkAfterDebounce() bool {
	f.t.Helper()
	for range 200 {
		f.clock.Advance(time.Second)
		select {
		case c := <-f.checks:
			return c
		case <-time.After(25 * time.Millisecond):
		}
	}
	f.t.Fatal("no change check after 200 debounce periods")
	return false
}

func (f *fixture) waitTimers(n int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.clock.WaitForWaiters(ctx, n); err != nil {
		f.t.Fatalf("waiting for %d timers: %v (have %d)", n, err, f.clock.Waiters())
	}
}

func (f *fixture) writes() int64 {
	var n int64
	for _, v := range f.emu.Counters().Writes {
		n += v
	}
	return n
}

// scrape fetches /metrics over HTTP and parses it.
func (f *fixture) scrape() map[string]*dto.MetricFamily {
	f.t.Helper()
	srv := httptest.NewServer(f.d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		f.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s is not exported", name)
	}
	var sum float64
	found := false
next:
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if !found {
		t.Fatalf("metric %s has no series with %v", name, want)
	}
	return sum
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// integration is a desired ServiceDeskIntegration document.
func integration(name, description string) string {
	return "kind: ServiceDeskIntegration\nname: " + name + "\nspec:\n  description: " + description +
		"\n  type: ServiceNowSDIM\n  attributes:\n    url: https://acme.service-now.com\n    password: ${file:secret}\n"
}
