package soak

import (
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

var (
	flagRounds = flag.Int("soak.rounds", 0, "rounds of the daemon fault soak (default: $SOAK_ROUNDS, else 4, or 2 with -short)")
	flagSeed   = flag.Uint64("soak.seed", 0, "seed of the soak's edits and fault draws (default: $SOAK_SEED, else a fixed one)")
)

// DefaultSeed is the seed of the soak in CI: the same edits every time.
const DefaultSeed = 20260114

const (
	clientID      = "soak-client"
	legacyName    = "Legacy Helpdesk" // outside the managed scope: must survive every prune
	faultWindow   = 4 * time.Second   // how long each round's faults stay on
	convergeLimit = 90 * time.Second  // bounded but generous: a busy 2-core machine
	minObjects    = 4
	maxObjects    = 14
)

func soakRounds(t *testing.T) int {
	if *flagRounds > 0 {
		return *flagRounds
	}
	if v := os.Getenv("SOAK_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SOAK_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return 2
	}
	return 4
}

func soakSeed(t *testing.T) uint64 {
	if *flagSeed != 0 {
		return *flagSeed
	}
	if v := os.Getenv("SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SOAK_SEED=%q: want a number", v)
		}
		return n
	}
	return DefaultSeed
}

// roundFigures is what one round measured.
type roundFigures struct {
	round       int
	phase       Phase
	edits       []string
	convergence time.Duration // faults off to the end of the first run that found nothing to do
}

// soak is the state of one soak run.
type soak struct {
	t            *testing.T
	seed         uint64
	bin          string
	emu          *emulator.Emulator
	tap          *tokenTap
	baseURL      string
	tree         *Tree
	clientSecret string
	env          []string
	ids          map[string]string // slug -> the tenant id its object had at the last check
	legacyID     string
	leaksChecked int
	failedRuns   map[string]string // run id -> "stage: error", as /status showed them
	// where the soak is, for failure reports
	round  int
	phase  string
	edits  []string
	active *daemon
}

// fail reports everything needed to replay and understand a failure, then stops the test.
func (s *soak) fail(format string, args ...any) {
	s.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "SOAK FAILURE (seed %d, round %d): %s\n", s.seed, s.round, fmt.Sprintf(format, args...))
	fmt.Fprintf(&b, "replay: SOAK_SEED=%d SOAK_ROUNDS=%d go test -run TestDaemonFaultSoak -v ./internal/soak/\n", s.seed, s.round)
	fmt.Fprintf(&b, "faults of this round: %s\nfaults now: %+v\n", s.phase, s.emu.CurrentFaults())
	fmt.Fprintf(&b, "edits of this round:\n  %s\n", strings.Join(s.edits, "\n  "))
	c := s.emu.Counters()
	fmt.Fprintf(&b, "emulator counters: requests %d, writes %d, committed %d, responses %v, faults %v\n",
		c.TotalRequests(), c.TotalWrites(), c.Committed, c.Responses, c.Faults)
	if d := s.active; d != nil {
		fmt.Fprintf(&b, "runs of %s (newest first):\n%s", d.name, d.runsSummary())
		fmt.Fprintf(&b, "log tail of %s:\n%s\n", d.name, tail(d.out.String(), 80))
	}
	s.t.Fatal(b.String())
}

