package metrics

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

const (
	sdK  = string(sdim.KindServiceDesk)
	simK = string(sdim.KindSIM)
	scK  = string(sdim.KindStatusCheck)
)

// The families every Metrics exposes (the opt-in ones excluded).
var coreFamilies = []string{
	"sdim_sync_build_info", "sdim_sync_desired_state_valid", "sdim_sync_objects", "sdim_sync_drift",
	"sdim_sync_pending_changes", "sdim_sync_runs_total", "sdim_sync_run_duration_seconds",
	"sdim_sync_last_run_timestamp_seconds", "sdim_sync_last_success_timestamp_seconds",
	"sdim_sync_schedule_interval_seconds", "sdim_sync_errors_total",
	"sdim_sync_changes_applied_total", "sdim_sync_deletes_blocked",
	"sdim_sync_objects_not_converged", "sdim_sync_api_retries_total",
	"sdim_sync_rate_limit_waits_total", "sdim_sync_rate_limit_wait_seconds_total",
	"sdim_sync_token_refreshes_total",
}

// TestNewExposesEverySeriesAtZero checks what a fresh Metrics serves before any run: build
// info, every pre-initialised label combination at 0, the Go and process collectors.
func TestNewExposesEverySeriesAtZero(t *testing.T) {
	m := New(Options{Version: "1.2.3", Revision: "abc1234"})
	mfs := scrape(t, m)

	for _, name := range coreFamilies {
		if _, ok := mfs[name]; !ok {
			t.Errorf("family %s is missing", name)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_start_time_seconds"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("family %s of the Go or process collector is missing", name)
		}
	}
	for _, name := range []string{"sdim_sync_drifted_object", "sdim_sync_drifted_objects_truncated"} {
		if _, ok := mfs[name]; ok {
			t.Errorf("opt-in family %s is exposed by default", name)
		}
	}

	wantValue(t, mfs, "sdim_sync_build_info", labels("version", "1.2.3", "revision", "abc1234", "goversion", runtime.Version()), 1)
	wantValue(t, mfs, "sdim_sync_desired_state_valid", nil, 0)

	tests := []struct {
		family string
		want   int // series, each at 0
	}{
		{"sdim_sync_objects", len(sdim.Kinds()) * len(engine.ObjectStates())},
		{"sdim_sync_drift", len(sdim.Kinds()) * len(planner.DriftClasses())},
		{"sdim_sync_pending_changes", len(sdim.Kinds()) * len(engine.Actions())},
		{"sdim_sync_runs_total", 4 * 3},
		{"sdim_sync_errors_total", len(engine.Stages())},
		{"sdim_sync_changes_applied_total", len(sdim.Kinds()) * len(engine.Actions()) * 3},
		{"sdim_sync_api_retries_total", 5},
		{"sdim_sync_rate_limit_waits_total", 2},
		{"sdim_sync_rate_limit_wait_seconds_total", 2},
		{"sdim_sync_token_refreshes_total", 2},
	}
	for _, tt := range tests {
		t.Run(tt.family, func(t *testing.T) {
			if got := series(mfs, tt.family); got != tt.want {
				t.Errorf("%d series, want %d", got, tt.want)
			}
			for _, mt := range mfs[tt.family].GetMetric() {
				if v := mt.GetGauge().GetValue() + mt.GetCounter().GetValue(); v != 0 {
					t.Errorf("%v = %v, want 0", labelMap(mt), v)
				}
			}
		})
	}
	for _, trig := range []string{"startup", "schedule", "watch", "signal"} {
		for _, res := range []string{"success", "failed", "blocked"} {
			wantValue(t, mfs, "sdim_sync_runs_total", labels("trigger", trig, "result", res), 0)
		}
	}
	for _, s := range []string{"load", "snapshot", "plan", "apply", "read_back"} {
		wantValue(t, mfs, "sdim_sync_errors_total", labels("stage", s), 0)
	}
	for _, r := range []string{"429", "5xx", "network", "401", "token"} {
		wantValue(t, mfs, "sdim_sync_api_retries_total", labels("reason", r), 0)
	}
	for _, s := range []string{"client", "server"} {
		wantValue(t, mfs, "sdim_sync_rate_limit_waits_total", labels("source", s), 0)
		wantValue(t, mfs, "sdim_sync_rate_limit_wait_seconds_total", labels("source", s), 0)
	}
	for _, r := range []string{"success", "failure"} {
		wantValue(t, mfs, "sdim_sync_token_refreshes_total", labels("result", r), 0)
	}
	if mt, _ := find(mfs, "sdim_sync_run_duration_seconds", nil); mt.GetHistogram().GetSampleCount() != 0 {
		t.Errorf("run duration has %d samples before any run", mt.GetHistogram().GetSampleCount())
	}
}

