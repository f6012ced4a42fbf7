// Package engine is one reconcile, the same for `plan`, `apply` and `serve`: load the
// desired state, read the tenant, plan, and (when asked and approved) apply and read back.
// A reconcile's outcome is a Run: a value with its trigger, times, the result of each
// stage and what it planned and applied. The engine holds one long-lived tenant client, so
// the token, the rate limiter and the metric hooks are shared by every run of a process.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// Stage is a step of a reconcile.
type Stage string

// The stages, in the order they run.
const (
	StageLoad     Stage = "load"
	StageSnapshot Stage = "snapshot"
	StagePlan     Stage = "plan"
	StageApply    Stage = "apply"
	StageReadBack Stage = "read_back"
)

// Stages lists every stage in order.
func Stages() []Stage {
	return []Stage{StageLoad, StageSnapshot, StagePlan, StageApply, StageReadBack}
}

// Trigger is what started a run.
type Trigger string

// The triggers.
const (
	TriggerCLI      Trigger = "cli"      // plan or apply on the command line
	TriggerStartup  Trigger = "startup"  // the daemon's first run
	TriggerSchedule Trigger = "schedule" // the daemon's cron schedule
	TriggerWatch    Trigger = "watch"    // a change in the desired files or secret files
	TriggerSignal   Trigger = "signal"   // SIGHUP
)

// Result sums up a run.
type Result string

// The results.
const (
	// ResultSuccess: every stage that ran succeeded (in an apply: every change applied and
	// the read-back found nothing left).
	ResultSuccess Result = "success"
	// ResultFailed: a stage failed; Run.Err says which and why.
	ResultFailed Result = "failed"
	// ResultBlocked: an apply was refused before any write (a blocked plan, too many
	// deletes) or not approved.
	ResultBlocked Result = "blocked"
)

// StageError is a run's failure in one stage.
type StageError struct {
	Stage Stage
	Err   error
}

func (e *StageError) Error() string { return fmt.Sprintf("%s: %v", e.Stage, e.Err) }
func (e *StageError) Unwrap() error { return e.Err }

// StageResult is one stage that ran.
type StageResult struct {
	Stage Stage
	Start time.Time
	End   time.Time
	Err   error
}

// Run is one reconcile.
type Run struct {
	ID      string
	Trigger Trigger
	// Apply says whether the run was asked to write (apply, or serve in enforce mode).
	Apply bool
	Start time.Time
	End   time.Time
	// Stages are the stages that ran, in order.
	Stages []StageResult
	// Err is a *StageError when a stage failed, nil otherwise.
	Err error
	// Refused says why an apply wrote nothing although the plan had changes: a blocked
	// plan, a delete limit, or no approval. Result is then ResultBlocked.
	Refused string

	// LoadError holds every problem of a desired state that did not load.
	LoadError *desired.LoadError
	Desired   *desired.State
	Live      *sdim.Live
	Plan      *planner.Result
	// Report is the apply's outcome; nil when nothing was applied.
	Report *applier.Report
	// LedgerFile is the ledger the run read (and, when it applied, wrote); "" without a
	// state directory.
	LedgerFile string
}

// Result sums the run up.
func (r *Run) Result() Result {
	switch {
	case r.Err != nil:
		return ResultFailed
	case r.Refused != "":
		return ResultBlocked
	}
	return ResultSuccess
}

// FailedStage is the stage that failed, or "".
func (r *Run) FailedStage() Stage {
	var se *StageError
	if errors.As(r.Err, &se) {
		return se.Stage
	}
	return ""
}

// ReachedTenant reports whether the run read the whole live state.
func (r *Run) ReachedTenant() bool { return r.Live != nil }

// Duration is how long the run took.
func (r *Run) Duration() time.Duration { return r.End.Sub(r.Start) }

// Request says what one run does.
type Request struct {
	Trigger Trigger
	// Dir is the desired-state directory.
	Dir string
	// SecretFilesOutside lets ${file:PATH} name files outside Dir.
	SecretFilesOutside bool
	// LookupEnv resolves ${env:NAME} (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
	Policy    planner.Policy
	// ReadSIM reads the SIM integrations even when no file declares one.
	ReadSIM bool
	// Apply writes the plan's changes (enforce); false only plans.
	Apply bool
	// Approve, when set, is asked after the plan and before any write of an apply; it may
	// refuse (false) or fail. The CLI prints the plan and asks there; nil approves.
	Approve func(ctx context.Context, run *Run) (bool, error)
	// Concurrency, Grace and OnResult are handed to the applier.
	Concurrency int
	Grace       time.Duration
	OnResult    func(applier.Result)
	// StateDir is the directory of the ledgers (docs/ledger.md). A run that applies opens
	// its tenant's ledger for writing (locked) and records each change applied; a plan
	// only reads it. The ledger tells pruning which objects sdim-sync owns, gives each
	// change its drift class and notices rotated secrets. Empty: no ledger, no classes,
	// and pruning deletes nothing unless Policy.PruneUnownedByName.
	StateDir string
	// ShowsResults says the caller prints every change's result (through OnResult) and the
	// summary, as apply does: the applier's own lines about them (change applied, change
	// failed, deletes not started) are then not logged, so that nothing is said twice.
	ShowsResults bool
}