// TestDaemonFaultSoak runs the real `sdim-sync serve` in enforce mode against an emulated
// tenant that injects faults, while random edits land in its desired directory; after each
// round's quiet period it checks the tenant, the outputs and the metrics. Then an observe
// daemon sees more edits and must not write; a last enforce daemon converges them.
func TestDaemonFaultSoak(t *testing.T) {
	rounds, seed := soakRounds(t), soakSeed(t)
	// The daemons of one soak share a ledger (ownership carries across the restarts), in a
	// state directory of the test's own.
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Logf("daemon fault soak: %d rounds, seed %d (replay with SOAK_SEED=%d; more rounds with SOAK_ROUNDS=N)", rounds, seed, seed)
	s := &soak{t: t, seed: seed, ids: map[string]string{}, failedRuns: map[string]string{}, phase: "(none yet)"}
	s.bin = buildBinary(t)

	s.clientSecret = PlantedPrefix + "client-" + randomHex(8)
	emu, err := emulator.New(emulator.Config{Clients: map[string]string{clientID: s.clientSecret}, TokenTTL: TokenTTL})
	if err != nil {
		t.Fatal(err)
	}
	s.emu = emu
	legacy := map[string]any{"name": legacyName, "description": "made by hand, outside the scope", "type": "ZendeskSDIM",
		"attributes": map[string]any{"url": "https://legacy.example.com", "token": PlantedPrefix + "legacy-" + randomHex(8)}}
	if err := emu.Seed(emulator.State{ServiceDeskIntegrations: []map[string]any{legacy}}); err != nil {
		t.Fatal(err)
	}
	for _, l := range LiveObjects(emu.State()) {
		s.legacyID = l.ID
	}
	s.tap = &tokenTap{next: emu, tokens: map[string]bool{}}
	srv := httptest.NewServer(s.tap)
	t.Cleanup(srv.Close)
	s.baseURL = srv.URL

	dir := t.TempDir()
	s.tree = NewTree(dir, seed)
	s.env = append(envWithout("SAIL_", "SDIM_SYNC_", "SOAK_ENV_SECRET_"),
		"SAIL_BASE_URL="+srv.URL, "SAIL_CLIENT_ID="+clientID, "SAIL_CLIENT_SECRET="+s.clientSecret)
	s.env = append(s.env, s.tree.Environ()...)
	for range 6 {
		if _, err := s.tree.Create(); err != nil {
			t.Fatal(err)
		}
	}
	s.tree.ResetEditCounts()

	// The enforce rounds.
	start := time.Now()
	d := s.start("enforce daemon", "enforce")
	if _, err := d.settled(start, convergeLimit, true); err != nil {
		s.fail("the first run did not converge: %v", err)
	}
	s.check(d, "startup")
	var figures []roundFigures
	for r := 1; r <= rounds; r++ {
		figures = append(figures, s.enforceRound(d, r))
	}
	enforceMetrics := s.scrape(d)
	if err := d.stop(); err != nil {
		s.fail("%v", err)
	}

	// The observe phase: a second daemon, in observe mode, while edits land.
	s.round, s.edits = rounds+1, nil
	before := emu.Counters()
	obsEdits := s.observePhase()
	after := emu.Counters()

	// A last enforce daemon converges what the observe phase left.
	s.round, s.edits, s.phase = rounds+2, nil, "none (final enforce daemon)"
	start = time.Now()
	d = s.start("final enforce daemon", "enforce")
	if _, err := d.settled(start, convergeLimit, true); err != nil {
		s.fail("the final enforce daemon did not converge: %v", err)
	}
	s.check(d, "final")
	finalMetrics := s.scrape(d)
	if err := d.stop(); err != nil {
		s.fail("%v", err)
	}

	s.report(rounds, figures, obsEdits, after.TotalWrites()-before.TotalWrites(), enforceMetrics, finalMetrics)
}

// start starts a daemon in a mode on the soak's directory.
func (s *soak) start(name, mode string) *daemon {
	s.t.Helper()
	d := startDaemon(s.t, name, s.bin, s.env, serveArgs(s.tree.Dir, mode))
	s.active = d
	return d
}

