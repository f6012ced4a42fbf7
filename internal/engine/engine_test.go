package engine_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// doc is a ServiceNowSDIM integration that declares its template's secret (a literal under
// a secret key, held as a secret), so that a put of it clears nothing.
func doc(name, description string) string {
	return "kind: ServiceDeskIntegration\nname: " + name + "\nspec:\n  description: " + description +
		"\n  type: ServiceNowSDIM\n  attributes: {url: https://acme.service-now.com, password: pw}\n"
}

type env struct {
	emu      *emulator.Emulator
	eng      *engine.Engine
	connects int
}

func newEnv(t *testing.T, seed emulator.State) *env {
	t.Helper()
	emu, err := emulator.New(emulator.Config{RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	if err := emu.Seed(seed); err != nil {
		t.Fatal(err)
	}
	e := &env{emu: emu}
	e.eng = engine.New(func() (*tenant.Client, error) {
		e.connects++
		s, err := tenant.Config{BaseURL: srv.URL, ClientID: emulator.DemoClientID, APIVersion: string(sdim.V2024)}.
			Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "test")}).Settings(nil)
		if err != nil {
			return nil, err
		}
		s.RateLimit, s.RateWindow = 10000, time.Second
		return tenant.New(s, tenant.WithTransport(srv.Client().Transport))
	}, engine.Options{})
	return e
}

func (e *env) writes() int64 {
	var n int64
	for _, v := range e.emu.Counters().Writes {
		n += v
	}
	return n
}

func stagesOf(r *engine.Run) []engine.Stage {
	var out []engine.Stage
	for _, s := range r.Stages {
		out = append(out, s.Stage)
	}
	return out
}

func TestReconcile(t *testing.T) {
	handMade := emulator.State{ServiceDeskIntegrations: []map[string]any{
		{"name": "A", "description": "edited by hand", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://acme.service-now.com"}},
		{"name": "Hand made 1", "description": "x", "type": "ZendeskSDIM", "attributes": map[string]any{"url": "https://z"}},
		{"name": "Hand made 2", "description": "x", "type": "ZendeskSDIM", "attributes": map[string]any{"url": "https://z"}},
	}}
	tests := []struct {
		name    string
		files   map[string]string
		req     func(r *engine.Request)
		result  engine.Result
		failed  engine.Stage
		stages  []engine.Stage
		writes  bool
		connect int
	}{
		{
			name:   "plan only: three stages, no write",
			files:  map[string]string{"a.yaml": doc("A", "managed"), "b.yaml": doc("B", "new")},
			result: engine.ResultSuccess, stages: []engine.Stage{engine.StageLoad, engine.StageSnapshot, engine.StagePlan}, connect: 1,
		},
		{
			name:   "apply: five stages, writes, converged",
			files:  map[string]string{"a.yaml": doc("A", "managed"), "b.yaml": doc("B", "new")},
			req:    func(r *engine.Request) { r.Apply = true },
			result: engine.ResultSuccess, writes: true, connect: 1,
			stages: []engine.Stage{engine.StageLoad, engine.StageSnapshot, engine.StagePlan, engine.StageApply, engine.StageReadBack},
		},
		{
			name:   "a desired state that does not load: no connection, no write",
			files:  map[string]string{"a.yaml": doc("A", "managed") + "  bogus: 1\n"},
			req:    func(r *engine.Request) { r.Apply = true },
			result: engine.ResultFailed, failed: engine.StageLoad, stages: []engine.Stage{engine.StageLoad},
		},
		{
			name:  "a blocked plan: refused before any write",
			files: map[string]string{"a.yaml": doc("A", "managed")},
			req: func(r *engine.Request) {
				r.Apply = true
				r.Policy.Prune, r.Policy.MaxDeletes = true, 1
				r.Policy.PruneUnownedByName = true // no ledger: by name, as before it
			},
			result: engine.ResultBlocked, stages: []engine.Stage{engine.StageLoad, engine.StageSnapshot, engine.StagePlan}, connect: 1,
		},
		{
			name:  "not approved: nothing written",
			files: map[string]string{"a.yaml": doc("A", "managed")},
			req: func(r *engine.Request) {
				r.Apply = true
				r.Approve = func(context.Context, *engine.Run) (bool, error) { return false, nil }
			},
			result: engine.ResultBlocked, stages: []engine.Stage{engine.StageLoad, engine.StageSnapshot, engine.StagePlan}, connect: 1,
		},
		{
			name:  "approval fails: the apply stage fails, nothing written",
			files: map[string]string{"a.yaml": doc("A", "managed")},
			req: func(r *engine.Request) {
				r.Apply = true
				r.Approve = func(context.Context, *engine.Run) (bool, error) { return false, errors.New("saved plan is stale") }
			},
			result: engine.ResultFailed, failed: engine.StageApply, stages: []engine.Stage{engine.StageLoad, engine.StageSnapshot, engine.StagePlan}, connect: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, handMade)
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			req := engine.Request{Trigger: engine.TriggerCLI, Dir: dir, Policy: planner.DefaultPolicy()}
			if tt.req != nil {
				tt.req(&req)
			}
			run := e.eng.Reconcile(context.Background(), req)
			if run.Result() != tt.result || run.FailedStage() != tt.failed {
				t.Fatalf("result %s, failed stage %q, want %s %q (err %v, refused %q)", run.Result(), run.FailedStage(), tt.result, tt.failed, run.Err, run.Refused)
			}
			if got := stagesOf(run); !slices.Equal(got, tt.stages) {
				t.Errorf("stages %v, want %v", got, tt.stages)
			}
			if w := e.writes(); (w > 0) != tt.writes {
				t.Errorf("%d writes, want writes: %v", w, tt.writes)
			}
			if e.connects != tt.connect {
				t.Errorf("connected %d times, want %d", e.connects, tt.connect)
			}
			if run.ID == "" || run.End.Before(run.Start) || run.Trigger != engine.TriggerCLI {
				t.Errorf("run header: %+v", run)
			}
			if tt.failed == engine.StageLoad && (run.LoadError == nil || run.Desired != nil) {
				t.Errorf("a failed load: LoadError %v, Desired %v", run.LoadError, run.Desired)
			}
		})
	}
}