// Options configure an Engine.
type Options struct {
	// Logger receives the engine's and the applier's lines. Default: discard.
	Logger *slog.Logger
	// Clock is the time source (default the system clock).
	Clock clock.Clock
	// LedgerLockWait is how long a run that applies waits for another process's lock on
	// the ledger (default DefaultLedgerLockWait).
	LedgerLockWait time.Duration
	// LedgerSaveInterval bounds how often the ledger is saved during an apply (default
	// DefaultLedgerSaveInterval: after every change).
	LedgerSaveInterval time.Duration
}

// Connect returns the tenant client runs use. It is called at the first run that reaches
// the snapshot stage, so a desired state that does not load is reported before any
// connection setting is checked; a client it returns is kept for every later run.
type Connect func() (*tenant.Client, error)

// Client returns a Connect that always returns c.
func Client(c *tenant.Client) Connect { return func() (*tenant.Client, error) { return c, nil } }

// Engine runs reconciles against one tenant.
type Engine struct {
	connect Connect
	log     *slog.Logger
	clock   clock.Clock
	seq     atomic.Uint64
	prefix  string

	ledgerLockWait  time.Duration
	ledgerSaveEvery time.Duration
	ledgerSkip      func(applier.Result) bool // tests: a lost ledger write

	// cache keeps each desired file's decoding by content, so that repeated runs (the
	// daemon's) parse only what changed.
	cache *desired.Cache

	mu     sync.Mutex
	client *tenant.Client
}

// New returns an engine that talks to the tenant through the client connect returns
// (writable: plan-only runs use its read-only view, so a dry run cannot write).
func New(connect Connect, o Options) *Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	if o.LedgerLockWait <= 0 {
		o.LedgerLockWait = DefaultLedgerLockWait
	}
	if o.LedgerSaveInterval < 0 {
		o.LedgerSaveInterval = DefaultLedgerSaveInterval
	}
	return &Engine{connect: connect, log: o.Logger, clock: clock.Or(o.Clock), prefix: hex.EncodeToString(b[:]), cache: desired.NewCache(),
		ledgerLockWait: o.LedgerLockWait, ledgerSaveEvery: o.LedgerSaveInterval}
}

// Client returns the engine's tenant client, connecting on the first call.
func (e *Engine) Client() (*tenant.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client != nil {
		return e.client, nil
	}
	c, err := e.connect()
	if err != nil {
		return nil, err
	}
	e.client = c
	return c, nil
}

// NewRunID returns the id the next run gets: unique in this process, and unlikely to
// repeat across restarts.
func (e *Engine) NewRunID() string {
	return fmt.Sprintf("%s-%d", e.prefix, e.seq.Add(1))
}

type runKey struct{}

type runInfo struct {
	id      string
	trigger Trigger
}

// WithRun returns ctx carrying a run's id and trigger. Reconcile uses the id instead of a
// new one, so a caller can log with it before the run starts; ContextHandler adds both to
// every line logged with ctx.
func WithRun(ctx context.Context, id string, trigger Trigger) context.Context {
	return context.WithValue(ctx, runKey{}, runInfo{id: id, trigger: trigger})
}

// RunID returns the run id ctx carries, or "".
func RunID(ctx context.Context) string {
	ri, _ := ctx.Value(runKey{}).(runInfo)
	return ri.id
}

// ContextHandler wraps h so that a line logged with a context that carries a run (see
// WithRun) gets the run's id and trigger as the attributes "run" and "trigger". The tenant
// client logs with the context of each call, so its lines name the run they belong to.
func ContextHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if ri, ok := ctx.Value(runKey{}).(runInfo); ok && ri.id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("run", ri.id), slog.String("trigger", string(ri.trigger)))
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(attrs)}
}

func (h ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{h.Handler.WithGroup(name)} }

