// Package applier runs a plan against the tenant: creates, then updates, then deletes,
// a few at a time under the client's shared rate limiter, so that each change happens
// exactly once even when answers are lost; then it reads the touched objects back and
// plans them again, so that a change the tenant does not keep is reported at once.
package applier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// Outcome is what became of one change.
type Outcome string

// The outcomes.
const (
	Applied    Outcome = "applied"
	Failed     Outcome = "failed"
	NotStarted Outcome = "not started"
)

// Defaults of Options.
const (
	DefaultConcurrency    = 4
	DefaultCreateAttempts = 8
	DefaultGrace          = time.Minute
)

// Options tune an apply. The zero value is usable.
type Options struct {
	// Concurrency is how many changes of one phase run at once (default 4). They share the
	// client's rate limiter.
	Concurrency int
	// CreateAttempts bounds the creates sent for one object (default 8). Another create is
	// only sent after the lookup by name found nothing.
	CreateAttempts int
	// CreateRetryWait is the pause before create attempt n+1 (default: n × 500 ms).
	CreateRetryWait func(n int) time.Duration
	// Grace is how long the calls running when ctx is cancelled may take to end (default a
	// minute); none is started after the cancellation.
	Grace time.Duration
	// Logger receives a line per change (info) and per failure (error). Default: discard.
	Logger *slog.Logger
	// OnResult is called as each change ends, from the goroutine that ran it.
	OnResult func(Result)
	// Desired is the desired state the plan was made from. With it, the touched objects are
	// read back and planned again (read-back); without it, read-back is skipped.
	Desired *desired.State
	// Clock times the create retry waits, the grace period and the elapsed times of the
	// report (default: the system clock). The tenant client has its own (tenant.WithClock).
	Clock clock.Clock
}

// Result is what became of one change.
type Result struct {
	Change  planner.Change
	Outcome Outcome
	Err     error
	// ID is the object's id after the change: the new id of a create.
	ID string
	// Notes say what happened beyond the plain call: a lost answer found by the lookup, a
	// PATCH refused and sent as a PUT, an object already deleted.
	Notes   []string
	Elapsed time.Duration
}

// Report is the outcome of an apply.
type Report struct {
	// Results follow the plan's order.
	Results []Result
	// NotConverging are the changes a plan of the touched objects, read back after the
	// apply, still finds: the tenant did not keep what was written. Their Fields name the
	// pointers that still differ.
	NotConverging []planner.Change
	// ReadBackErr is set when the read-back itself failed.
	ReadBackErr error
	// ReadBack reports whether the read-back ran.
	ReadBack bool
	Elapsed  time.Duration
}

// Count counts the results with outcome o.
func (r *Report) Count(o Outcome) int {
	n := 0
	for _, res := range r.Results {
		if res.Outcome == o {
			n++
		}
	}
	return n
}

// Err is nil when every change was applied and the read-back found nothing left to do.
func (r *Report) Err() error {
	var errs []error
	for _, res := range r.Results {
		switch res.Outcome {
		case Failed:
			errs = append(errs, res.Err)
		case NotStarted:
			errs = append(errs, fmt.Errorf("%s %s: not started", res.Change.Action, res.Change.Label()))
		}
	}
	for _, c := range r.NotConverging {
		errs = append(errs, notConvergingError(c))
	}
	if r.ReadBackErr != nil {
		errs = append(errs, fmt.Errorf("read-back: %w", r.ReadBackErr))
	}
	return errors.Join(errs...)
}

func notConvergingError(c planner.Change) error {
	if c.Action == planner.ActionDelete && len(c.Fields) == 0 {
		return fmt.Errorf("%s (id %s) does not converge: it is still in the tenant after its delete", c.Label(), c.ID)
	}
	ptrs := make([]string, 0, len(c.Fields))
	for _, f := range c.Fields {
		ptrs = append(ptrs, f.Pointer)
	}
	return fmt.Errorf("%s does not converge: after the apply the tenant still differs at %s (read back and planned again: %s)",
		c.Label(), strings.Join(ptrs, ", "), c.Action)
}

// RefusedError is an apply refused before any write.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "apply refused, nothing was written: " + e.Reason }

