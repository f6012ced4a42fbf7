package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/engine"
)

const plantedSecret = "planted-secret-7f3a9c"

func desiredFiles(names ...string) map[string]string {
	files := map[string]string{"secret": plantedSecret}
	for _, n := range names {
		files[strings.ToLower(strings.ReplaceAll(n, " ", "-"))+".yaml"] = integration(n, "managed by sdim-sync")
	}
	return files
}

func TestScheduleFires(t *testing.T) {
	f := newFixture(t, fixtureOpts{mode: ModeObserve, schedule: "@every 5m", files: desiredFiles("A")})
	f.start()
	if r := f.nextRun(); r.Trigger != engine.TriggerStartup || r.Result() != engine.ResultSuccess {
		t.Fatalf("first run: trigger %s, result %s (%v)", r.Trigger, r.Result(), r.Err)
	}
	for i := range 3 {
		f.waitTimers(1)
		f.clock.Advance(5 * time.Minute)
		r := f.nextRun()
		if r.Trigger != engine.TriggerSchedule {
			t.Fatalf("run %d: trigger %s, want schedule", i+2, r.Trigger)
		}
	}
	f.noRun("between firings")
	if got := f.d.Interval(); got != 5*time.Minute {
		t.Errorf("Interval = %s, want 5m", got)
	}
}

func TestBurstDuringARunGivesExactlyOneFollowUp(t *testing.T) {
	f := newFixture(t, fixtureOpts{mode: ModeObserve, files: desiredFiles("A", "B")})
	f.start()
	f.nextRun()

	// A run that holds on its snapshot until the test lets it go.
	f.gate.close()
	f.d.Trigger(engine.TriggerSignal)
	<-f.gate.held
	// While it runs: the file changes, and 50 events arrive, in bursts that each outlast
	// the debounce, so that every burst is checked and asks for a run.
	writeFile(t, filepath.Join(f.dir, "a.yaml"), integration("A", "edited during the run"))
	for burst := range 5 {
		for range 10 {
			f.event("a.yaml")
		}
		if !f.checkAfterDebounce() {
			t.Fatalf("burst %d: the check found no change", burst)
		}
	}
	f.d.Trigger(engine.TriggerSignal)
	f.gate.open()
	if r := f.nextRun(); r.Trigger != engine.TriggerSignal {
		t.Fatalf("the held run: trigger %s", r.Trigger)
	}
	r := f.nextRun()
	if r.Trigger != engine.TriggerWatch || r.Result() != engine.ResultSuccess {
		t.Fatalf("follow-up: trigger %s, result %s (%v)", r.Trigger, r.Result(), r.Err)
	}
	if len(r.Plan.Changes) != 2 {
		t.Errorf("follow-up planned %d changes, want the 2 creates", len(r.Plan.Changes))
	}
	f.noRun("after the one follow-up")
	st := f.d.Status().(status)
	if got := st.Runs[0].Coalesced; len(got) != 2 || got[0] != "watch" || got[1] != "signal" {
		t.Errorf("the follow-up coalesced %v, want [watch signal]", got)
	}
}

func TestTouchWithoutContentChangeStartsNoRun(t *testing.T) {
	f := newFixture(t, fixtureOpts{mode: ModeObserve, files: desiredFiles("A")})
	f.start()
	f.nextRun()
	path := filepath.Join(f.dir, "a.yaml")
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	writeFile(t, path, string(data)) // rewritten, same bytes
	writeFile(t, filepath.Join(f.dir, "README.txt"), "not a desired-state file")
	for range 20 {
		f.event("a.yaml")
	}
	if f.checkAfterDebounce() {
		t.Fatal("the check reported a change for a touch")
	}
	f.noRun("after a touch")

	// The secret file is an input too: a new value is a change.
	writeFile(t, filepath.Join(f.dir, "secret"), "rotated")
	f.event("secret")
	if !f.checkAfterDebounce() {
		t.Fatal("a rotated secret file was not seen as a change")
	}
	if r := f.nextRun(); r.Trigger != engine.TriggerWatch {
		t.Fatalf("trigger %s, want watch", r.Trigger)
	}
}