// Reconcile runs the stages req asks for and returns the run. It never panics on a
// failed stage: the failure is in Run.Err, and the stages after it do not run. A plan-only
// request goes through the client's read-only view, which refuses every write before any
// I/O.
func (e *Engine) Reconcile(ctx context.Context, req Request) *Run {
	id := RunID(ctx)
	if id == "" {
		id = e.NewRunID()
	}
	ctx = WithRun(ctx, id, req.Trigger)
	run := &Run{ID: id, Trigger: req.Trigger, Apply: req.Apply, Start: e.clock.Now()}
	defer func() { run.End = e.clock.Now() }()
	log := e.log.With("run", id, "trigger", string(req.Trigger))

	if !e.stage(run, StageLoad, func() error { return e.load(run, req) }) {
		return run
	}
	if !e.stage(run, StageSnapshot, func() error { return e.snapshot(ctx, run, req) }) {
		return run
	}
	var led *runLedger
	defer func() { led.close() }()
	if !e.stage(run, StagePlan, func() error {
		var err error
		if led, err = e.openLedger(ctx, run, req); err != nil {
			return err
		}
		return e.plan(ctx, run, req, led, log)
	}) {
		return run
	}
	if !req.Apply {
		return run
	}
	if req.Approve != nil {
		ok, err := req.Approve(ctx, run)
		if err != nil {
			run.Err = &StageError{Stage: StageApply, Err: err}
			return run
		}
		if !ok {
			if len(run.Plan.Applicable()) > 0 {
				run.Refused = "not approved"
				return run
			}
			e.settleLedger(run, led, log)
			return run
		}
	}
	if err := run.Plan.BlockedError(); err != nil {
		run.Refused = err.Error()
		log.Warn("the plan is blocked: nothing was written", "reason", err)
		return run
	}
	if len(run.Plan.Applicable()) > 0 {
		e.apply(ctx, run, req, led, log)
	}
	e.settleLedger(run, led, log)
	return run
}

// settleLedger ends the ledger's part of a run that applied; a ledger that cannot be
// written fails the run in the apply stage (the tenant writes stand).
func (e *Engine) settleLedger(run *Run, led *runLedger, log *slog.Logger) {
	err := led.settle(run)
	if err == nil {
		return
	}
	log.Error("the ledger could not be written", "error", err)
	var se *StageError
	if errors.As(run.Err, &se) {
		run.Err = &StageError{Stage: se.Stage, Err: errors.Join(se.Err, err)}
		return
	}
	run.Err = &StageError{Stage: StageApply, Err: err}
}

// stage times fn as stage s of run and records its failure; it reports success.
func (e *Engine) stage(run *Run, s Stage, fn func() error) bool {
	sr := StageResult{Stage: s, Start: e.clock.Now()}
	err := fn()
	sr.End, sr.Err = e.clock.Now(), err
	run.Stages = append(run.Stages, sr)
	if err != nil {
		run.Err = &StageError{Stage: s, Err: err}
		return false
	}
	return true
}

func (e *Engine) load(run *Run, req Request) error {
	opts := []desired.Option{desired.WithSecretFilesOutside(req.SecretFilesOutside), desired.WithSecretKeys(secretKeysOr(req.Policy.SecretKeys)),
		desired.WithCache(e.cache)}
	if req.LookupEnv != nil {
		opts = append(opts, desired.WithLookupEnv(req.LookupEnv))
	}
	want, err := desired.Load(req.Dir, opts...)
	if err != nil {
		errors.As(err, &run.LoadError)
		return err
	}
	run.Desired = want
	return nil
}

func (e *Engine) snapshot(ctx context.Context, run *Run, req Request) error {
	c, err := e.Client()
	if err != nil {
		return err
	}
	if v := c.APIVersion(); len(run.Desired.SIM) > 0 && !v.HasSIM() {
		return fmt.Errorf("the desired state in %s declares %d SIM integrations, which only API versions v2024, v2025 and v1 serve, not %s: set the API version (--api-version, or tenant.apiVersion in the config file)", req.Dir, len(run.Desired.SIM), v)
	}
	live, err := c.ReadOnly().Snapshot(ctx, tenant.SnapshotOptions{SIM: len(run.Desired.SIM) > 0 || req.ReadSIM})
	if err != nil {
		return err
	}
	run.Live = live
	return nil
}