func TestBuildInfoDefaults(t *testing.T) {
	mfs := scrape(t, New(Options{}))
	mf := mfs["sdim_sync_build_info"]
	if len(mf.GetMetric()) != 1 {
		t.Fatalf("%d build_info series, want 1", len(mf.GetMetric()))
	}
	ls := labelMap(mf.GetMetric()[0])
	if ls["version"] != "unknown" || ls["revision"] != "unknown" || !strings.HasPrefix(ls["goversion"], "go") {
		t.Errorf("build_info labels %v, want version and revision unknown and a goversion", ls)
	}
}

// TestObserveApplyRun observes a failed apply and checks every run figure against it.
func TestObserveApplyRun(t *testing.T) {
	m := New(Options{})
	run := fakeApplyRun()
	m.ObserveRun(run)
	mfs := scrape(t, m)

	wantValue(t, mfs, "sdim_sync_desired_state_valid", nil, 1)
	wantValue(t, mfs, "sdim_sync_runs_total", labels("trigger", "schedule", "result", "failed"), 1)
	wantValue(t, mfs, "sdim_sync_runs_total", labels("trigger", "schedule", "result", "success"), 0)
	for _, s := range engine.Stages() {
		want := 0.0
		if s == engine.StageApply {
			want = 1
		}
		wantValue(t, mfs, "sdim_sync_errors_total", labels("stage", string(s)), want)
	}
	wantValue(t, mfs, "sdim_sync_last_run_timestamp_seconds", nil, float64(t0.Unix())+42.75)
	wantValue(t, mfs, "sdim_sync_last_success_timestamp_seconds", nil, 0)
	mt, _ := find(mfs, "sdim_sync_run_duration_seconds", nil)
	if h := mt.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 42.25 {
		t.Errorf("run duration: count %d sum %v, want 1 and 42.25", h.GetSampleCount(), h.GetSampleSum())
	}
	var bounds []float64
	for _, b := range mt.GetHistogram().GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
		want := uint64(0)
		if b.GetUpperBound() >= 42.25 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("run duration bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if len(bounds) == 0 || bounds[0] != 0.05 || bounds[len(bounds)-1] != 600 {
		t.Errorf("run duration buckets %v, want 0.05 to 600", bounds)
	}

	// The drift figures, against Summarize and by hand.
	sum, ok := run.Summarize()
	if !ok {
		t.Fatal("the fake run did not plan")
	}
	for k, states := range sum.Objects {
		for st, n := range states {
			wantValue(t, mfs, "sdim_sync_objects", labels("kind", string(k), "state", string(st)), float64(n))
		}
	}
	for k, classes := range sum.Classes {
		for c, n := range classes {
			wantValue(t, mfs, "sdim_sync_drift", labels("kind", string(k), "class", string(c)), float64(n))
		}
	}
	for k, actions := range sum.Pending {
		for a, n := range actions {
			wantValue(t, mfs, "sdim_sync_pending_changes", labels("kind", string(k), "action", string(a)), float64(n))
		}
	}
	objects := []struct {
		kind, state string
		want        float64
	}{
		// The applied changes the read-back found kept (Zendesk's and sim-a's creates, the
		// status check's put, sim-old's delete) are no longer drift; Jira's failed patch,
		// ServiceNow's put that does not converge and Old's delete not started still are.
		{sdK, "in_sync", 2}, {sdK, "drifted", 3}, {sdK, "observe_only", 1}, {sdK, "unmanaged", 1},
		{simK, "in_sync", 2}, {simK, "drifted", 0}, {simK, "observe_only", 0}, {simK, "unmanaged", 1},
		{scK, "in_sync", 1}, {scK, "drifted", 0}, {scK, "observe_only", 0}, {scK, "unmanaged", 0},
	}
	for _, o := range objects {
		wantValue(t, mfs, "sdim_sync_objects", labels("kind", o.kind, "state", o.state), o.want)
	}
	pending := []struct {
		kind, action string
		want         float64
	}{
		{sdK, "create", 0}, {sdK, "patch", 1}, {sdK, "put", 1}, {sdK, "delete", 1},
		{simK, "create", 0}, {simK, "patch", 0}, {simK, "put", 0}, {simK, "delete", 0},
		{scK, "create", 0}, {scK, "patch", 0}, {scK, "put", 0}, {scK, "delete", 0},
	}
	for _, p := range pending {
		wantValue(t, mfs, "sdim_sync_pending_changes", labels("kind", p.kind, "action", p.action), p.want)
	}
	wantValue(t, mfs, "sdim_sync_deletes_blocked", nil, 0)
	wantValue(t, mfs, "sdim_sync_objects_not_converged", nil, 1)

	// Every kind × action × result is present; the applied results are counted.
	applied := map[[3]string]float64{
		{sdK, "create", "applied"}:     1,
		{sdK, "patch", "failed"}:       1,
		{sdK, "put", "applied"}:        1,
		{sdK, "delete", "not_started"}: 1,
		{simK, "create", "applied"}:    1,
		{simK, "delete", "applied"}:    1,
		{scK, "put", "applied"}:        1,
	}
	for _, k := range sdim.Kinds() {
		for _, a := range engine.Actions() {
			for _, r := range []string{"applied", "failed", "not_started"} {
				key := [3]string{string(k), string(a), r}
				wantValue(t, mfs, "sdim_sync_changes_applied_total", labels("kind", key[0], "action", key[1], "result", key[2]), applied[key])
			}
		}
	}
	for _, mt := range mfs["sdim_sync_changes_applied_total"].GetMetric() {
		if r := labelMap(mt)["result"]; strings.Contains(r, " ") {
			t.Errorf("result label %q holds a space", r)
		}
	}
}