// Apply runs the applicable changes of plan (observe-only ones are never run): creates,
// then updates, then deletes. A phase with a failure still lets the next phase run,
// except deletes, which are not started after any failure. When ctx is cancelled, no
// change is started; running ones get Options.Grace to end; the rest are NotStarted.
//
// Apply refuses, before any write, a blocked plan, a plan with more deletes than its
// policy allows, and a read-only client.
func Apply(ctx context.Context, c *tenant.Client, plan *planner.Result, opts Options) (*Report, error) {
	if err := check(c, plan); err != nil {
		return nil, err
	}
	o := withDefaults(opts)
	start := o.Clock.Now()
	changes := plan.Applicable()
	rep := &Report{Results: make([]Result, len(changes))}
	for i, ch := range changes {
		rep.Results[i] = Result{Change: ch, Outcome: NotStarted, ID: ch.ID}
	}

	// Calls that have started may end after a cancellation, within the grace period.
	callCtx, cancelCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCalls()
	stop := context.AfterFunc(ctx, func() {
		grace := o.Clock.NewTimer(o.Grace)
		go func() {
			defer grace.Stop()
			select {
			case <-grace.C():
				cancelCalls()
			case <-callCtx.Done(): // Apply returned first
			}
		}()
	})
	defer stop()

	x := &runner{c: c, o: o, sd: serviceDeskCalls(c), sim: simCalls(c)}
	failed := false
	for _, phase := range phases(changes) {
		if ctx.Err() != nil {
			break
		}
		if phase.stage == stageDelete && failed {
			o.Logger.Warn("deletes not started: an earlier change failed", "deletes", len(phase.idx))
			break
		}
		x.runPhase(ctx, callCtx, phase.idx, rep)
		for _, i := range phase.idx {
			failed = failed || rep.Results[i].Outcome == Failed
		}
	}
	if o.Desired != nil && ctx.Err() == nil {
		rep.ReadBack = true
		rep.NotConverging, rep.ReadBackErr = readBack(callCtx, c, plan, o.Desired, rep.Results, o.Clock.Now())
	}
	rep.Elapsed = o.Clock.Now().Sub(start)
	return rep, nil
}

func check(c *tenant.Client, plan *planner.Result) error {
	if c.IsReadOnly() {
		return &RefusedError{Reason: "the client is read-only (plan and observe mode)"}
	}
	if len(plan.Blocked) > 0 {
		return &RefusedError{Reason: strings.Join(plan.Blocked, "; ")}
	}
	deletes, pruned := 0, 0
	for _, ch := range plan.Applicable() {
		if ch.Action == planner.ActionDelete {
			deletes++
			if !ch.Absent { // a document's state: absent asks for its delete without pruning
				pruned++
			}
		}
	}
	if pruned > 0 && !plan.Policy.Prune {
		return &RefusedError{Reason: fmt.Sprintf("the plan deletes %s that no document asks to delete, but was not made with pruning on", sdim.Count(pruned, "integration", "integrations"))}
	}
	if max := plan.Policy.MaxDeletes; max >= 0 && deletes > max {
		return &RefusedError{Reason: fmt.Sprintf("the plan deletes %s, more than the limit of %d (--max-deletes)", sdim.Count(deletes, "integration", "integrations"), max)}
	}
	return nil
}

func withDefaults(o Options) Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.CreateAttempts <= 0 {
		o.CreateAttempts = DefaultCreateAttempts
	}
	if o.CreateRetryWait == nil {
		o.CreateRetryWait = func(n int) time.Duration { return time.Duration(n) * 500 * time.Millisecond }
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	return o
}

const (
	stageCreate = iota
	stageUpdate
	stageDelete
)

func stageOf(a planner.Action) int {
	switch a {
	case planner.ActionCreate:
		return stageCreate
	case planner.ActionDelete:
		return stageDelete
	}
	return stageUpdate
}

type phase struct {
	stage int
	idx   []int // indexes into the changes
}

// phases groups the changes by stage, keeping the plan's order inside each.
func phases(changes []planner.Change) []phase {
	var out []phase
	for st := stageCreate; st <= stageDelete; st++ {
		p := phase{stage: st}
		for i, ch := range changes {
			if stageOf(ch.Action) == st {
				p.idx = append(p.idx, i)
			}
		}
		if len(p.idx) > 0 {
			out = append(out, p)
		}
	}
	return out
}

type runner struct {
	c   *tenant.Client
	o   Options
	sd  kindCalls[sdim.ServiceDeskIntegration]
	sim kindCalls[sdim.SIMIntegration]
}