// arm sets a phase's faults, and re-arms its 429 storm until the returned stop is called;
// stop turns every fault off.
func (s *soak) arm(p Phase) (stop func()) {
	if err := s.emu.SetFaults(p.Armed(0)); err != nil {
		s.t.Fatal(err)
	}
	if p.EarlyExpiry {
		s.tap.setLie(AdvertisedTTL)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if p.Storm == 0 {
			return
		}
		tick := time.NewTicker(p.StormEvery)
		defer tick.Stop()
		for k := 1; ; k++ {
			select {
			case <-quit:
				return
			case <-tick.C:
				_ = s.emu.SetFaults(p.Armed(k))
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		_ = s.emu.SetFaults(emulator.Faults{})
		s.tap.setLie(0)
	}
}

// editFor makes n edits, in bursts of one to three every 150 to 750 ms; the first is of
// kind first when that is not "" (so that a few rounds cover every kind).
func (s *soak) editFor(n int, first string) {
	rng := s.tree.Rand()
	for n > 0 {
		time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		for burst := 1 + rng.IntN(3); burst > 0 && n > 0; burst, n = burst-1, n-1 {
			var what string
			var err error
			if first != "" {
				what, err = s.tree.Edit(first)
				first = ""
			} else {
				what, err = s.tree.RandomEdit(minObjects, maxObjects)
			}
			if err != nil {
				s.fail("editing the desired directory: %v", err)
			}
			s.edits = append(s.edits, time.Now().Format("15:04:05.000")+" "+what)
		}
	}
}

// enforceRound is one round: faults on, edits, faults off, the quiet period, the checks.
func (s *soak) enforceRound(d *daemon, r int) roundFigures {
	s.round, s.edits = r, nil
	s.tree.SetRound(r)
	rng := s.tree.Rand()
	p := PhaseFor(r, rng)
	s.phase = p.String()
	on := time.Now()
	stop := s.arm(p)
	s.editFor(3+rng.IntN(5), EditKinds[(r-1)%len(EditKinds)])
	if rest := faultWindow - time.Since(on); rest > 0 {
		time.Sleep(rest)
	}
	stop()
	off := time.Now()
	run, err := d.settled(off, convergeLimit, true)
	if err != nil {
		s.fail("%v", err)
	}
	s.check(d, fmt.Sprintf("round %d", r))
	f := roundFigures{round: r, phase: p, edits: s.edits, convergence: run.End.Sub(off)}
	s.t.Logf("round %d [%s]: %d edits; converged %.2f s after the faults went off (run %s, %s)",
		r, p.Name, len(s.edits), f.convergence.Seconds(), run.ID, run.Trigger)
	return f
}

// observePhase stops nothing and writes nothing: a daemon in observe mode starts while
// edits land under faults; it must report the drift and the tenant must see no write.
func (s *soak) observePhase() int {
	s.tree.SetRound(s.round)
	p := Matrix()[0]
	p.Faults.Seed = s.tree.Rand().Uint64() | 1
	s.phase = "observe phase, " + p.String()
	writesBefore := s.emu.Counters()
	stop := s.arm(p)
	s.editFor(1, "")
	d := s.start("observe daemon", "observe")
	s.editFor(3, "")
	time.Sleep(2 * time.Second)
	stop()
	off := time.Now()
	run, err := d.settled(off, convergeLimit, false)
	if err != nil {
		s.fail("the observe daemon: %v", err)
	}
	after := s.emu.Counters()
	if w, c := after.TotalWrites()-writesBefore.TotalWrites(), after.Committed-writesBefore.Committed; w != 0 || c != 0 {
		s.fail("the observe daemon wrote: %d writes (%d committed); writes now %v", w, c, after.Writes)
	}
	// It reports the edits as drift, and the metrics say the same.
	drift := CompareTenant(s.tree.Declared(), s.tree.Env, LiveObjects(s.emu.State()))
	if (len(drift) > 0) != (run.Counts.changes() > 0) {
		s.fail("the observe run %s plans %d changes; the tenant differs from the files in %d ways: %v", run.ID, run.Counts.changes(), len(drift), drift)
	}
	samples := s.scrape(d)
	if n, _ := Sum(samples, "sdim_sync_objects", "state", "drifted"); (n > 0) != (len(drift) > 0) {
		s.fail("sdim_sync_objects{state=\"drifted\"} is %v; the tenant differs from the files in %d ways", n, len(drift))
	}
	s.leakCheck(d)
	if err := d.stop(); err != nil {
		s.fail("%v", err)
	}
	s.t.Logf("observe phase: %d edits, the observe daemon planned %d changes and made 0 writes", len(s.edits), run.Counts.changes())
	return len(s.edits)
}

// scrape reads a daemon's /metrics.
func (s *soak) scrape(d *daemon) []Sample {
	samples, _, err := d.metrics()
	if err != nil {
		s.fail("/metrics of %s: %v", d.name, err)
	}
	return samples
}

// check runs every check of a converged state.
func (s *soak) check(d *daemon, label string) {
	s.t.Helper()
	live := LiveObjects(s.emu.State())
	if dup := Duplicates(live); len(dup) > 0 {
		s.fail("%s: duplicate names in the tenant: %v", label, dup)
	}
	declared := s.tree.Declared()
	if problems := CompareTenant(declared, s.tree.Env, live); len(problems) > 0 {
		s.fail("%s: the tenant is not the desired state:\n  %s", label, strings.Join(problems, "\n  "))
	}
	// Objects keep their ids through updates and renames: nothing was deleted and made again.
	byName := map[string]Live{}
	for _, l := range live {
		byName[l.Name] = l
	}
	if l, ok := byName[legacyName]; !ok || l.ID != s.legacyID {
		s.fail("%s: the out-of-scope %q is gone or was replaced (%+v)", label, legacyName, l.ID)
	}
	ids := map[string]string{}
	for name, o := range declared {
		id := byName[name].ID
		if old, ok := s.ids[o.Slug]; ok && old != id {
			s.fail("%s: %q (%s.yaml) has id %s in the tenant; it had %s: it was deleted and created again instead of updated", label, name, o.Slug, id, old)
		}
		ids[o.Slug] = id
	}
	s.ids = ids
	// The metrics agree with the tenant.
	samples := s.scrape(d)
	want := []struct {
		labels []string
		name   string
		value  float64
	}{
		{[]string{"kind", "ServiceDeskIntegration", "state", "in_sync"}, "sdim_sync_objects", float64(len(declared))},
		{[]string{"state", "drifted"}, "sdim_sync_objects", 0},
		{[]string{"state", "observe_only"}, "sdim_sync_objects", 0},
		{[]string{"kind", "ServiceDeskIntegration", "state", "unmanaged"}, "sdim_sync_objects", 1},
		{nil, "sdim_sync_desired_state_valid", 1},
		{nil, "sdim_sync_objects_not_converged", 0},
		{nil, "sdim_sync_deletes_blocked", 0},
	}
	for _, w := range want {
		got, found := Sum(samples, w.name, w.labels...)
		if !found || got != w.value {
			s.fail("%s: %s%v is %v (present: %t), want %v (the tenant holds %d declared objects)", label, w.name, w.labels, got, found, w.value, len(declared))
		}
	}
	s.leakCheck(d)
	s.noteFailedRuns(d)
}

// noteFailedRuns remembers the failed runs /status lists (the last 20), for the report:
// runs may fail while faults are on; the soak only requires that the daemon converges.
func (s *soak) noteFailedRuns(d *daemon) {
	st, _, err := d.status()
	if err != nil {
		s.fail("/status: %v", err)
	}
	for _, r := range st.Runs {
		if r.Result == "failed" {
			s.failedRuns[d.name+" "+r.ID] = r.FailedStage + ": " + r.Error
		}
	}
}

// leakCheck searches the daemon's captured log, /metrics and /status for every secret.
func (s *soak) leakCheck(d *daemon) {
	s.t.Helper()
	_, metrics, err := d.metrics()
	if err != nil {
		s.fail("/metrics: %v", err)
	}
	_, status, err := d.status()
	if err != nil {
		s.fail("/status: %v", err)
	}
	tokens := s.tap.Tokens()
	var leaks []string
	for _, out := range []struct{ where, text string }{{d.name + " log", d.out.String()}, {"/metrics", metrics}, {"/status", status}} {
		leaks = append(leaks, Leaks(out.where, out.text, s.clientSecret, tokens)...)
	}
	if len(leaks) > 0 {
		s.fail("secrets in the daemon's output:\n  %s", strings.Join(leaks, "\n  "))
	}
	s.leaksChecked++
}

// report logs the soak's figures (go test -v, scripts/soak.sh) in the shape of the table
// of docs/reliability.md.
func (s *soak) report(rounds int, figures []roundFigures, observeEdits int, observeWrites int64, enforce, final []Sample) {
	c := s.emu.Counters()
	var conv []time.Duration
	totalEdits := observeEdits
	for _, f := range figures {
		conv = append(conv, f.convergence)
		totalEdits += len(f.edits)
	}
	sum := func(name string, labels ...string) float64 {
		a, _ := Sum(enforce, name, labels...)
		b, _ := Sum(final, name, labels...)
		return a + b
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SOAK REPORT (seed %d)\n", s.seed)
	fmt.Fprintf(&b, "| rounds (enforce) | %d, then an observe phase and a final enforce daemon |\n", rounds)
	fmt.Fprintf(&b, "| edits | %d: %d creates, %d updates, %d renames, %d deletes (%d in the observe phase) |\n", totalEdits,
		s.tree.EditCounts[EditCreate], s.tree.EditCounts[EditUpdate], s.tree.EditCounts[EditRename], s.tree.EditCounts[EditDelete], observeEdits)
	fmt.Fprintf(&b, "| objects declared at the end | %d |\n", s.tree.Len())
	fmt.Fprintf(&b, "| requests to the tenant | %d (%d token requests), %d writes, %d committed |\n",
		c.TotalRequests(), c.Requests["POST "+emulator.TokenPath], c.TotalWrites(), c.Committed)
	fmt.Fprintf(&b, "| faults injected | 5xx %d, dropped connections %d, lost write answers %d, forced 429s %d, rate-limited 429s %d |\n",
		c.Faults["error"], c.Faults["drop"], c.Faults["lostWrite"], c.Faults["forced429"], c.Faults["rateLimited"])
	fmt.Fprintf(&b, "| 401s (expired tokens) | %d |\n", c.Responses["401"])
	fmt.Fprintf(&b, "| 429s waited (Retry-After) | %.0f waits, %.1f s in all |\n",
		sum("sdim_sync_rate_limit_waits_total", "source", "server"), sum("sdim_sync_rate_limit_wait_seconds_total", "source", "server"))
	fmt.Fprintf(&b, "| retries | %.0f: 5xx %.0f, network %.0f, 429 %.0f, 401 %.0f, token %.0f |\n", sum("sdim_sync_api_retries_total"),
		sum("sdim_sync_api_retries_total", "reason", "5xx"), sum("sdim_sync_api_retries_total", "reason", "network"),
		sum("sdim_sync_api_retries_total", "reason", "429"), sum("sdim_sync_api_retries_total", "reason", "401"),
		sum("sdim_sync_api_retries_total", "reason", "token"))
	fmt.Fprintf(&b, "| token refreshes | %.0f (%.0f failed) |\n", sum("sdim_sync_token_refreshes_total"), sum("sdim_sync_token_refreshes_total", "result", "failure"))
	fmt.Fprintf(&b, "| runs | %.0f succeeded, %.0f failed, %.0f blocked |\n", sum("sdim_sync_runs_total", "result", "success"),
		sum("sdim_sync_runs_total", "result", "failed"), sum("sdim_sync_runs_total", "result", "blocked"))
	if len(s.failedRuns) > 0 {
		var lines []string
		for id, e := range s.failedRuns {
			lines = append(lines, id+" "+e)
		}
		slices.Sort(lines)
		s.t.Logf("failed runs (while the faults were on):\n  %s", strings.Join(lines, "\n  "))
	}
	fmt.Fprintf(&b, "| failed runs by stage | load %.0f, snapshot %.0f, plan %.0f, apply %.0f, read_back %.0f |\n",
		sum("sdim_sync_errors_total", "stage", "load"), sum("sdim_sync_errors_total", "stage", "snapshot"), sum("sdim_sync_errors_total", "stage", "plan"),
		sum("sdim_sync_errors_total", "stage", "apply"), sum("sdim_sync_errors_total", "stage", "read_back"))
	fmt.Fprintf(&b, "| convergence after the faults went off | %s |\n", SpreadOf(conv))
	fmt.Fprintf(&b, "| duplicates | 0 |\n| leaks | 0 (%d checks of the log, /metrics and /status) |\n", s.leaksChecked)
	fmt.Fprintf(&b, "| writes by the observe daemon | %d |\n", observeWrites)
	s.t.Log(b.String())
}