// TestObserveSuccessfulRuns checks the counters add up over runs and the success timestamp
// follows only successful runs.
func TestObserveSuccessfulRuns(t *testing.T) {
	m := New(Options{})
	end1 := t0.Add(time.Minute)
	m.ObserveRun(fakePlanRun(engine.TriggerStartup, fakePlan(), end1))
	end2 := end1.Add(time.Minute)
	m.ObserveRun(fakePlanRun(engine.TriggerWatch, fakePlan(), end2))
	m.ObserveRun(fakeApplyRun()) // failed, ends earlier than end2
	end3 := end2.Add(time.Minute)
	m.ObserveRun(fakePlanRun(engine.TriggerWatch, fakePlan(), end3))
	cli := fakePlanRun(engine.TriggerCLI, fakePlan(), end3)
	m.ObserveRun(cli)
	mfs := scrape(t, m)

	wantValue(t, mfs, "sdim_sync_runs_total", labels("trigger", "startup", "result", "success"), 1)
	wantValue(t, mfs, "sdim_sync_runs_total", labels("trigger", "watch", "result", "success"), 2)
	wantValue(t, mfs, "sdim_sync_runs_total", labels("trigger", "schedule", "result", "failed"), 1)
	wantValue(t, mfs, "sdim_sync_runs_total", labels("trigger", "cli", "result", "success"), 1)
	wantValue(t, mfs, "sdim_sync_last_success_timestamp_seconds", nil, unixSeconds(end3))
	wantValue(t, mfs, "sdim_sync_last_run_timestamp_seconds", nil, unixSeconds(end3))
	mt, _ := find(mfs, "sdim_sync_run_duration_seconds", nil)
	if h := mt.GetHistogram(); h.GetSampleCount() != 5 || math.Abs(h.GetSampleSum()-(4*2+42.25)) > 1e-9 {
		t.Errorf("run duration: count %d sum %v, want 5 and 50.25", h.GetSampleCount(), h.GetSampleSum())
	}
	// The plan-only runs after the apply left the read-back figure alone: their plans
	// still had changes.
	wantValue(t, mfs, "sdim_sync_objects_not_converged", nil, 1)
}

