package metrics

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// The ids the fake runs carry: none may appear in a scrape.
var fakeIDs = []string{
	"2c9180835d2e5168015d32f890ca1581", "2c9180835d2e5168015d32f890ca1582",
	"sim-id-7f3a9b", "sim-id-unmanaged-44", "sd-id-unmanaged-55", "sd-new-id-0099",
	"run-id-abcdef-1",
}

var (
	t0 = time.Date(2026, 3, 14, 9, 26, 53, 500_000_000, time.UTC)
	// errBoom stands for any underlying failure.
	errBoom = errors.New("boom")
)

// scrape serves one request to m.Handler and parses the text exposition.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, _ := scrapeText(t, m)
	return mfs
}

func scrapeText(t *testing.T, m *Metrics) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, body)
	}
	return mfs, body
}

// labels builds a label set from pairs.
func labels(kv ...string) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func labelMap(mt *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range mt.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// find returns the series of family name whose labels are exactly ls.
func find(mfs map[string]*dto.MetricFamily, name string, ls map[string]string) (*dto.Metric, bool) {
	mf, ok := mfs[name]
	if !ok {
		return nil, false
	}
	for _, mt := range mf.GetMetric() {
		if maps.Equal(labelMap(mt), ls) {
			return mt, true
		}
	}
	return nil, false
}

// value returns the value of a gauge, counter or untyped series; it fails the test when
// the series is absent.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, ls map[string]string) float64 {
	t.Helper()
	mt, ok := find(mfs, name, ls)
	if !ok {
		t.Fatalf("no series %s%v", name, ls)
	}
	switch {
	case mt.Gauge != nil:
		return mt.GetGauge().GetValue()
	case mt.Counter != nil:
		return mt.GetCounter().GetValue()
	case mt.Untyped != nil:
		return mt.GetUntyped().GetValue()
	}
	t.Fatalf("series %s%v is neither a gauge nor a counter", name, ls)
	return 0
}

func wantValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, ls map[string]string, want float64) {
	t.Helper()
	if got := value(t, mfs, name, ls); got != want {
		t.Errorf("%s%v = %v, want %v", name, ls, got, want)
	}
}

// series counts the series of a family (0 when absent).
func series(mfs map[string]*dto.MetricFamily, name string) int {
	return len(mfs[name].GetMetric())
}

func sd(name string, mode desired.Mode) desired.ServiceDeskResource {
	return desired.ServiceDeskResource{Resource: desired.Resource{Kind: sdim.KindServiceDesk, Name: name, Options: desired.Options{Mode: mode}}}
}

func sim(name string) desired.SIMResource {
	return desired.SIMResource{Resource: desired.Resource{Kind: sdim.KindSIM, Name: name}}
}

// fakeDesired declares five service desk integrations (Jira, Observed, ServiceNow, Steady,
// Zendesk), two SIM integrations (sim-a, sim-b) and the status check.
func fakeDesired() *desired.State {
	return &desired.State{
		Dir:   "desired",
		Files: 3,
		ServiceDesk: []desired.ServiceDeskResource{
			sd("Jira", ""), sd("Observed", desired.ModeObserve), sd("ServiceNow", ""), sd("Steady", ""), sd("Zendesk", ""),
		},
		SIM:         []desired.SIMResource{sim("sim-a"), sim("sim-b")},
		StatusCheck: &desired.StatusCheckResource{Resource: desired.Resource{Kind: sdim.KindStatusCheck, Name: "status"}},
	}
}

// The changes of fakePlan, by name.
var (
	chCreate    = planner.Change{Kind: sdim.KindServiceDesk, Name: "Zendesk", Action: planner.ActionCreate, Source: "sd.yaml:1:1"}
	chPatch     = planner.Change{Kind: sdim.KindServiceDesk, Name: "Jira", Action: planner.ActionPatch, ID: fakeIDs[0]}
	chPut       = planner.Change{Kind: sdim.KindServiceDesk, Name: "ServiceNow", Action: planner.ActionPut, ID: fakeIDs[1]}
	chObserve   = planner.Change{Kind: sdim.KindServiceDesk, Name: "Observed", Action: planner.ActionPatch, ID: "sd-id-observed-1", Observe: true}
	chDelete    = planner.Change{Kind: sdim.KindServiceDesk, Name: "Old", Action: planner.ActionDelete, ID: "sd-id-old-2"}
	chSIMCreate = planner.Change{Kind: sdim.KindSIM, Name: "sim-a", Action: planner.ActionCreate}
	chSIMDelete = planner.Change{Kind: sdim.KindSIM, Name: "sim-old", Action: planner.ActionDelete, ID: fakeIDs[2]}
	chStatus    = planner.Change{Kind: sdim.KindStatusCheck, Name: "status", Action: planner.ActionPut}
)