// runPhase runs the changes at idx with at most Concurrency at once. It starts none once
// ctx is cancelled; the calls themselves run on callCtx.
func (x *runner) runPhase(ctx, callCtx context.Context, idx []int, rep *Report) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(x.o.Concurrency, len(idx)) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil { // handed over as the cancellation came: not started
					continue
				}
				res := x.run(callCtx, rep.Results[i].Change)
				rep.Results[i] = res
				x.report(res)
			}
		})
	}
feed:
	for _, i := range idx {
		if ctx.Err() != nil { // select picks at random among ready cases: look first
			break
		}
		select {
		case <-ctx.Done():
			break feed
		case next <- i:
		}
	}
	close(next)
	wg.Wait()
}

func (x *runner) report(res Result) {
	ch := res.Change
	if res.Outcome == Failed {
		x.o.Logger.Error("change failed", "action", ch.Action, "kind", ch.Kind, "name", ch.Name, "error", res.Err)
	} else {
		x.o.Logger.Info("change applied", "action", ch.Action, "kind", ch.Kind, "name", ch.Name, "id", res.ID,
			"elapsed", res.Elapsed, "notes", strings.Join(res.Notes, "; "))
	}
	if x.o.OnResult != nil {
		x.o.OnResult(res)
	}
}

// run makes one change.
func (x *runner) run(ctx context.Context, ch planner.Change) Result {
	start := x.o.Clock.Now()
	res := Result{Change: ch, ID: ch.ID}
	var err error
	switch ch.Kind {
	case sdim.KindStatusCheck:
		if ch.StatusCheck == nil {
			err = fmt.Errorf("the plan holds no status-check configuration to send")
		} else {
			_, err = x.c.PutStatusCheck(ctx, *ch.StatusCheck)
		}
	case sdim.KindSIM:
		res.ID, res.Notes, err = apply(ctx, x.sim, ch, ch.SIM, x.onceOptions())
	default:
		res.ID, res.Notes, err = apply(ctx, x.sd, ch, ch.ServiceDesk, x.onceOptions())
	}
	res.Elapsed = x.o.Clock.Now().Sub(start)
	if err != nil {
		res.Outcome, res.Err = Failed, fmt.Errorf("%s %s: %w", ch.Action, ch.Label(), err)
		return res
	}
	res.Outcome = Applied
	return res
}

func (x *runner) onceOptions() onceOptions {
	return onceOptions{attempts: x.o.CreateAttempts, wait: x.o.CreateRetryWait, clock: x.o.Clock}
}

// idOf reads the id of a service desk or SIM integration.
func idOf(v any) string {
	switch t := v.(type) {
	case *sdim.ServiceDeskIntegration:
		return t.ID
	case *sdim.SIMIntegration:
		return t.ID
	}
	return ""
}

// apply makes one create, patch, put or delete of a service desk or SIM integration and
// returns the object's id.
func apply[T any](ctx context.Context, k kindCalls[T], ch planner.Change, obj *T, o onceOptions) (string, []string, error) {
	needObj := func() error {
		if obj == nil {
			return fmt.Errorf("the plan holds no object to send")
		}
		return nil
	}
	switch ch.Action {
	case planner.ActionCreate:
		if err := needObj(); err != nil {
			return "", nil, err
		}
		got, notes, err := createOnce(ctx, k, ch.Name, *obj, o)
		if err != nil {
			return "", notes, err
		}
		return idOf(got), notes, nil
	case planner.ActionPut:
		if err := needObj(); err != nil {
			return ch.ID, nil, err
		}
		_, err := k.put(ctx, ch.ID, *obj)
		return ch.ID, nil, err
	case planner.ActionPatch:
		if err := needObj(); err != nil {
			return ch.ID, nil, err
		}
		ops := make([]tenant.PatchOp, len(ch.Patch))
		for i, op := range ch.Patch {
			ops[i] = tenant.Replace(op.Path, op.Value)
		}
		_, note, err := patchOrPut(ctx, k, ch.ID, ch.Name, ops, *obj, ch.NoPutFallback)
		var notes []string
		if note != "" {
			notes = []string{note}
		}
		return ch.ID, notes, err
	case planner.ActionDelete:
		note, err := deleteOnce(ctx, k, ch.ID, ch.Name)
		var notes []string
		if note != "" {
			notes = []string{note}
		}
		return ch.ID, notes, err
	}
	return ch.ID, nil, fmt.Errorf("unknown action %q", ch.Action)
}