func TestObserveModeWritesNothingWhileDriftRises(t *testing.T) {
	seed := &emulator.State{ServiceDeskIntegrations: []map[string]any{{
		"name": "A", "description": "edited by hand", "type": "ServiceNowSDIM",
		"attributes": map[string]any{"url": "https://acme.service-now.com"},
	}, {
		"name": "Hand made", "description": "made in the UI", "type": "ZendeskSDIM", "attributes": map[string]any{"url": "https://z.example.com"},
	}}}
	f := newFixture(t, fixtureOpts{mode: ModeObserve, files: desiredFiles("A", "B", "C"), seed: seed, prune: true})
	f.start()
	for i := range 3 {
		if i > 0 {
			f.waitTimers(1)
			f.clock.Advance(time.Hour)
		}
		r := f.nextRun()
		if r.Result() != engine.ResultSuccess || r.Report != nil {
			t.Fatalf("run %d: result %s, report %v, err %v", i+1, r.Result(), r.Report, r.Err)
		}
	}
	if w := f.writes(); w != 0 {
		t.Fatalf("observe mode wrote %d times", w)
	}
	fams := f.scrape()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sdim_sync_objects", map[string]string{"kind": "ServiceDeskIntegration", "state": "drifted"}, 4}, // A put, B and C creates, the hand-made one pruned
		{"sdim_sync_objects", map[string]string{"kind": "ServiceDeskIntegration", "state": "in_sync"}, 0},
		{"sdim_sync_pending_changes", map[string]string{"kind": "ServiceDeskIntegration", "action": "create"}, 2},
		{"sdim_sync_pending_changes", map[string]string{"kind": "ServiceDeskIntegration", "action": "put"}, 1},
		{"sdim_sync_pending_changes", map[string]string{"kind": "ServiceDeskIntegration", "action": "delete"}, 1},
		{"sdim_sync_desired_state_valid", nil, 1},
		{"sdim_sync_runs_total", map[string]string{"trigger": "startup", "result": "success"}, 1},
		{"sdim_sync_runs_total", map[string]string{"trigger": "schedule", "result": "success"}, 2},
		{"sdim_sync_run_duration_seconds", nil, 3},
		{"sdim_sync_errors_total", nil, 0},
		{"sdim_sync_api_requests_total", map[string]string{"method": "GET", "code": "200"}, -1},
		{"sdim_sync_schedule_interval_seconds", nil, 3600},
	} {
		got := value(t, fams, c.name, c.labels)
		if c.want >= 0 && got != c.want || c.want < 0 && got <= 0 {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(t, fams, "sdim_sync_last_success_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success timestamp %v is not recent", got)
	}
}

func TestInvalidFileSetsValidityToZeroAndWritesNothing(t *testing.T) {
	f := newFixture(t, fixtureOpts{mode: ModeEnforce, files: desiredFiles("A")})
	f.start()
	if r := f.nextRun(); r.Result() != engine.ResultSuccess || r.Report == nil {
		t.Fatalf("first run: %s %v", r.Result(), r.Err)
	}
	before := f.writes()
	writeFile(t, filepath.Join(f.dir, "b.yaml"), integration("B", "new")+"  unknownKey: 1\n")
	f.event("b.yaml")
	f.checkAfterDebounce()
	r := f.nextRun()
	if r.FailedStage() != engine.StageLoad || r.LoadError == nil {
		t.Fatalf("run: failed stage %q, load error %v", r.FailedStage(), r.LoadError)
	}
	if got := r.LoadError.Problems[0].String(); !strings.HasPrefix(got, "b.yaml:") {
		t.Errorf("problem %q does not name b.yaml:line", got)
	}
	if w := f.writes(); w != before {
		t.Errorf("%d writes after an invalid load", w-before)
	}
	fams := f.scrape()
	if v := value(t, fams, "sdim_sync_desired_state_valid", nil); v != 0 {
		t.Errorf("desired_state_valid = %v, want 0", v)
	}
	if v := value(t, fams, "sdim_sync_errors_total", map[string]string{"stage": "load"}); v != 1 {
		t.Errorf("errors_total{stage=load} = %v, want 1", v)
	}
	if v := value(t, fams, "sdim_sync_objects", map[string]string{"kind": "ServiceDeskIntegration", "state": "in_sync"}); v != 1 {
		t.Errorf("the last good drift figures were not kept: in_sync = %v, want 1", v)
	}
	st := f.d.Status().(status)
	if st.DesiredStateValid == nil || *st.DesiredStateValid || len(st.Runs[0].LoadProblems) == 0 {
		t.Errorf("/status: valid %v, problems %q", st.DesiredStateValid, st.Runs[0].LoadProblems)
	}
	if st.Drift == nil || st.Drift.RunID == r.ID {
		t.Errorf("/status drift should still be the last good plan's")
	}
}

