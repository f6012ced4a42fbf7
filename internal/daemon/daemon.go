// Package daemon is `sdim-sync serve`: it runs the engine's reconcile on a cron schedule,
// when the desired files or the secret files they name change, and on request (SIGHUP),
// one run at a time, with triggers that arrive during a run coalesced into exactly one
// follow-up run. It keeps the last runs and the current drift for /status, tells
// /readyz whether a run reached the tenant recently, and hands every run to the metrics.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/watch"
)

// Mode says whether the daemon writes.
type Mode string

// The modes.
const (
	// ModeObserve plans and reports drift; it never writes (the tenant client's read-only
	// view refuses writes before any I/O).
	ModeObserve Mode = "observe"
	// ModeEnforce applies each plan, with the refusals of apply --auto-approve.
	ModeEnforce Mode = "enforce"
)

// Defaults of Config.
const (
	DefaultSchedule      = "@every 5m"
	DefaultDebounce      = time.Second
	DefaultShutdownGrace = 30 * time.Second
	DefaultHistory       = 20
	// ReadyIntervals is how many schedule intervals may pass after the last run that
	// reached the tenant before /readyz answers 503.
	ReadyIntervals = 3
)

// Watcher reports file-system events below the desired directory and on the secret files.
// *watch.Watcher is one; tests give another.
type Watcher interface {
	Events() <-chan watch.Event
	Errors() <-chan error
	SetFiles(files []string) error
	Close() error
}

// Observer receives every run, for metrics.
type Observer interface {
	ObserveRun(run *engine.Run)
	SetScheduleInterval(d time.Duration)
}

// TenantInfo describes the tenant for /status; it never holds a secret.
type TenantInfo struct {
	BaseURL    string `json:"baseURL"`
	ClientID   string `json:"clientID"`
	APIVersion string `json:"apiVersion"`
}

// Config is the daemon's settings.
type Config struct {
	Dir                string
	Schedule           string // robfig/cron syntax, with an optional seconds field and @every
	Watch              bool
	Debounce           time.Duration
	Mode               Mode
	Policy             planner.Policy
	ReadSIM            bool
	SecretFilesOutside bool
	Concurrency        int
	// StateDir holds the ledgers (engine.Request.StateDir): enforce mode records what it
	// applies; observe mode only reads.
	StateDir string
	// ShutdownGrace is how long a change in flight may take to end once shutdown starts.
	ShutdownGrace time.Duration
	// History is how many runs /status keeps (default 20).
	History int

	// For /status only.
	Tenant    TenantInfo
	Listen    string
	LogFormat string
	Version   string

	// NewWatcher starts the watcher (default watch.New).
	NewWatcher func(dir string, files []string, log *slog.Logger) (Watcher, error)
	// OnRun, when set, is called after each run has been recorded (tests wait on it).
	OnRun func(*engine.Run)
}

// Daemon is one `sdim-sync serve`.
type Daemon struct {
	cfg      Config
	eng      *engine.Engine
	obs      Observer
	metrics  http.Handler
	log      *slog.Logger
	clock    clock.Clock
	schedule cron.Schedule
	interval time.Duration

	wake chan struct{} // one pending wake-up at most
	// checked, when set (tests), is told the outcome of each debounced change check.
	checked func(changed bool)

	mu           sync.Mutex
	pending      []engine.Trigger // triggers not yet served, in arrival order
	running      *runningRun
	history      []runRecord // newest first
	drift        *driftView
	valid        *bool
	lastReached  time.Time // end of the last run that read the tenant
	baseline     desired.Digest
	secretFiles  []string
	watcher      Watcher
	started      time.Time
	shuttingDown bool
}

type runningRun struct {
	ID       string
	Triggers []engine.Trigger
	Start    time.Time
}

// Deps are the parts a daemon is wired from.
type Deps struct {
	Engine *engine.Engine
	// Observer and Metrics may be nil (no metrics).
	Observer Observer
	Metrics  http.Handler
	Logger   *slog.Logger
	Clock    clock.Clock
}

// ParseSchedule parses a schedule: five cron fields, six with seconds first, or a
// descriptor (@every 5m, @hourly, @daily...).
func ParseSchedule(spec string) (cron.Schedule, error) {
	p := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := p.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w (use five cron fields such as \"*/5 * * * *\", or \"@every 5m\")", spec, err)
	}
	return s, nil
}

