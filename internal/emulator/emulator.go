// Package emulator is an in-memory Identity Security Cloud tenant that serves the service
// desk integration API (v3, v2024, v2025 and the per-service v1) and the experimental SIM
// integration API over HTTP, as SailPoint's OpenAPI definitions describe them. Tests, the
// demo and the benchmarks run against it; faults, rate limits and token expiry can be
// switched on to see how a client copes.
package emulator

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// Config sets up an emulated tenant. The zero value is usable: New fills the defaults.
type Config struct {
	// Clients maps OAuth client ids to their secrets. Default: one client, DemoClientID
	// with DemoClientSecret.
	Clients map[string]string
	// TokenTTL is how long an access token lives (expires_in). Default 749 s; at least 1 s.
	TokenTTL time.Duration
	// SecretKeys are the attribute keys stored but never returned (case-insensitive).
	// Default: sdim.DefaultSecretAttributeKeys.
	SecretKeys []string
	// PatchablePaths are the JSON pointers a service desk PATCH may replace (a pointer
	// also allows the paths below it). Default: /beforeProvisioningRule.
	PatchablePaths []string
	// SIMPatchablePaths is the same for SIM integrations. Default: /beforeProvisioningRule.
	SIMPatchablePaths []string
	// RateLimit is the number of API requests a client may make per RateWindow and API
	// version (a token bucket of that size). Default 100; negative turns limiting off.
	RateLimit int
	// RateWindow is the rate limit's window. Default 10 s.
	RateWindow time.Duration
	// RefNames maps reference ids to the display names the tenant fills in on write.
	RefNames map[string]string
	// Faults are the faults injected from the start; SetFaults changes them later.
	Faults Faults
	// StatePath, if set, is a file the objects are loaded from at start (when it exists)
	// and saved to after writes, so a restarted emulator keeps them.
	StatePath string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives one line per request at debug level and persistence errors.
	// Default: discard.
	Logger *slog.Logger
}

// The credentials of the default client, for the demo and the README.
const (
	DemoClientID     = "sdim-sync-demo"
	DemoClientSecret = "demo-secret"
)

// Default values of Config.
const (
	DefaultTokenTTL   = 749 * time.Second
	DefaultRateLimit  = 100
	DefaultRateWindow = 10 * time.Second
)

// DefaultPatchablePaths is the v3 reference's list of fields PATCH may replace.
func DefaultPatchablePaths() []string { return []string{"/beforeProvisioningRule"} }

// Emulator is an emulated tenant; it is an http.Handler. Close it to flush persistence.
type Emulator struct {
	cfg      Config
	secrets  sdim.SecretKeySet
	norm     normalizer
	api      *http.ServeMux
	admin    *http.ServeMux
	auth     *authenticator
	limiter  *rateLimiter
	faults   *faultInjector
	counters *counters
	persist  *persister
	log      *slog.Logger

	mu          sync.Mutex // guards the tenant's objects below
	sdim        *collection
	sim         *collection
	statusCheck StatusCheck
	lastWrite   time.Time
}

// New builds an emulated tenant, loading Config.StatePath when it exists.
func New(cfg Config) (*Emulator, error) {
	if cfg.Clients == nil {
		cfg.Clients = map[string]string{DemoClientID: DemoClientSecret}
	}
	for id, secret := range cfg.Clients {
		if id == "" || secret == "" {
			return nil, errors.New("emulator: every client needs a non-empty id and secret")
		}
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.TokenTTL < time.Second {
		return nil, fmt.Errorf("emulator: token TTL %s is under the 1 s minimum", cfg.TokenTTL)
	}
	if cfg.SecretKeys == nil {
		cfg.SecretKeys = sdim.DefaultSecretAttributeKeys()
	}
	if cfg.PatchablePaths == nil {
		cfg.PatchablePaths = DefaultPatchablePaths()
	}
	if cfg.SIMPatchablePaths == nil {
		cfg.SIMPatchablePaths = DefaultPatchablePaths()
	}
	for _, p := range append(cloneStrings(cfg.PatchablePaths), cfg.SIMPatchablePaths...) {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("emulator: patchable path %q is not a JSON pointer (it must start with /)", p)
		}
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateWindow == 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.RateWindow < 0 {
		return nil, fmt.Errorf("emulator: rate window %s is negative", cfg.RateWindow)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Faults.validate(); err != nil {
		return nil, err
	}
	e := &Emulator{
		cfg:         cfg,
		secrets:     sdim.NewSecretKeySet(cfg.SecretKeys),
		norm:        normalizer{refNames: cfg.RefNames},
		auth:        newAuthenticator(cfg.Clients, cfg.TokenTTL, cfg.Now),
		limiter:     newRateLimiter(cfg.RateLimit, cfg.RateWindow, cfg.Now),
		faults:      newFaultInjector(cfg.Faults),
		counters:    newCounters(),
		log:         cfg.Logger,
		sdim:        newCollection("service desk integration"),
		sim:         newCollection("SIM integration"),
		statusCheck: DefaultStatusCheck(),
	}
	e.routes()
	if cfg.StatePath != "" {
		p, err := newPersister(e, cfg.StatePath)
		if err != nil {
			return nil, err
		}
		e.persist = p
	}
	return e, nil
}

func cloneStrings(s []string) []string { return append([]string(nil), s...) }

// Close stops background work and saves the state file, if one is set.
func (e *Emulator) Close() error {
	if e.persist != nil {
		return e.persist.close()
	}
	return nil
}

// SetFaults replaces the injected faults.
func (e *Emulator) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	e.faults.set(f)
	return nil
}

// CurrentFaults returns the injected faults, with the forced 429s still to come.
func (e *Emulator) CurrentFaults() Faults { return e.faults.get() }

// Counters returns a copy of the request and write counters.
func (e *Emulator) Counters() Counters { return e.counters.snapshot() }

// ResetCounters sets every counter back to zero.
func (e *Emulator) ResetCounters() { e.counters.reset() }

// ServeHTTP serves the tenant API, the token endpoint and the admin endpoints.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := e.cfg.Now()
	if strings.HasPrefix(r.URL.Path, AdminPrefix) {
		e.admin.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		e.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status(), "duration", e.cfg.Now().Sub(start))
	}()
	if r.URL.Path == TokenPath {
		e.counters.request(r.Method, TokenPath, false)
		e.auth.serveToken(sw, r)
		e.counters.response(sw.status())
		return
	}
	_, pattern := e.api.Handler(r)
	if pattern == "/" {
		pattern = "(unmatched)"
	}
	write := isWrite(r.Method)
	e.counters.request(r.Method, pattern, write)
	defer func() { e.counters.response(sw.status()) }()

	client, msg := e.auth.check(r)
	if client == "" {
		writeUnauthorized(sw, msg)
		return
	}
	if wait, ok := e.limiter.allow(client, apiVersionOf(r.URL.Path)); !ok {
		e.counters.fault("rateLimited")
		writeTooManyRequests(sw, wait)
		return
	}
	e.serveWithFaults(sw, r, write)
}

// isWrite reports whether a method changes the tenant.
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// apiVersionOf names the API version of a path, for the per-version rate limit.
func apiVersionOf(path string) string {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	if len(parts) > 0 && strings.HasPrefix(parts[0], "v") {
		return parts[0]
	}
	if len(parts) > 1 {
		return parts[1]
	}
	return ""
}

// The paths outside the versioned API.
const (
	TokenPath   = "/oauth/token"
	AdminPrefix = "/_emulator/"
)

// statusWriter remembers the status code written and passes hijacking through.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int { return s.code }

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