// fakePlan holds a change of every action and kind, an observe-only one and two
// unmanaged objects.
func fakePlan() *planner.Result {
	return &planner.Result{
		Changes: []planner.Change{chCreate, chSIMCreate, chPatch, chObserve, chPut, chStatus, chDelete, chSIMDelete},
		Unmanaged: []planner.Object{
			{Kind: sdim.KindServiceDesk, Name: "Manual", ID: fakeIDs[4]},
			{Kind: sdim.KindSIM, Name: "sim-manual", ID: fakeIDs[3]},
		},
		APIVersion: "v2025",
		ReadAt:     t0,
	}
}

// fakeApplyRun is a scheduled apply: Jira's patch failed, the service desk delete was not
// started, the rest applied, and the read-back found ServiceNow not converging. It failed
// in the apply stage.
func fakeApplyRun() *engine.Run {
	plan := fakePlan()
	applyErr := fmt.Errorf("patch Jira: %w", errBoom)
	return &engine.Run{
		ID:      fakeIDs[6],
		Trigger: engine.TriggerSchedule,
		Apply:   true,
		Start:   t0,
		End:     t0.Add(42*time.Second + 250*time.Millisecond),
		Stages: []engine.StageResult{
			{Stage: engine.StageLoad, Start: t0, End: t0.Add(time.Second)},
			{Stage: engine.StageSnapshot, Start: t0.Add(time.Second), End: t0.Add(3 * time.Second)},
			{Stage: engine.StagePlan, Start: t0.Add(3 * time.Second), End: t0.Add(4 * time.Second)},
			{Stage: engine.StageApply, Start: t0.Add(4 * time.Second), End: t0.Add(42 * time.Second), Err: applyErr},
		},
		Err:     &engine.StageError{Stage: engine.StageApply, Err: applyErr},
		Desired: fakeDesired(),
		Live:    &sdim.Live{APIVersion: "v2025", ReadAt: t0},
		Plan:    plan,
		Report: &applier.Report{
			Results: []applier.Result{
				{Change: chCreate, Outcome: applier.Applied, ID: fakeIDs[5]},
				{Change: chSIMCreate, Outcome: applier.Applied, ID: "sim-new-id-3"},
				{Change: chPatch, Outcome: applier.Failed, Err: errBoom, ID: chPatch.ID},
				{Change: chPut, Outcome: applier.Applied, ID: chPut.ID},
				{Change: chStatus, Outcome: applier.Applied},
				{Change: chDelete, Outcome: applier.NotStarted, ID: chDelete.ID},
				{Change: chSIMDelete, Outcome: applier.Applied, ID: chSIMDelete.ID},
			},
			NotConverging: []planner.Change{chPut},
			ReadBack:      true,
			Elapsed:       38 * time.Second,
		},
	}
}

// fakePlanRun is a plan-only run of the given plan that succeeded.
func fakePlanRun(trigger engine.Trigger, plan *planner.Result, end time.Time) *engine.Run {
	return &engine.Run{
		ID:      "run-plan",
		Trigger: trigger,
		Start:   end.Add(-2 * time.Second),
		End:     end,
		Stages: []engine.StageResult{
			{Stage: engine.StageLoad}, {Stage: engine.StageSnapshot}, {Stage: engine.StagePlan},
		},
		Desired: fakeDesired(),
		Live:    &sdim.Live{APIVersion: "v2025"},
		Plan:    plan,
	}
}

// failedRun is a run that failed in stage s, before planning.
func failedRun(s engine.Stage, end time.Time) *engine.Run {
	run := &engine.Run{ID: "run-failed", Trigger: engine.TriggerWatch, Start: end.Add(-time.Second), End: end}
	for _, st := range engine.Stages() {
		if st == s {
			run.Stages = append(run.Stages, engine.StageResult{Stage: st, Err: errBoom})
			break
		}
		run.Stages = append(run.Stages, engine.StageResult{Stage: st})
	}
	run.Err = &engine.StageError{Stage: s, Err: errBoom}
	switch s {
	case engine.StageLoad:
		run.LoadError = &desired.LoadError{Dir: "desired", Problems: []desired.Problem{{File: "a.yaml", Line: 3, Msg: "bad"}}}
		run.Err = &engine.StageError{Stage: s, Err: run.LoadError}
	case engine.StageSnapshot:
		run.Desired = fakeDesired()
	case engine.StagePlan:
		run.Desired = fakeDesired()
		run.Live = &sdim.Live{APIVersion: "v2025"}
	}
	return run
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