func TestShutdownDuringApplyEndsCleanlyAndTheNextRunConverges(t *testing.T) {
	var names []string
	for i := range 40 {
		names = append(names, "Bulk "+string(rune('A'+i/26))+string(rune('a'+i%26)))
	}
	f := newFixture(t, fixtureOpts{mode: ModeEnforce, files: desiredFiles(names...)})
	if err := f.emu.SetFaults(emulator.Faults{LatencyMS: 40}); err != nil {
		t.Fatal(err)
	}
	f.start()
	// Stop once a few creates have landed.
	deadline := time.Now().Add(20 * time.Second)
	for f.emu.Counters().Committed < 5 {
		if time.Now().After(deadline) {
			t.Fatal("no creates within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := f.stop(10 * time.Second); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	t.Logf("stopped %s after the signal", time.Since(start))
	r := f.nextRun()
	if r.Report == nil {
		t.Fatalf("the interrupted run has no apply report: %v", r.Err)
	}
	applied := r.Report.Count("applied")
	if applied == 0 || applied == len(names) {
		t.Fatalf("applied %d of %d: the stop did not land mid-apply", applied, len(names))
	}
	if len(f.emu.State().ServiceDeskIntegrations) != applied {
		t.Errorf("the tenant holds %d, the report says %d applied", len(f.emu.State().ServiceDeskIntegrations), applied)
	}
	if ok, why := f.d.Ready(); ok || why != "shutting down" {
		t.Errorf("Ready after shutdown = %v %q", ok, why)
	}

	// A new daemon converges, with no duplicate.
	_ = f.emu.SetFaults(emulator.Faults{})
	g := newFixtureOn(t, f, ModeEnforce)
	g.start()
	r2 := g.nextRun()
	if r2.Result() != engine.ResultSuccess || r2.Report.Count("applied") != len(names)-applied {
		t.Fatalf("the next run: %s, applied %d, want %d (%v)", r2.Result(), r2.Report.Count("applied"), len(names)-applied, r2.Err)
	}
	seen := map[string]bool{}
	for _, o := range f.emu.State().ServiceDeskIntegrations {
		n := o["name"].(string)
		if seen[n] {
			t.Errorf("duplicate %q", n)
		}
		seen[n] = true
	}
	if len(seen) != len(names) {
		t.Errorf("the tenant holds %d integrations, want %d", len(seen), len(names))
	}
}

// newFixtureOn is a second daemon on the first one's tenant and directory.
func newFixtureOn(t *testing.T, first *fixture, mode Mode) *fixture {
	t.Helper()
	g := newFixture(t, fixtureOpts{mode: mode})
	g.emu = first.emu
	g.dir = first.dir
	// Rewire: the same engine path, pointed at the first tenant through the first gate.
	g.d.cfg.Dir = first.dir
	g.d.eng = first.d.eng
	return g
}

func TestHTTPEndpoints(t *testing.T) {
	f := newFixture(t, fixtureOpts{mode: ModeObserve, schedule: "@every 1m", files: desiredFiles("A")})
	srv := httptest.NewServer(f.d.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no run has reached the tenant") {
		t.Errorf("/readyz before any run: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	f.start()
	f.nextRun()
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after a run: %d %q", code, body)
	}
	code, body := get("/status")
	if code != http.StatusOK {
		t.Fatalf("/status: %d", code)
	}
	if strings.Contains(body, plantedSecret) || strings.Contains(body, emulator.DemoClientSecret) {
		t.Error("/status shows a secret")
	}
	var doc struct {
		FormatVersion int `json:"formatVersion"`
		Settings      struct {
			Mode     string `json:"mode"`
			Schedule string `json:"schedule"`
		} `json:"settings"`
		Runs []struct {
			Trigger string `json:"trigger"`
			Result  string `json:"result"`
			Stages  []struct {
				Stage string `json:"stage"`
			} `json:"stages"`
		} `json:"runs"`
		Drift struct {
			Objects []struct {
				Kind, Name, Action string
				Fields             []struct {
					Pointer string `json:"pointer"`
					After   any    `json:"after"`
				} `json:"fields"`
			} `json:"objects"`
		} `json:"drift"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/status is not JSON: %v", err)
	}
	if doc.FormatVersion != 1 || doc.Settings.Mode != "observe" || doc.Settings.Schedule != "@every 1m" {
		t.Errorf("/status header: %+v", doc)
	}
	if len(doc.Runs) != 1 || doc.Runs[0].Trigger != "startup" || len(doc.Runs[0].Stages) != 3 {
		t.Errorf("/status runs: %+v", doc.Runs)
	}
	if len(doc.Drift.Objects) != 1 || doc.Drift.Objects[0].Action != "create" || doc.Drift.Objects[0].Name != "A" {
		t.Errorf("/status drift: %+v", doc.Drift.Objects)
	}
	// Three intervals without a run that reaches the tenant: not ready.
	f.clock.Advance(3*time.Minute + time.Second)
	f.nextRun() // the schedule fired meanwhile; make it fail to reach the tenant
	f.gate.close()
	f.clock.Advance(3*time.Minute + time.Second)
	<-f.gate.held
	code, body = get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "more than 3 schedule intervals") {
		t.Errorf("/readyz when stale: %d %q", code, body)
	}
	f.gate.open()
}