// TestFailureBeforePlanKeepsDriftFigures observes a good run, then one that failed before
// planning, and checks the drift figures of the good run are kept.
func TestFailureBeforePlanKeepsDriftFigures(t *testing.T) {
	loadVersion := failedRun(engine.StageLoad, t0.Add(time.Hour))
	loadVersion.LoadError = nil // a load that parsed but declared SIM for an old API version
	loadVersion.Desired = fakeDesired()
	loadVersion.Err = &engine.StageError{Stage: engine.StageLoad, Err: errBoom}

	tests := []struct {
		name      string
		run       *engine.Run
		stage     engine.Stage
		wantValid float64
	}{
		{"load error", failedRun(engine.StageLoad, t0.Add(time.Hour)), engine.StageLoad, 0},
		{"load stage without LoadError", loadVersion, engine.StageLoad, 0},
		{"snapshot", failedRun(engine.StageSnapshot, t0.Add(time.Hour)), engine.StageSnapshot, 1},
		{"plan", failedRun(engine.StagePlan, t0.Add(time.Hour)), engine.StagePlan, 1},
	}
	drift := []string{
		"sdim_sync_objects", "sdim_sync_drift", "sdim_sync_pending_changes", "sdim_sync_deletes_blocked",
		"sdim_sync_objects_not_converged", "sdim_sync_drifted_object", "sdim_sync_drifted_objects_truncated",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{DriftedObjectSeries: true, DriftedObjectLimit: 5})
			good := fakePlanRun(engine.TriggerSchedule, fakePlan(), t0)
			good.Plan.Blocked = []string{"too many deletes"}
			m.ObserveRun(good)
			before := scrape(t, m)
			wantValue(t, before, "sdim_sync_deletes_blocked", nil, 2)

			m.ObserveRun(tt.run)
			after := scrape(t, m)

			wantValue(t, after, "sdim_sync_desired_state_valid", nil, tt.wantValid)
			wantValue(t, after, "sdim_sync_errors_total", labels("stage", string(tt.stage)), 1)
			wantValue(t, after, "sdim_sync_errors_total", labels("stage", "apply"), 0) // the good run planned only
			wantValue(t, after, "sdim_sync_runs_total", labels("trigger", "watch", "result", "failed"), 1)
			wantValue(t, after, "sdim_sync_last_run_timestamp_seconds", nil, unixSeconds(t0.Add(time.Hour)))
			for _, name := range drift {
				if got, want := familyText(after[name]), familyText(before[name]); got != want {
					t.Errorf("%s changed after a run that did not plan:\nbefore %s\nafter  %s", name, want, got)
				}
			}
			if series(after, "sdim_sync_drifted_object") != 5 {
				t.Errorf("%d drifted_object series kept, want 5", series(after, "sdim_sync_drifted_object"))
			}
		})
	}
}

// familyText renders a family's series and values for comparison.
func familyText(mf *dto.MetricFamily) string {
	var b strings.Builder
	for _, mt := range mf.GetMetric() {
		ls := labelMap(mt)
		for _, k := range sortedKeys(ls) {
			fmt.Fprintf(&b, "%s=%q,", k, ls[k])
		}
		fmt.Fprintf(&b, " %v; ", mt.GetGauge().GetValue()+mt.GetCounter().GetValue())
	}
	return b.String()
}

