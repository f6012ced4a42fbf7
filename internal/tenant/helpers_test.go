package tenant_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/contracttest"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// tenantEnv is an emulator behind a loopback server.
type tenantEnv struct {
	emu   *emulator.Emulator
	srv   *httptest.Server
	stats *contracttest.Stats // nil when the spec directory is absent
	wire  *recorder
}

func startEmulator(t *testing.T, cfg emulator.Config) *tenantEnv {
	t.Helper()
	e, err := emulator.New(cfg)
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
	return &tenantEnv{emu: e, srv: srv}
}

// settings are the emulator's demo credentials with fast retries.
func (env *tenantEnv) settings(t *testing.T, v sdim.APIVersion) tenant.Settings {
	t.Helper()
	s, err := tenant.Config{
		BaseURL:    env.srv.URL,
		ClientID:   emulator.DemoClientID,
		APIVersion: string(v),
	}.Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "test")}).Settings(nil)
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	s.RetryBaseDelay = 5 * time.Millisecond
	s.RetryMaxDelay = 20 * time.Millisecond
	s.RateLimit, s.RateWindow = 1000, time.Second
	return s
}

// client connects to the emulator through a transport that records the wire and, when the
// spec is present, validates every request and answer against it.
func (env *tenantEnv) client(t *testing.T, s tenant.Settings, opts ...tenant.Option) *tenant.Client {
	t.Helper()
	rt, stats := contracttest.Wrap(t, env.srv.URL, env.srv.Client().Transport)
	if env.stats == nil {
		env.stats = stats
	}
	if env.wire == nil {
		env.wire = &recorder{}
	}
	env.wire.base = rt
	c, err := tenant.New(s, append([]tenant.Option{tenant.WithTransport(env.wire)}, opts...)...)
	if err != nil {
		t.Fatalf("tenant.New: %v", err)
	}
	return c
}

// recorder keeps what went over the wire: request lines, headers and bodies, and answers.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	sent []sentRequest
	raw  bytes.Buffer // every request and answer, headers and bodies
}

type sentRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.sent = append(r.sent, sentRequest{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), body})
	_ = req.Header.Write(&r.raw)
	r.raw.Write(body)
	r.mu.Unlock()
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	r.mu.Lock()
	_ = resp.Header.Write(&r.raw)
	r.raw.Write(data)
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) requests() []sentRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sentRequest(nil), r.sent...)
}

// tokens lists the bearer tokens sent.
func (r *recorder) tokens() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range r.requests() {
		if a := s.header.Get("Authorization"); len(a) > 7 && !seen[a[7:]] {
			seen[a[7:]] = true
			out = append(out, a[7:])
		}
	}
	return out
}

// count counts the requests with this method and path.
func (r *recorder) count(method, path string) int {
	n := 0
	for _, s := range r.requests() {
		if s.method == method && s.path == path {
			n++
		}
	}
	return n
}

// logBuffer is a slog logger at debug level writing JSON lines to a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newFakeClock is a clock tests move by hand, set to a fixed morning.
func newFakeClock() *clock.Fake { return clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)) }

func snow(name string) sdim.ServiceDeskIntegration {
	return sdim.ServiceDeskIntegration{
		Name:        name,
		Description: "Tickets for " + name,
		Type:        "ServiceNowSDIM",
		OwnerRef:    &sdim.Reference{Type: sdim.RefIdentity, ID: "2c9180a46faadee4016fb4e018c20639"},
		ClusterRef:  &sdim.Reference{Type: sdim.RefCluster, ID: "2c9180847a7fccdd017aa5896f9f4f6f"},
		ProvisioningConfig: &sdim.ProvisioningConfig{
			ManagedResourceRefs: []sdim.Reference{{Type: sdim.RefSource, ID: "2c9180855d191c59015d291ceb051111"}},
		},
		Attributes: map[string]any{"url": "https://acme.service-now.com", "username": "svc-sailpoint"},
	}
}