// plan plans, and when a put or patch may replace whole objects, reads those types'
// templates to learn which secrets a put would clear, and plans again with them.
func (e *Engine) plan(ctx context.Context, run *Run, req Request, led *runLedger, log *slog.Logger) error {
	c, err := e.Client()
	if err != nil {
		return err
	}
	pol := req.Policy
	own := planner.WithOwnership(led.ownership(pol))
	res, err := planner.Plan(run.Desired, run.Live, pol, own)
	if err != nil {
		return err
	}
	if types := res.PutTypes(); len(types) > 0 {
		pol.TypeSecretKeys = typeSecretKeys(ctx, c.ReadOnly(), types, sdim.NewSecretKeySet(secretKeysOr(pol.SecretKeys)), log)
		if res, err = planner.Plan(run.Desired, run.Live, pol, own); err != nil {
			return err
		}
	}
	run.Plan = res
	return nil
}

func (e *Engine) apply(ctx context.Context, run *Run, req Request, led *runLedger, log *slog.Logger) {
	start := e.clock.Now()
	c, err := e.Client()
	if err != nil {
		run.Err = &StageError{Stage: StageApply, Err: err}
		return
	}
	applyLog := log
	if req.ShowsResults {
		applyLog = slog.New(slog.DiscardHandler)
	}
	rep, err := applier.Apply(ctx, c, forApplier(run.Plan), applier.Options{
		Concurrency: req.Concurrency,
		Grace:       req.Grace,
		Clock:       e.clock,
		Logger:      applyLog,
		OnResult: func(r applier.Result) {
			led.record(r)
			if req.OnResult != nil {
				req.OnResult(r)
			}
		},
		Desired: run.Desired,
	})
	var refused *applier.RefusedError
	switch {
	case errors.As(err, &refused):
		run.Refused = refused.Reason
		return
	case err != nil:
		run.Stages = append(run.Stages, StageResult{Stage: StageApply, Start: start, End: e.clock.Now(), Err: err})
		run.Err = &StageError{Stage: StageApply, Err: err}
		return
	}
	run.Report = rep
	applyEnd := start.Add(rep.Elapsed)
	var applyErrs []error
	for _, r := range rep.Results {
		if r.Outcome == applier.Failed {
			applyErrs = append(applyErrs, r.Err)
		} else if r.Outcome == applier.NotStarted {
			applyErrs = append(applyErrs, fmt.Errorf("%s %s: not started", r.Change.Action, r.Change.Label()))
		}
	}
	applyErr := errors.Join(applyErrs...)
	run.Stages = append(run.Stages, StageResult{Stage: StageApply, Start: start, End: applyEnd, Err: applyErr})
	if applyErr != nil {
		run.Err = &StageError{Stage: StageApply, Err: applyErr}
		return
	}
	if !rep.ReadBack {
		return
	}
	var rbErrs []error
	if rep.ReadBackErr != nil {
		rbErrs = append(rbErrs, rep.ReadBackErr)
	}
	for _, c := range rep.NotConverging {
		rbErrs = append(rbErrs, fmt.Errorf("%s does not converge", c.Label()))
	}
	rbErr := errors.Join(rbErrs...)
	run.Stages = append(run.Stages, StageResult{Stage: StageReadBack, Start: applyEnd, End: e.clock.Now(), Err: rbErr})
	if rbErr != nil {
		run.Err = &StageError{Stage: StageReadBack, Err: rbErr}
	}
}

// forApplier returns the plan as the applier is to see it: a shallow copy without the
// push of secrets in its policy. The applier plans the touched objects again to read them
// back, where pushing secrets again would be reported as not converging: a push is done
// once.
func forApplier(p *planner.Result) *planner.Result {
	c := *p
	c.Policy.PushSecrets = false
	return &c
}

func secretKeysOr(keys []string) []string {
	if keys == nil {
		return sdim.DefaultSecretAttributeKeys()
	}
	return keys
}

// typeSecretKeys reads the templates of the given integration types and returns the
// secret keys of each. A type the tenant does not list, or a template it cannot read,
// is left out: the plan then warns in general terms.
func typeSecretKeys(ctx context.Context, c *tenant.Client, types []string, keys sdim.SecretKeySet, log *slog.Logger) map[string][]string {
	list, err := c.ListTypes(ctx)
	if err != nil {
		log.Warn("could not list the integration types; put warnings about secrets stay general", "error", err)
		return nil
	}
	out := map[string][]string{}
	for _, typ := range types {
		for _, it := range list {
			if it.Type != typ || it.ScriptName == "" {
				continue
			}
			t, err := c.GetTemplate(ctx, it.ScriptName)
			if err != nil {
				log.Warn("could not read an integration template; put warnings about secrets stay general", "type", typ, "error", err)
				break
			}
			out[typ] = planner.TemplateSecretKeys(t, keys)
			break
		}
	}
	return out
}