// TestNotConverged covers when the read-back figure moves.
func TestNotConverged(t *testing.T) {
	noChanges := &planner.Result{Unmanaged: fakePlan().Unmanaged}
	readBackFailed := fakeApplyRun()
	readBackFailed.Report.NotConverging = nil
	readBackFailed.Report.ReadBackErr = errBoom
	noReadBack := fakeApplyRun()
	noReadBack.Report.ReadBack = false
	noReadBack.Report.NotConverging = nil
	converged := fakeApplyRun()
	converged.Report.NotConverging = nil

	tests := []struct {
		name string
		run  *engine.Run
		want float64
	}{
		{"a plan with no changes: all converged", fakePlanRun(engine.TriggerSchedule, noChanges, t0), 0},
		{"a plan-only run with changes leaves it", fakePlanRun(engine.TriggerSchedule, fakePlan(), t0), 1},
		{"a failed read-back leaves it", readBackFailed, 1},
		{"an apply without read-back leaves it", noReadBack, 1},
		{"a read-back that found nothing", converged, 0},
		{"a run that failed to load leaves it", failedRun(engine.StageLoad, t0), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{})
			m.ObserveRun(fakeApplyRun())
			wantValue(t, scrape(t, m), "sdim_sync_objects_not_converged", nil, 1)
			m.ObserveRun(tt.run)
			wantValue(t, scrape(t, m), "sdim_sync_objects_not_converged", nil, tt.want)
		})
	}
}

// TestBlockedRun observes an apply refused because its plan is blocked.
func TestBlockedRun(t *testing.T) {
	m := New(Options{})
	plan := fakePlan()
	plan.Blocked = []string{"3 deletes exceed the limit of 1"}
	run := fakePlanRun(engine.TriggerSignal, plan, t0)
	run.Apply = true
	run.Refused = "the plan is blocked"
	m.ObserveRun(run)
	mfs := scrape(t, m)

	wantValue(t, mfs, "sdim_sync_runs_total", labels("trigger", "signal", "result", "blocked"), 1)
	wantValue(t, mfs, "sdim_sync_deletes_blocked", nil, 2) // the two deletes that are not observe-only
	wantValue(t, mfs, "sdim_sync_last_success_timestamp_seconds", nil, 0)
	for _, s := range engine.Stages() {
		wantValue(t, mfs, "sdim_sync_errors_total", labels("stage", string(s)), 0)
	}

	// The next plan without the block clears it.
	m.ObserveRun(fakePlanRun(engine.TriggerSchedule, fakePlan(), t0.Add(time.Minute)))
	wantValue(t, scrape(t, m), "sdim_sync_deletes_blocked", nil, 0)
}

func TestObserveNilRun(t *testing.T) {
	m := New(Options{})
	m.ObserveRun(nil)
	mfs := scrape(t, m)
	wantValue(t, mfs, "sdim_sync_last_run_timestamp_seconds", nil, 0)
}

func TestScheduleInterval(t *testing.T) {
	m := New(Options{})
	wantValue(t, scrape(t, m), "sdim_sync_schedule_interval_seconds", nil, 0)
	m.SetScheduleInterval(5 * time.Minute)
	wantValue(t, scrape(t, m), "sdim_sync_schedule_interval_seconds", nil, 300)
	m.SetScheduleInterval(1500 * time.Millisecond)
	wantValue(t, scrape(t, m), "sdim_sync_schedule_interval_seconds", nil, 1.5)
}