// readBack reads the objects the apply touched, in few requests (id filters, one SIM
// list, one status-check read), and plans them again against their desired documents.
// What that plan still finds did not converge.
func readBack(ctx context.Context, c *tenant.Client, plan *planner.Result, want *desired.State, results []Result, now time.Time) ([]planner.Change, error) {
	touched := map[sdim.Kind]map[string]bool{} // kind -> names of desired objects touched
	var sdIDs, deletedSD, deletedSIM []string
	simTouched, statusTouched := false, false
	for _, r := range results {
		if r.Outcome != Applied {
			continue
		}
		ch := r.Change
		if touched[ch.Kind] == nil {
			touched[ch.Kind] = map[string]bool{}
		}
		switch {
		case ch.Kind == sdim.KindStatusCheck:
			statusTouched = true
		case ch.Action == planner.ActionDelete && ch.Kind == sdim.KindSIM:
			deletedSIM = append(deletedSIM, ch.ID)
			simTouched = true
		case ch.Action == planner.ActionDelete:
			deletedSD = append(deletedSD, ch.ID)
			sdIDs = append(sdIDs, ch.ID)
		case ch.Kind == sdim.KindSIM:
			touched[ch.Kind][ch.Name] = true
			simTouched = true
		default:
			touched[ch.Kind][ch.Name] = true
			sdIDs = append(sdIDs, r.ID)
		}
	}
	live := &sdim.Live{APIVersion: plan.APIVersion, ReadAt: now, SIMRead: simTouched}
	const perFilter = 50
	for chunk := range slices.Chunk(sdIDs, perFilter) {
		got, err := c.ListServiceDesk(ctx, tenant.ListOptions{Filters: tenant.FilterIDIn(chunk)})
		if err != nil {
			return nil, err
		}
		live.ServiceDesk = append(live.ServiceDesk, got...)
	}
	if simTouched {
		all, err := c.ListSIM(ctx)
		if err != nil {
			return nil, err
		}
		live.SIM = all
	}
	if statusTouched {
		sc, err := c.GetStatusCheck(ctx)
		if err != nil {
			return nil, err
		}
		live.StatusCheck = sc
	}

	var out []planner.Change
	// Deleted objects must be gone.
	gone := func(kind sdim.Kind, ids []string, present func(string) (string, bool)) {
		for _, id := range ids {
			if name, ok := present(id); ok {
				out = append(out, planner.Change{Kind: kind, Name: name, ID: id, Action: planner.ActionDelete})
			}
		}
	}
	gone(sdim.KindServiceDesk, deletedSD, func(id string) (string, bool) {
		for _, o := range live.ServiceDesk {
			if o.ID == id {
				return o.Name, true
			}
		}
		return "", false
	})
	gone(sdim.KindSIM, deletedSIM, func(id string) (string, bool) {
		for _, o := range live.SIM {
			if o.ID == id {
				return o.Name, true
			}
		}
		return "", false
	})

	// The touched desired objects, planned again against what the tenant now holds.
	sub := &desired.State{Dir: want.Dir, Files: want.Files}
	for _, r := range want.ServiceDesk {
		if touched[sdim.KindServiceDesk][r.Name] {
			sub.ServiceDesk = append(sub.ServiceDesk, r)
		}
	}
	for _, r := range want.SIM {
		if touched[sdim.KindSIM][r.Name] {
			sub.SIM = append(sub.SIM, r)
		}
	}
	if statusTouched {
		sub.StatusCheck = want.StatusCheck
	}
	live.ServiceDesk = slices.DeleteFunc(live.ServiceDesk, func(o sdim.ServiceDeskIntegration) bool { return slices.Contains(deletedSD, o.ID) })
	pol := plan.Policy
	pol.Prune = false // only the touched objects were read: the rest is not unmanaged
	again, err := planner.Plan(sub, live, pol)
	if err != nil {
		return nil, err
	}
	for _, ch := range again.Changes {
		if ch.Kind == sdim.KindSIM && !simTouched {
			continue
		}
		if !ch.Observe {
			out = append(out, ch)
		}
	}
	return out, nil
}
