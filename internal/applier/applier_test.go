package applier_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// env is an emulator and a client with fast retries and a wide-open limiter.
type env struct {
	emu *emulator.Emulator
	c   *tenant.Client
}

func newEnv(t testing.TB, cfg emulator.Config, tune func(*tenant.Settings)) *env {
	t.Helper()
	return newEnvVia(t, cfg, tune, nil)
}

// newEnvVia is newEnv with the client's transport wrapped by wrap (when not nil).
func newEnvVia(t testing.TB, cfg emulator.Config, tune func(*tenant.Settings), wrap func(http.RoundTripper) http.RoundTripper) *env {
	t.Helper()
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() { srv.Close(); _ = e.Close() })
	s, err := tenant.Config{BaseURL: srv.URL, ClientID: emulator.DemoClientID}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "test")}).Settings(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.RetryBaseDelay, s.RetryMaxDelay = 2*time.Millisecond, 10*time.Millisecond
	s.MaxRetries = 12 // with a fifth of all answers failing, 6 tries would fail a lookup once in ~15,000
	s.RateLimit, s.RateWindow = 100_000, time.Second
	if tune != nil {
		tune(&s)
	}
	rt := srv.Client().Transport
	if wrap != nil {
		rt = wrap(rt)
	}
	c, err := tenant.New(s, tenant.WithTransport(rt))
	if err != nil {
		t.Fatal(err)
	}
	return &env{emu: e, c: c}
}