// New checks cfg and returns a daemon; nothing runs until Run.
func New(cfg Config, deps Deps) (*Daemon, error) {
	if deps.Engine == nil {
		return nil, errors.New("daemon: no engine")
	}
	if cfg.Schedule == "" {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Debounce < 0 {
		return nil, fmt.Errorf("debounce %s: want zero or more", cfg.Debounce)
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	switch cfg.Mode {
	case ModeObserve, ModeEnforce:
	case "":
		cfg.Mode = ModeObserve
	default:
		return nil, fmt.Errorf("mode %q: use observe or enforce", cfg.Mode)
	}
	if cfg.Dir == "" {
		return nil, errors.New("daemon: no desired-state directory")
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	sched, err := ParseSchedule(cfg.Schedule)
	if err != nil {
		return nil, err
	}
	if cfg.NewWatcher == nil {
		cfg.NewWatcher = func(dir string, files []string, log *slog.Logger) (Watcher, error) {
			return watch.New(dir, files, log)
		}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{
		cfg:      cfg,
		eng:      deps.Engine,
		obs:      deps.Observer,
		metrics:  deps.Metrics,
		log:      deps.Logger,
		clock:    clock.Or(deps.Clock),
		schedule: sched,
		wake:     make(chan struct{}, 1),
	}
	d.interval = interval(sched, d.clock.Now())
	if d.obs != nil {
		d.obs.SetScheduleInterval(d.interval)
	}
	return d, nil
}

// interval is the longest gap between the next few firings of s: the period /readyz and
// the staleness alert measure in.
func interval(s cron.Schedule, from time.Time) time.Duration {
	if c, ok := s.(cron.ConstantDelaySchedule); ok {
		return c.Delay
	}
	var longest time.Duration
	t := s.Next(from)
	for range 16 {
		next := s.Next(t)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(t))
		t = next
	}
	return longest
}

// Interval is the schedule's interval (the longest gap between its firings).
func (d *Daemon) Interval() time.Duration { return d.interval }

// Trigger asks for a run. A run already asked for and not started absorbs it; one asked
// for during a run starts right after that run.
func (d *Daemon) Trigger(t engine.Trigger) {
	d.mu.Lock()
	if !slices.Contains(d.pending, t) {
		d.pending = append(d.pending, t)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run runs the daemon until ctx ends: a first run at once, then runs on the schedule, on
// file changes (with Config.Watch) and on Trigger. When ctx ends no new run starts; a run
// in flight gets Config.ShutdownGrace for the changes it has started, and Run returns nil.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	d.started = d.clock.Now()
	d.mu.Unlock()
	d.log.Info("sdim-sync serve started", "dir", d.cfg.Dir, "mode", string(d.cfg.Mode), "schedule", d.cfg.Schedule,
		"interval", d.interval.String(), "watch", d.cfg.Watch, "tenant", d.cfg.Tenant.BaseURL)

	var wg sync.WaitGroup
	defer wg.Wait()
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()

	if d.cfg.Watch {
		w, err := d.cfg.NewWatcher(d.cfg.Dir, nil, d.log)
		if err != nil {
			return fmt.Errorf("watch %s: %w", d.cfg.Dir, err)
		}
		defer w.Close()
		d.mu.Lock()
		d.watcher = w
		d.mu.Unlock()
		wg.Go(func() { d.watchLoop(loopCtx, w) })
	}
	wg.Go(func() { d.scheduleLoop(loopCtx) })

	d.Trigger(engine.TriggerStartup)
	for {
		select {
		case <-ctx.Done():
			d.stopping()
			return nil
		case <-d.wake:
		}
		if ctx.Err() != nil {
			d.stopping()
			return nil
		}
		d.mu.Lock()
		triggers := d.pending
		d.pending = nil
		d.mu.Unlock()
		if len(triggers) == 0 {
			continue
		}
		d.runOnce(ctx, triggers)
	}
}

func (d *Daemon) stopping() {
	d.mu.Lock()
	d.shuttingDown = true
	d.mu.Unlock()
	d.log.Info("sdim-sync serve stopped: no run in flight")
}

// scheduleLoop triggers a run at each firing of the schedule.
func (d *Daemon) scheduleLoop(ctx context.Context) {
	for {
		now := d.clock.Now()
		next := d.schedule.Next(now)
		if next.IsZero() {
			d.log.Warn("the schedule never fires again", "schedule", d.cfg.Schedule)
			return
		}
		if err := clock.Sleep(ctx, d.clock, next.Sub(now)); err != nil {
			return
		}
		d.Trigger(engine.TriggerSchedule)
	}
}

// watchLoop debounces file events: once Debounce has passed without a new event, it
// compares the inputs' digest with the one of the last run, and asks for a run only when
// the content changed.
func (d *Daemon) watchLoop(ctx context.Context, w Watcher) {
	var timer clock.Timer
	var fire <-chan time.Time
	errs := w.Errors()
	events := 0
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events():
			if !ok {
				d.log.Warn("the file watcher stopped; runs continue on the schedule")
				return
			}
			events++
			d.log.Debug("file event", "path", ev.Path, "op", ev.Op)
			if timer != nil {
				timer.Stop()
			}
			timer = d.clock.NewTimer(d.cfg.Debounce)
			fire = timer.C()
		case err, ok := <-errs:
			if !ok {
				errs = nil // closed: stop selecting it
				continue
			}
			d.log.Warn("file watcher", "error", err)
		case <-fire:
			timer, fire = nil, nil
			d.checkChange(events)
			events = 0
		}
	}
}

// checkChange asks for a run when the inputs' content differs from the last run's.
func (d *Daemon) checkChange(events int) {
	d.mu.Lock()
	files, base := d.secretFiles, d.baseline
	d.mu.Unlock()
	now, err := desired.Scan(d.cfg.Dir, files)
	if err != nil {
		d.log.Warn("file change: cannot scan the desired directory; a run will report it", "error", err)
		d.Trigger(engine.TriggerWatch)
		return
	}
	if !base.IsZero() && now.Equal(base) {
		d.log.Debug("file events without a content change: no run", "events", events)
		if d.checked != nil {
			d.checked(false)
		}
		return
	}
	d.log.Info("the desired state changed", "events", events, "files", now.Files)
	d.Trigger(engine.TriggerWatch)
	if d.checked != nil {
		d.checked(true)
	}
}

// runOnce runs one reconcile for the coalesced triggers and records it.
func (d *Daemon) runOnce(ctx context.Context, triggers []engine.Trigger) {
	id := d.eng.NewRunID()
	trigger := triggers[0]
	rctx := engine.WithRun(ctx, id, trigger)
	log := d.log.With("run", id, "trigger", string(trigger))

	d.mu.Lock()
	d.running = &runningRun{ID: id, Triggers: triggers, Start: d.clock.Now()}
	d.mu.Unlock()
	log.Info("run started", "coalesced", triggerNames(triggers), "mode", string(d.cfg.Mode))

	run := d.eng.Reconcile(rctx, engine.Request{
		Trigger:            trigger,
		Dir:                d.cfg.Dir,
		SecretFilesOutside: d.cfg.SecretFilesOutside,
		Policy:             d.cfg.Policy,
		ReadSIM:            d.cfg.ReadSIM,
		StateDir:           d.cfg.StateDir,
		Apply:              d.cfg.Mode == ModeEnforce,
		Concurrency:        d.cfg.Concurrency,
		Grace:              d.cfg.ShutdownGrace,
	})
	digest := d.newBaseline(log, run)
	d.record(run, triggers, digest)
	d.logRun(log, run)
	if d.obs != nil {
		d.obs.ObserveRun(run)
	}
	if d.cfg.OnRun != nil {
		d.cfg.OnRun(run)
	}
}

func triggerNames(ts []engine.Trigger) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// logRun writes a run's outcome: every load problem with its file:line, the plan's
// counts, the changes' outcomes and the failure.
func (d *Daemon) logRun(log *slog.Logger, run *engine.Run) {
	if run.LoadError != nil {
		for _, p := range run.LoadError.Problems {
			log.Error("desired state problem", "at", desired.Source{File: p.File, Line: p.Line, Column: p.Column}.String(), "problem", p.Msg)
		}
		log.Error("the desired state did not load: nothing was planned or written; the last good drift figures stay", "problems", len(run.LoadError.Problems))
	}
	attrs := []any{"result", string(run.Result()), "duration", run.Duration().Round(time.Millisecond).String()}
	if run.Plan != nil {
		c := run.Plan.Counts
		attrs = append(attrs, "create", c.Create, "patch", c.Patch, "put", c.Put, "delete", c.Delete,
			"observeOnly", c.Observe, "inSync", c.InSync, "unmanaged", c.Unmanaged)
	}
	if run.Report != nil {
		attrs = append(attrs, "notConverging", len(run.Report.NotConverging))
	}
	switch {
	case run.Err != nil && run.LoadError == nil:
		log.Error("run failed", append(attrs, "stage", string(run.FailedStage()), "error", run.Err.Error())...)
	case run.Err != nil:
		log.Error("run failed", append(attrs, "stage", string(run.FailedStage()))...)
	case run.Refused != "":
		log.Warn("run blocked: nothing was written", append(attrs, "reason", run.Refused)...)
	default:
		log.Info("run finished", attrs...)
	}
}

// newBaseline makes what the run loaded the content later file events are compared with:
// the load's own digest (so a directory is read once per run, not scanned besides), or,
// when the load failed, a scan with the secret files of the last good load. It points the
// watcher at the secret files the load read.
func (d *Daemon) newBaseline(log *slog.Logger, run *engine.Run) desired.Digest {
	d.mu.Lock()
	w, files := d.watcher, d.secretFiles
	d.mu.Unlock()
	if run.Desired == nil {
		digest, err := desired.Scan(d.cfg.Dir, files)
		if err != nil {
			return desired.Digest{}
		}
		d.mu.Lock()
		d.baseline = digest
		d.mu.Unlock()
		return digest
	}
	d.mu.Lock()
	d.baseline, d.secretFiles = run.Desired.Inputs, run.Desired.SecretFiles
	d.mu.Unlock()
	if w != nil && !slices.Equal(files, run.Desired.SecretFiles) {
		if err := w.SetFiles(run.Desired.SecretFiles); err != nil {
			log.Warn("cannot watch the secret files; a change to them is seen at the next scheduled run", "error", err)
		}
	}
	return run.Desired.Inputs
}