func TestOneClientForEveryRun(t *testing.T) {
	e := newEnv(t, emulator.State{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(doc("A", "x")), 0o644); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for range 3 {
		run := e.eng.Reconcile(context.Background(), engine.Request{Dir: dir, Policy: planner.DefaultPolicy()})
		if run.Err != nil {
			t.Fatal(run.Err)
		}
		ids[run.ID] = true
	}
	if e.connects != 1 {
		t.Errorf("connected %d times for 3 runs, want 1", e.connects)
	}
	if len(ids) != 3 {
		t.Errorf("run ids are not unique: %v", ids)
	}
	if got := e.emu.Counters().Requests["POST /oauth/token"]; got > 1 {
		t.Errorf("%d tokens fetched for 3 runs, want 1", got)
	}
}

func TestSummarize(t *testing.T) {
	seed := emulator.State{ServiceDeskIntegrations: []map[string]any{
		{"name": "A", "description": "edited by hand", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://acme.service-now.com"}},
		{"name": "Same", "description": "same", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://acme.service-now.com"}},
		{"name": "Hand made", "description": "x", "type": "ZendeskSDIM", "attributes": map[string]any{"url": "https://z"}},
	}}
	e := newEnv(t, seed)
	dir := t.TempDir()
	files := map[string]string{
		"a.yaml":    doc("A", "managed"),
		"same.yaml": doc("Same", "same"),
		"b.yaml":    doc("B", "new"),
		"o.yaml":    doc("O", "observed") + "options: {mode: observe}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := e.eng.Reconcile(context.Background(), engine.Request{Dir: dir, Policy: planner.DefaultPolicy()})
	s, ok := run.Summarize()
	if !ok {
		t.Fatal(run.Err)
	}
	sd := s.Objects[sdim.KindServiceDesk]
	want := map[engine.ObjectState]int{engine.StateInSync: 1, engine.StateDrifted: 2, engine.StateObserveOnly: 1, engine.StateUnmanaged: 1}
	for st, n := range want {
		if sd[st] != n {
			t.Errorf("%s: %d, want %d (all: %v)", st, sd[st], n, sd)
		}
	}
	if p := s.Pending[sdim.KindServiceDesk]; p[planner.ActionCreate] != 1 || p[planner.ActionPut] != 1 {
		t.Errorf("pending %v", p)
	}
	// After an apply that converged, the same objects are in sync.
	run = e.eng.Reconcile(context.Background(), engine.Request{Dir: dir, Policy: planner.DefaultPolicy(), Apply: true})
	s, _ = run.Summarize()
	if sd := s.Objects[sdim.KindServiceDesk]; sd[engine.StateInSync] != 3 || sd[engine.StateDrifted] != 0 || sd[engine.StateObserveOnly] != 1 {
		t.Errorf("after the apply: %v (err %v)", sd, run.Err)
	}
	if _, ok := (&engine.Run{}).Summarize(); ok {
		t.Error("a run that did not plan summarizes")
	}
}