// writeDesired writes n service desk integrations, and extra documents, into a directory
// and loads it. Secrets come from SNOW_PASSWORD.
func writeDesired(t testing.TB, n int, extra string) *desired.State {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
kind: ServiceDeskIntegration
name: Desk %04d
spec:
  description: Desk number %d
  type: ServiceNowSDIM
  ownerRef: {id: 2c9180a46faadee4016fb4e018c20639}
  provisioningConfig:
    managedResourceRefs: [{id: 2c9180855d191c59015d291ceb051111}, {type: SOURCE, id: 2c9180855d191c59015d291ceb052222}]
  attributes:
    url: https://desk%d.example.com
    username: svc
    timeout: 30
    password: ${env:SNOW_PASSWORD}
`, i, i, i)
	}
	b.WriteString(extra)
	if err := os.WriteFile(filepath.Join(dir, "desks.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := desired.Load(dir, desired.WithLookupEnv(func(k string) (string, bool) {
		if k == "SNOW_PASSWORD" {
			return "pw-value", true
		}
		return "", false
	}))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func plan(t testing.TB, e *env, want *desired.State, pol planner.Policy) *planner.Result {
	t.Helper()
	live, err := e.c.ReadOnly().Snapshot(context.Background(), tenant.SnapshotOptions{SIM: len(want.SIM) > 0})
	if err != nil {
		t.Fatal(err)
	}
	res, err := planner.Plan(want, live, pol)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// converged plans again and fails unless nothing is left to do.
func converged(t testing.TB, e *env, want *desired.State, pol planner.Policy) {
	t.Helper()
	if res := plan(t, e, want, pol); res.HasChanges() {
		t.Errorf("planning again finds %d changes: %+v", len(res.Changes), res.Counts)
	}
}

// TestCreatesUnderFaults: 200 creates while a fifth of the requests fail before being
// processed and a fifth of the writes lose their answer after being made. Every create
// lands exactly once.
func TestCreatesUnderFaults(t *testing.T) {
	e := newEnv(t, emulator.Config{RateLimit: -1}, nil)
	want := writeDesired(t, 200, "")
	res := plan(t, e, want, planner.DefaultPolicy())
	if res.Counts.Create != 200 {
		t.Fatalf("planned %+v", res.Counts)
	}
	if err := e.emu.SetFaults(emulator.Faults{ErrorRate: 0.2, ErrorCodes: []int{500, 502, 503}, LostWriteRate: 0.2}); err != nil {
		t.Fatal(err)
	}
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Concurrency: 8, Desired: want,
		CreateRetryWait: func(int) time.Duration { return time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Count(applier.Applied); got != 200 || rep.Err() != nil {
		t.Fatalf("applied %d of 200: %v", got, rep.Err())
	}
	found := 0
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			if strings.Contains(n, "the lookup by name found it made") {
				found++
			}
		}
	}
	_ = e.emu.SetFaults(emulator.Faults{})
	live, err := e.c.Snapshot(t.Context(), tenant.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, o := range live.ServiceDesk {
		names[o.Name]++
	}
	if len(live.ServiceDesk) != 200 || len(names) != 200 {
		t.Errorf("the tenant holds %d integrations with %d names, want 200 and 200", len(live.ServiceDesk), len(names))
	}
	cnt := e.emu.Counters()
	t.Logf("%d creates found by the lookup after a lost answer; faults injected: %v", found, cnt.Faults)
	if cnt.Faults["lostWrite"] == 0 || cnt.Faults["error"] == 0 || found == 0 {
		t.Errorf("the faults did not bite: %v, %d found by lookup", cnt.Faults, found)
	}
	converged(t, e, want, planner.DefaultPolicy())
}

// TestRateLimitStorm: the tenant answers a run of 429s; the apply waits as told and ends
// with every change made.
func TestRateLimitStorm(t *testing.T) {
	e := newEnv(t, emulator.Config{}, nil)
	want := writeDesired(t, 12, "")
	res := plan(t, e, want, planner.DefaultPolicy())
	if err := e.emu.SetFaults(emulator.Faults{Force429: 6, RetryAfterSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() != nil || rep.Count(applier.Applied) != 12 {
		t.Fatalf("after the storm: %v", rep.Err())
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the apply took %s: the 1 s Retry-After was not waited", waited)
	}
	if got := e.emu.Counters().Faults["forced429"]; got != 6 {
		t.Errorf("%d 429s answered, want 6", got)
	}
	converged(t, e, want, planner.DefaultPolicy())
}

// TestCancelledApplyResumes: an apply cancelled half-way stops starting changes, lets the
// running ones end, says what it did not start; running it again converges.
func TestCancelledApplyResumes(t *testing.T) {
	e := newEnv(t, emulator.Config{RateLimit: -1}, nil)
	if err := e.emu.SetFaults(emulator.Faults{LatencyMS: 5}); err != nil {
		t.Fatal(err)
	}
	want := writeDesired(t, 60, "")
	res := plan(t, e, want, planner.DefaultPolicy())
	ctx, cancel := context.WithCancel(t.Context())
	var done atomic.Int64
	rep, err := applier.Apply(ctx, e.c, res, applier.Options{Concurrency: 3, Desired: want, OnResult: func(applier.Result) {
		if done.Add(1) == 10 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	applied, failed, notStarted := rep.Count(applier.Applied), rep.Count(applier.Failed), rep.Count(applier.NotStarted)
	t.Logf("cancelled: %d applied, %d failed, %d not started", applied, failed, notStarted)
	if failed != 0 || applied < 10 || applied > 13 || applied+notStarted != 60 {
		t.Errorf("cancelled apply: %d applied, %d failed, %d not started", applied, failed, notStarted)
	}
	if rep.ReadBack {
		t.Error("a cancelled apply read back")
	}
	if live, _ := e.c.Snapshot(t.Context(), tenant.SnapshotOptions{}); len(live.ServiceDesk) != applied {
		t.Errorf("the tenant holds %d integrations, the report says %d were applied", len(live.ServiceDesk), applied)
	}
	res = plan(t, e, want, planner.DefaultPolicy())
	if res.Counts.Create != notStarted || res.Counts.InSync != applied {
		t.Errorf("the second plan: %+v", res.Counts)
	}
	rep, err = applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want})
	if err != nil || rep.Err() != nil {
		t.Fatalf("second apply: %v %v", err, rep.Err())
	}
	converged(t, e, want, planner.DefaultPolicy())
}

// TestObserveModeNeverWrites: an observe-only plan applies nothing and the tenant's write
// counter stays at zero (the read-back only reads).
func TestObserveModeNeverWrites(t *testing.T) {
	e := newEnv(t, emulator.Config{}, nil)
	if err := e.emu.Generate(5); err != nil {
		t.Fatal(err)
	}
	want := writeDesired(t, 3, "")
	pol := planner.DefaultPolicy()
	pol.Mode = desired.ModeObserve
	pol.Prune = true
	res := plan(t, e, want, pol)
	if res.Counts.Observe != 8 || len(res.Applicable()) != 0 {
		t.Fatalf("observe plan: %+v", res.Counts)
	}
	e.emu.ResetCounters()
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want})
	if err != nil || rep.Err() != nil || len(rep.Results) != 0 {
		t.Fatalf("%v %v %d", err, rep.Err(), len(rep.Results))
	}
	if w := e.emu.Counters().TotalWrites(); w != 0 {
		t.Errorf("observe mode wrote %d times", w)
	}
}

// TestUpdatesDeletesAndFallbacks: a patch the tenant refuses becomes a put and says so; a
// delete of an object already gone succeeds; the status check is put.
func TestUpdatesDeletesAndFallbacks(t *testing.T) {
	// This tenant lets PATCH replace nothing, while the planner believes it may.
	e := newEnv(t, emulator.Config{PatchablePaths: []string{"/nothing"}}, nil)
	want := writeDesired(t, 3, `---
kind: StatusCheckConfiguration
spec: {provisioningStatusCheckIntervalMinutes: 45, provisioningMaxStatusCheckDays: 3}
---
kind: ServiceDeskIntegration
name: Ruled desk
spec:
  type: ServiceNowSDIM
  attributes: {url: "https://ruled.example.com", password: "${env:SNOW_PASSWORD}"}
  beforeProvisioningRule: {id: 2c918085708c274401708c2a8a760001}
`)
	res := plan(t, e, want, planner.DefaultPolicy())
	if _, err := applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want}); err != nil {
		t.Fatal(err)
	}
	live, err := e.c.Snapshot(t.Context(), tenant.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Drift: a rule changed out of band (a patch), two extra objects to prune, one of which
	// is deleted by someone else between plan and apply.
	rule := sdim.Reference{Type: sdim.RefRule, ID: "2c918085708c274401708c2a8a760009"}
	var first sdim.ServiceDeskIntegration
	for _, o := range live.ServiceDesk {
		if o.Name == "Ruled desk" {
			first = o
		}
	}
	if _, err := e.c.PutServiceDesk(t.Context(), first.ID, withRule(first, rule)); err != nil {
		t.Fatal(err)
	}
	extra1, _ := e.c.CreateServiceDesk(t.Context(), sdim.ServiceDeskIntegration{Name: "Stray 1", Description: "x", Type: "t", Attributes: map[string]any{}})
	extra2, _ := e.c.CreateServiceDesk(t.Context(), sdim.ServiceDeskIntegration{Name: "Stray 2", Description: "x", Type: "t", Attributes: map[string]any{}})
	pol := planner.DefaultPolicy()
	pol.Prune = true
	res = plan(t, e, want, pol)
	if res.Counts.Patch != 1 || res.Counts.Delete != 2 {
		t.Fatalf("planned %+v", res.Counts)
	}
	if err := e.c.DeleteServiceDesk(t.Context(), extra2.ID, extra2.Name); err != nil {
		t.Fatal(err)
	}
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() != nil {
		t.Fatalf("apply: %v", rep.Err())
	}
	notes := map[string]string{}
	for _, r := range rep.Results {
		notes[r.Change.Name] = strings.Join(r.Notes, "; ")
	}
	if !strings.Contains(notes[first.Name], "refused the PATCH (403); the whole object was sent with PUT") {
		t.Errorf("patch fallback note: %q", notes[first.Name])
	}
	if notes[extra2.Name] != "already gone" || notes[extra1.Name] != "" {
		t.Errorf("delete notes: %q, %q", notes[extra1.Name], notes[extra2.Name])
	}
	converged(t, e, want, pol)
}

// TestPatchFallbackRefusedWhenPutWouldClear: when a PUT in place of a refused PATCH would
// clear a secret the file does not declare, apply fails the change instead, as the plan
// warned, and the tenant keeps its password.
func TestPatchFallbackRefusedWhenPutWouldClear(t *testing.T) {
	e := newEnv(t, emulator.Config{PatchablePaths: []string{"/nothing"}}, nil)
	rule := sdim.Reference{Type: sdim.RefRule, ID: "2c918085708c274401708c2a8a760009"}
	if _, err := e.c.CreateServiceDesk(t.Context(), sdim.ServiceDeskIntegration{Name: "Bare desk", Description: "d", Type: "ServiceNowSDIM",
		Attributes: map[string]any{"url": "https://bare.example.com", "password": sdim.NewSecret("kept", "test")}, BeforeProvisioningRule: &rule}); err != nil {
		t.Fatal(err)
	}
	want := writeDesired(t, 0, `---
kind: ServiceDeskIntegration
name: Bare desk
spec:
  description: d
  type: ServiceNowSDIM
  attributes: {url: "https://bare.example.com"}
  beforeProvisioningRule: {id: 2c918085708c274401708c2a8a760001}
`)
	res := plan(t, e, want, planner.DefaultPolicy())
	if res.Counts.Patch != 1 || !strings.Contains(strings.Join(res.Changes[0].Warnings, " "), "apply will not send a PUT instead") {
		t.Fatalf("plan: %+v %q", res.Counts, res.Changes[0].Warnings)
	}
	e.emu.ResetCounters()
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(applier.Failed) != 1 || !strings.Contains(rep.Err().Error(), "a PUT in its place was not sent") {
		t.Errorf("got %v", rep.Err())
	}
	if n := e.emu.Counters().Requests["PUT "+sdim.V3.ServiceDeskPath()+"/{id}"]; n != 0 {
		t.Errorf("%d PUTs sent", n)
	}
}

func withRule(o sdim.ServiceDeskIntegration, r sdim.Reference) sdim.ServiceDeskIntegration {
	o.BeforeProvisioningRule = &r
	return o
}

// TestReadBackCatchesPerpetualDrift: the tenant hides an attribute the planner does not
// know is a secret, so the field can never match; the first apply says so, with its
// pointer, instead of a week of drift alerts.
func TestReadBackCatchesPerpetualDrift(t *testing.T) {
	e := newEnv(t, emulator.Config{SecretKeys: append(sdim.DefaultSecretAttributeKeys(), "sessionKey")}, nil)
	want := writeDesired(t, 0, `---
kind: ServiceDeskIntegration
name: Hidden field
spec:
  type: ServiceNowSDIM
  attributes: {url: "https://x.example.com", sessionKey: abc}
`)
	res := plan(t, e, want, planner.DefaultPolicy())
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(applier.Applied) != 1 || len(rep.NotConverging) != 1 {
		t.Fatalf("applied %d, not converging %d", rep.Count(applier.Applied), len(rep.NotConverging))
	}
	nc := rep.NotConverging[0]
	if nc.Name != "Hidden field" || len(nc.Fields) != 1 || nc.Fields[0].Pointer != "/attributes/sessionKey" {
		t.Errorf("not converging: %+v", nc)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), `ServiceDeskIntegration "Hidden field" does not converge`) ||
		!strings.Contains(err.Error(), "/attributes/sessionKey") {
		t.Errorf("report error: %v", err)
	}
}

// TestRefusals: nothing is written for a blocked plan, a delete beyond the limit or a
// read-only client.
func TestRefusals(t *testing.T) {
	e := newEnv(t, emulator.Config{}, nil)
	if err := e.emu.Generate(4); err != nil {
		t.Fatal(err)
	}
	empty := writeDesired(t, 0, "")
	pol := planner.DefaultPolicy()
	pol.Prune = true
	blocked := plan(t, e, empty, pol)
	want := writeDesired(t, 1, "")
	pol.MaxDeletes = 2
	tooMany := plan(t, e, want, pol)
	tooMany.Blocked = nil // as if the planner had let it through: the applier checks again
	ok := plan(t, e, want, planner.DefaultPolicy())
	tests := []struct {
		name string
		c    *tenant.Client
		plan *planner.Result
		want string
	}{
		{"empty desired state with pruning", e.c, blocked, "no integrations"},
		{"more deletes than the limit", e.c, tooMany, "more than the limit of 2"},
		{"read-only client", e.c.ReadOnly(), ok, "read-only"},
	}
	e.emu.ResetCounters()
	for _, tt := range tests {
		_, err := applier.Apply(t.Context(), tt.c, tt.plan, applier.Options{})
		var re *applier.RefusedError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing was written") {
			t.Errorf("%s: got %v", tt.name, err)
		}
	}
	if w := e.emu.Counters().TotalRequests(); w != 0 {
		t.Errorf("refused applies made %d requests", w)
	}
}

// TestIgnoredFieldsSurviveAndConverge: fields under options.ignore keep their live values
// through a put, pointers that go through a scalar or a list ignore nothing (and converge),
// and a second plan finds nothing to do.
func TestIgnoredFieldsSurviveAndConverge(t *testing.T) {
	e := newEnv(t, emulator.Config{}, nil)
	owner := sdim.Reference{Type: sdim.RefIdentity, ID: "2c9180a46faadee4016fb4e018c20699"}
	if _, err := e.c.CreateServiceDesk(t.Context(), sdim.ServiceDeskIntegration{Name: "Kept", Description: "live text", Type: "ServiceNowSDIM",
		OwnerRef: &owner, Attributes: map[string]any{
			"url": "https://old.example.com", "lastSyncDate": "2026-01-01", "conf": "flat", "list": []any{"a", "b"},
			"nested": map[string]any{"keep": "live", "set": "old"},
		}}); err != nil {
		t.Fatal(err)
	}
	want := writeDesired(t, 0, `---
kind: ServiceDeskIntegration
name: Kept
spec:
  description: file text
  type: ServiceNowSDIM
  attributes:
    url: https://new.example.com
    conf: flat
    list: [a, c]
    nested: {set: new}
options:
  ignore: [/ownerRef, /attributes/lastSyncDate, /attributes/conf/sub, /attributes/list/1, /attributes/nested/keep]
`)
	res := plan(t, e, want, planner.DefaultPolicy())
	if res.Counts.Put != 1 {
		t.Fatalf("planned %+v", res.Counts)
	}
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want})
	if err != nil || rep.Err() != nil {
		t.Fatalf("apply: %v %v", err, rep.Err())
	}
	got, err := e.c.FindServiceDeskByName(t.Context(), "Kept")
	if err != nil || got == nil {
		t.Fatal(err)
	}
	if got.OwnerRef == nil || got.OwnerRef.ID != owner.ID || got.Attributes["lastSyncDate"] != "2026-01-01" {
		t.Errorf("ignored fields were overwritten: owner %+v, attributes %v", got.OwnerRef, got.Attributes)
	}
	nested, _ := got.Attributes["nested"].(map[string]any)
	if nested["keep"] != "live" || nested["set"] != "new" || got.Description != "file text" {
		t.Errorf("nested %v, description %q", nested, got.Description)
	}
	converged(t, e, want, planner.DefaultPolicy())
}

// TestPatchKeepsIgnoredFields: where the tenant lets PATCH replace /attributes, the
// replace carries the live values of ignored attributes, and the plan lists what the
// replace drops.
func TestPatchKeepsIgnoredFields(t *testing.T) {
	e := newEnv(t, emulator.Config{PatchablePaths: []string{"/beforeProvisioningRule", "/attributes"}}, nil)
	if _, err := e.c.CreateServiceDesk(t.Context(), sdim.ServiceDeskIntegration{Name: "Synced", Description: "d", Type: "ServiceNowSDIM",
		Attributes: map[string]any{"url": "https://old.example.com", "lastSyncDate": "2026-01-01", "stray": "x",
			"password": sdim.NewSecret("kept", "test")}}); err != nil {
		t.Fatal(err)
	}
	want := writeDesired(t, 0, `---
kind: ServiceDeskIntegration
name: Synced
spec:
  description: d
  type: ServiceNowSDIM
  attributes: {url: https://new.example.com, password: "${env:SNOW_PASSWORD}"}
options:
  ignore: [/attributes/lastSyncDate]
`)
	pol := planner.DefaultPolicy()
	pol.PatchableFields = []string{"/beforeProvisioningRule", "/attributes"}
	res := plan(t, e, want, pol)
	if res.Counts.Patch != 1 || !slices.Equal(res.Changes[0].Dropped, []string{"stray"}) {
		t.Fatalf("planned %+v, dropped %q", res.Counts, res.Changes[0].Dropped)
	}
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Desired: want})
	if err != nil || rep.Err() != nil {
		t.Fatalf("apply: %v %v", err, rep.Err())
	}
	got, err := e.c.FindServiceDeskByName(t.Context(), "Synced")
	if err != nil || got == nil {
		t.Fatal(err)
	}
	if got.Attributes["lastSyncDate"] != "2026-01-01" || got.Attributes["url"] != "https://new.example.com" {
		t.Errorf("attributes after the patch: %v", got.Attributes)
	}
	converged(t, e, want, pol)
}
