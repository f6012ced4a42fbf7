// Package bench is the harness that measures sdim-sync against the naive way of doing the
// same job on the emulated tenant: reading a tenant with one GET per object (as
// Terraform-style refreshes and the SDK examples do) instead of a few list calls, and
// applying with one PUT per object instead of a plan. The benchmarks of this package
// measure each way in its own process (scripts/bench.sh runs one case per process, so that
// the peak memory is the case's own), and the benchtable command folds their figures into
// one Markdown table of ratios.
//
// Everything here runs the real code: the tenant client of internal/tenant, the planner
// and the applier, against internal/emulator served over loopback HTTP in the same
// process.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// The tenant's documented rate limit: 100 requests per client and API version per 10 s.
const (
	TenantLimit  = 100
	TenantWindow = 10 * time.Second
)

// Tenant is an emulated tenant served over loopback HTTP in this process.
type Tenant struct {
	Emu *emulator.Emulator
	srv *httptest.Server
}

// NewTenant starts an emulated tenant with cfg and n generated service desk integrations
// (emulator.Generate: owner, cluster, two managed sources, a password). Close it.
func NewTenant(cfg emulator.Config, n int) (*Tenant, error) {
	e, err := emulator.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := e.Generate(n); err != nil {
		_ = e.Close()
		return nil, err
	}
	return &Tenant{Emu: e, srv: httptest.NewServer(e)}, nil
}

// URL is the tenant's base URL.
func (t *Tenant) URL() string { return t.srv.URL }

// Close stops the server and the emulator.
func (t *Tenant) Close() {
	t.srv.Close()
	_ = t.Emu.Close()
}

// Limiter says how the client paces its requests.
type Limiter func(*tenant.Settings)

// Shipped leaves the client's rate limit at its defaults (tenant.DefaultRateLimit per
// tenant.DefaultRateWindow, up to the limit at once when the window is empty): what a user runs.
func Shipped(*tenant.Settings) {}

// Opened turns the client's limiter off in effect (a billion requests a second, a million
// at once), so that the wall time is the work; a 429 is still waited out as the tenant
// asks. The naive way runs with it: the SDK examples do not pace their requests.
func Opened(s *tenant.Settings) {
	s.RateLimit, s.RateWindow = 1_000_000_000, time.Second
}

// AtLimit sets the client's limiter to limit requests per window, with the default burst:
// the client matched to the tenant's limit.
func AtLimit(limit int, window time.Duration) Limiter {
	return func(s *tenant.Settings) {
		s.RateLimit, s.RateWindow = limit, window
	}
}

// Client makes a real tenant client (tenant.New, with the settings a user's configuration
// gets) for the tenant, its limiter set by lim.
func (t *Tenant) Client(lim Limiter) (*tenant.Client, error) {
	s, err := tenant.Config{BaseURL: t.srv.URL, ClientID: emulator.DemoClientID}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "bench")}).Settings(nil)
	if err != nil {
		return nil, err
	}
	if lim != nil {
		lim(&s)
	}
	return tenant.New(s, tenant.WithTransport(t.srv.Client().Transport))
}

// Traffic is what the tenant saw since its counters were last reset.
type Traffic struct {
	Requests  int64 // API requests, 429s included, token requests not
	Committed int64 // writes that changed the tenant
	Limited   int64 // 429 answers
}

// Traffic reads the emulator's counters.
func (t *Tenant) Traffic() Traffic {
	c := t.Emu.Counters()
	return Traffic{
		Requests:  c.TotalRequests() - c.Requests["POST "+emulator.TokenPath],
		Committed: c.Committed,
		Limited:   c.Responses["429"],
	}
}

// DriftedDescription is the description Desired gives a drifted integration.
const DriftedDescription = "Changed in the desired state"

// Desired returns the tenant's service desk integrations as a desired state, as an export
// would give them with their passwords as secret references, sorted by name. Every
// driftEvery-th one (the first included; none when driftEvery < 1) has another
// description, which the planner puts (a description is not patchable by default). It
// also returns how many drifted.
func (t *Tenant) Desired(driftEvery int) (*desired.State, int, error) {
	st := t.Emu.State()
	want := &desired.State{Dir: "bench", Files: 1, Paths: []string{"integrations.yaml"},
		ServiceDesk: make([]desired.ServiceDeskResource, 0, len(st.ServiceDeskIntegrations))}
	drifted := 0
	for i, raw := range st.ServiceDeskIntegrations {
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, 0, err
		}
		var spec sdim.ServiceDeskIntegration
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&spec); err != nil {
			return nil, 0, fmt.Errorf("integration %d: %w", i, err)
		}
		spec.ID, spec.Created, spec.Modified = "", "", ""
		for k, v := range spec.Attributes {
			if s, ok := v.(string); ok && isSecretKey(k) {
				spec.Attributes[k] = sdim.NewSecret(s, "env:BENCH_"+strings.ToUpper(k))
			}
		}
		if driftEvery > 0 && i%driftEvery == 0 {
			spec.Description = DriftedDescription
			drifted++
		}
		want.ServiceDesk = append(want.ServiceDesk, desired.ServiceDeskResource{
			Resource: desired.Resource{Kind: sdim.KindServiceDesk, Name: spec.Name,
				Source: desired.Source{File: "integrations.yaml", Line: 1 + 20*i, Column: 1}},
			Spec: spec,
		})
	}
	slices.SortFunc(want.ServiceDesk, func(a, b desired.ServiceDeskResource) int { return strings.Compare(a.Name, b.Name) })
	return want, drifted, nil
}

func isSecretKey(k string) bool {
	return slices.ContainsFunc(sdim.DefaultSecretAttributeKeys(), func(s string) bool { return strings.EqualFold(s, k) })
}