// TestTenantHooks calls every hook from many goroutines at once and checks the API
// metrics.
func TestTenantHooks(t *testing.T) {
	m := New(Options{})
	h := m.TenantHooks()
	if h.Request == nil || h.Retry == nil || h.RateLimitWait == nil || h.TokenRefresh == nil {
		t.Fatal("a hook is nil")
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				h.Request("GET", "/v2025/service-desk-integrations/{id}", 200, 30*time.Millisecond)
				h.Request("GET", "/v2025/service-desk-integrations/{id}", 429, 5*time.Millisecond)
				h.Request("POST", "/v2025/service-desk-integrations", 0, 2*time.Second)
				h.Retry("GET", "/v2025/service-desk-integrations/{id}", "429")
				h.Retry("POST", "/v2025/service-desk-integrations", "network")
				h.RateLimitWait("client", 250*time.Millisecond)
				h.RateLimitWait("server", 2*time.Second)
				h.TokenRefresh(nil)
				h.TokenRefresh(errBoom)
				h.TokenRefresh(nil)
			}
		})
	}
	// Scrapes while the hooks run: the race detector checks they share nothing unguarded.
	for range 3 {
		scrape(t, m)
	}
	wg.Wait()
	n := float64(workers * each)
	mfs := scrape(t, m)

	route := "/v2025/service-desk-integrations/{id}"
	wantValue(t, mfs, "sdim_sync_api_requests_total", labels("method", "GET", "route", route, "code", "200"), n)
	wantValue(t, mfs, "sdim_sync_api_requests_total", labels("method", "GET", "route", route, "code", "429"), n)
	wantValue(t, mfs, "sdim_sync_api_requests_total", labels("method", "POST", "route", "/v2025/service-desk-integrations", "code", "none"), n)
	if got := series(mfs, "sdim_sync_api_requests_total"); got != 3 {
		t.Errorf("%d request series, want 3", got)
	}
	mt, ok := find(mfs, "sdim_sync_api_request_duration_seconds", labels("method", "GET", "route", route))
	if !ok {
		t.Fatal("no request duration series for GET")
	}
	hist := mt.GetHistogram()
	if hist.GetSampleCount() != uint64(2*n) || math.Abs(hist.GetSampleSum()-n*0.035) > 1e-6 {
		t.Errorf("GET duration: count %d sum %v, want %v and %v", hist.GetSampleCount(), hist.GetSampleSum(), 2*n, n*0.035)
	}
	for _, b := range hist.GetBucket() {
		want := uint64(0)
		switch {
		case b.GetUpperBound() >= 0.03:
			want = uint64(2 * n)
		case b.GetUpperBound() >= 0.005:
			want = uint64(n)
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("GET duration bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	var bounds []float64
	for _, b := range hist.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	if len(bounds) == 0 || bounds[0] != 0.005 || bounds[len(bounds)-1] != 60 {
		t.Errorf("request buckets %v, want 0.005 to 60", bounds)
	}
	wantValue(t, mfs, "sdim_sync_api_retries_total", labels("reason", "429"), n)
	wantValue(t, mfs, "sdim_sync_api_retries_total", labels("reason", "network"), n)
	wantValue(t, mfs, "sdim_sync_api_retries_total", labels("reason", "5xx"), 0)
	wantValue(t, mfs, "sdim_sync_rate_limit_waits_total", labels("source", "client"), n)
	wantValue(t, mfs, "sdim_sync_rate_limit_waits_total", labels("source", "server"), n)
	if got := value(t, mfs, "sdim_sync_rate_limit_wait_seconds_total", labels("source", "client")); math.Abs(got-n*0.25) > 1e-6 {
		t.Errorf("client wait seconds %v, want %v", got, n*0.25)
	}
	if got := value(t, mfs, "sdim_sync_rate_limit_wait_seconds_total", labels("source", "server")); math.Abs(got-n*2) > 1e-6 {
		t.Errorf("server wait seconds %v, want %v", got, n*2)
	}
	wantValue(t, mfs, "sdim_sync_token_refreshes_total", labels("result", "success"), 2*n)
	wantValue(t, mfs, "sdim_sync_token_refreshes_total", labels("result", "failure"), n)
}

// TestDriftedObjectSeries covers the opt-in per-object series: absent by default, one
// per drifted or observe-only object, capped, sorted, reset by each run that plans.
func TestDriftedObjectSeries(t *testing.T) {
	// fakePlan's objects sorted by kind then name (byte order).
	all := []string{
		simK + "/sim-a", simK + "/sim-old",
		sdK + "/Jira", sdK + "/Observed", sdK + "/Old", sdK + "/ServiceNow", sdK + "/Zendesk",
		scK + "/status",
	}
	tests := []struct {
		name          string
		opts          Options
		wantSeries    []string // nil: the families are not registered
		wantTruncated float64
	}{
		{"off by default", Options{}, nil, 0},
		{"off even with a limit", Options{DriftedObjectLimit: 3}, nil, 0},
		{"default limit", Options{DriftedObjectSeries: true}, all, 0},
		{"capped at 3", Options{DriftedObjectSeries: true, DriftedObjectLimit: 3}, all[:3], 5},
		{"exactly the limit", Options{DriftedObjectSeries: true, DriftedObjectLimit: len(all)}, all, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(tt.opts)
			m.ObserveRun(fakeApplyRun())
			mfs := scrape(t, m)
			if tt.wantSeries == nil {
				for _, name := range []string{"sdim_sync_drifted_object", "sdim_sync_drifted_objects_truncated"} {
					if _, ok := mfs[name]; ok {
						t.Errorf("%s is exposed", name)
					}
				}
				for _, mf := range m.gatherOrFail(t) {
					if strings.HasPrefix(mf.GetName(), "sdim_sync_drifted") {
						t.Errorf("%s is registered", mf.GetName())
					}
				}
				return
			}
			var got []string
			for _, mt := range mfs["sdim_sync_drifted_object"].GetMetric() {
				ls := labelMap(mt)
				if len(ls) != 2 || mt.GetGauge().GetValue() != 1 {
					t.Errorf("series %v = %v, want kind and name only, at 1", ls, mt.GetGauge().GetValue())
				}
				got = append(got, ls["kind"]+"/"+ls["name"])
			}
			// The exposition sorts series by label values: compare as sets in our order.
			if !sameSet(got, tt.wantSeries) {
				t.Errorf("series %v, want %v", got, tt.wantSeries)
			}
			wantValue(t, mfs, "sdim_sync_drifted_objects_truncated", nil, tt.wantTruncated)

			// A later run with one change replaces them all.
			one := &planner.Result{Changes: []planner.Change{chPatch}}
			m.ObserveRun(fakePlanRun(engine.TriggerSchedule, one, t0.Add(time.Hour)))
			mfs = scrape(t, m)
			if got := series(mfs, "sdim_sync_drifted_object"); got != 1 {
				t.Errorf("%d series after a plan with one change, want 1", got)
			}
			wantValue(t, mfs, "sdim_sync_drifted_object", labels("kind", sdK, "name", "Jira"), 1)
			wantValue(t, mfs, "sdim_sync_drifted_objects_truncated", nil, 0)

			// A plan with no changes leaves none.
			m.ObserveRun(fakePlanRun(engine.TriggerSchedule, &planner.Result{}, t0.Add(2*time.Hour)))
			mfs = scrape(t, m)
			if got := series(mfs, "sdim_sync_drifted_object"); got != 0 {
				t.Errorf("%d series after a plan with no changes, want 0", got)
			}
		})
	}
}

func (m *Metrics) gatherOrFail(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return mfs
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestDriftedObjectsSortedAndCapped checks the cap keeps the first objects by kind then
// name, and a change repeated for one object makes one series.
func TestDriftedObjectsSortedAndCapped(t *testing.T) {
	var changes []planner.Change
	for i := 9; i >= 0; i-- {
		changes = append(changes, planner.Change{Kind: sdim.KindServiceDesk, Name: fmt.Sprintf("sd-%02d", i), Action: planner.ActionPatch, ID: fmt.Sprintf("id-%d", i)})
	}
	changes = append(changes, planner.Change{Kind: sdim.KindServiceDesk, Name: "sd-00", Action: planner.ActionPut})
	changes = append(changes, planner.Change{Kind: sdim.KindSIM, Name: "z-sim", Action: planner.ActionDelete, Observe: true})
	m := New(Options{DriftedObjectSeries: true, DriftedObjectLimit: 4})
	m.ObserveRun(fakePlanRun(engine.TriggerSchedule, &planner.Result{Changes: changes}, t0))
	mfs := scrape(t, m)
	want := []string{simK + "/z-sim", sdK + "/sd-00", sdK + "/sd-01", sdK + "/sd-02"}
	var got []string
	for _, mt := range mfs["sdim_sync_drifted_object"].GetMetric() {
		got = append(got, labelMap(mt)["kind"]+"/"+labelMap(mt)["name"])
	}
	if !sameSet(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
	wantValue(t, mfs, "sdim_sync_drifted_objects_truncated", nil, 7) // 11 objects, 4 kept
}

// TestNoIDsInLabels observes runs and hooks full of ids and checks none reaches the
// exposition, and that every label name is one of the documented ones.
func TestNoIDsInLabels(t *testing.T) {
	m := New(Options{Version: "v1", Revision: "r1", DriftedObjectSeries: true})
	m.ObserveRun(fakeApplyRun())
	m.ObserveRun(fakePlanRun(engine.TriggerStartup, fakePlan(), t0.Add(time.Hour)))
	h := m.TenantHooks()
	h.Request("GET", "/v2025/service-desk-integrations/{id}", 200, time.Millisecond)
	h.Request("DELETE", "/beta/sim-integrations/{id}", 204, time.Millisecond)
	h.Retry("GET", "/v2025/service-desk-integrations/{id}", "5xx")
	mfs, body := scrapeText(t, m)

	for _, id := range fakeIDs {
		if strings.Contains(body, id) {
			t.Errorf("the exposition holds the id %q", id)
		}
	}
	allowed := map[string]bool{
		"version": true, "revision": true, "goversion": true, "kind": true, "state": true,
		"action": true, "trigger": true, "result": true, "stage": true, "method": true,
		"route": true, "code": true, "reason": true, "source": true, "name": true, "le": true, "class": true,
	}
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "sdim_sync_") {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for k := range labelMap(mt) {
				if !allowed[k] {
					t.Errorf("%s has the label %q", name, k)
				}
				if k == "name" && name != "sdim_sync_drifted_object" {
					t.Errorf("%s has a name label", name)
				}
			}
		}
	}
}

// TestLint runs promlint over every sdim_sync_ family: names, units, help texts.
func TestLint(t *testing.T) {
	m := New(Options{DriftedObjectSeries: true})
	m.ObserveRun(fakeApplyRun())
	h := m.TenantHooks()
	h.Request("GET", "/v2025/service-desk-integrations", 200, time.Millisecond)
	var ours []*dto.MetricFamily
	for _, mf := range m.gatherOrFail(t) {
		if strings.HasPrefix(mf.GetName(), "sdim_sync_") {
			ours = append(ours, mf)
			if len(mf.GetHelp()) < 40 {
				t.Errorf("%s: help %q is too short to be precise", mf.GetName(), mf.GetHelp())
			}
		}
	}
	problems, err := promlint.NewWithMetricFamilies(ours).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if got, want := len(ours), len(coreFamilies)+4; got != want { // + api requests, api duration, drifted object, truncated
		t.Errorf("%d sdim_sync_ families, want %d", got, want)
	}
}

// TestInstancesAreIndependent: two Metrics in one process register nothing globally and
// share no figures.
func TestInstancesAreIndependent(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	a.ObserveRun(fakeApplyRun())
	a.TenantHooks().Retry("GET", "/x", "429")
	mb := scrape(t, b)
	wantValue(t, mb, "sdim_sync_runs_total", labels("trigger", "schedule", "result", "failed"), 0)
	wantValue(t, mb, "sdim_sync_api_retries_total", labels("reason", "429"), 0)
	wantValue(t, scrape(t, a), "sdim_sync_api_retries_total", labels("reason", "429"), 1)
}

// TestConcurrentObserveAndScrape runs ObserveRun, the hooks and scrapes at once, for the
// race detector.
func TestConcurrentObserveAndScrape(t *testing.T) {
	m := New(Options{DriftedObjectSeries: true, DriftedObjectLimit: 3})
	h := m.TenantHooks()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				if (i+j)%3 == 0 {
					m.ObserveRun(failedRun(engine.StageSnapshot, t0))
				} else {
					m.ObserveRun(fakeApplyRun())
				}
				h.Request("GET", "/v2025/service-desk-integrations", 200, time.Millisecond)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 10 {
				scrape(t, m)
			}
		})
	}
	wg.Wait()
	mfs := scrape(t, m)
	wantValue(t, mfs, "sdim_sync_api_requests_total", labels("method", "GET", "route", "/v2025/service-desk-integrations", "code", "200"), 80)
	if got := series(mfs, "sdim_sync_drifted_object"); got != 3 {
		t.Errorf("%d drifted_object series, want 3", got)
	}
}

func TestChangeResult(t *testing.T) {
	tests := []struct {
		in   applier.Outcome
		want string
	}{
		{applier.Applied, "applied"},
		{applier.Failed, "failed"},
		{applier.NotStarted, "not_started"},
		{applier.Outcome("rolled back"), "rolled_back"},
	}
	for _, tt := range tests {
		if got := changeResult(tt.in); got != tt.want {
			t.Errorf("changeResult(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
