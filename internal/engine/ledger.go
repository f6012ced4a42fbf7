package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/ledger"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// DefaultLedgerLockWait is how long a run that applies waits for another process's lock
// on the ledger before it fails.
const DefaultLedgerLockWait = 10 * time.Second

// DefaultLedgerSaveInterval is how often the ledger is saved during an apply: 0, after
// every successful change (an atomic write each time), so that a crash loses at most the
// change in flight. A positive interval saves after a change only when the last save is
// older than it, and always at the end of the apply. A change whose ledger write is lost
// (a crash in between) is healed by the next run that applies: an object found in sync is
// recorded again by name.
const DefaultLedgerSaveInterval time.Duration = 0

// runLedger is the ledger of one run, with what recording needs.
type runLedger struct {
	mu       sync.Mutex
	l        *ledger.Ledger
	run      string
	every    time.Duration
	now      func() time.Time
	lastSave time.Time
	errs     []error
	// touched are the ids of the objects this run's apply created or changed.
	touched map[string]bool
	// skip, when set (tests), drops the ledger write of a result: a crash between the
	// tenant write and the ledger write.
	skip func(applier.Result) bool
}

// openLedger opens the ledger of the client's tenant in req.StateDir: for writing (with
// its lock) when the run applies, read-only otherwise. No state directory: nil.
func (e *Engine) openLedger(ctx context.Context, run *Run, req Request) (*runLedger, error) {
	if req.StateDir == "" {
		return nil, nil
	}
	c, err := e.Client()
	if err != nil {
		return nil, err
	}
	o := ledger.Options{LockWait: e.ledgerLockWait, Clock: e.clock}
	var l *ledger.Ledger
	if req.Apply {
		l, err = ledger.Open(ctx, req.StateDir, c.BaseURL(), c.APIVersion(), o)
	} else {
		l, err = ledger.OpenReadOnly(req.StateDir, c.BaseURL(), c.APIVersion(), o)
	}
	if err != nil {
		return nil, err
	}
	run.LedgerFile = l.File()
	return &runLedger{l: l, run: run.ID, every: e.ledgerSaveEvery, now: e.clock.Now, touched: map[string]bool{}, skip: e.ledgerSkip}, nil
}

// ownership is the ledger's view for the planner. Without a ledger, pruning owns nothing
// unless the policy prunes by name: an engine without a state directory never deletes
// what it does not own either.
func (rl *runLedger) ownership(pol planner.Policy) *planner.Ownership {
	if rl == nil {
		if pol.Prune && !pol.PruneUnownedByName {
			return &planner.Ownership{}
		}
		return nil
	}
	es := rl.l.Entries()
	o := &planner.Ownership{Objects: make([]planner.Owned, len(es)), Fingerprint: rl.l.SecretFingerprint}
	for i, e := range es {
		o.Objects[i] = planner.Owned{Kind: e.Kind, ID: e.ID, Name: e.Name, SpecDigest: e.SpecDigest, Secrets: e.Secrets}
	}
	return o
}

// record writes one applied change into the ledger and saves it (at most every
// rl.every): a create, put or patch records the object's id, name, digest and the
// fingerprints of the secrets sent; a delete forgets it.
func (rl *runLedger) record(r applier.Result) {
	if rl == nil || r.Outcome != applier.Applied || rl.l.ReadOnly() {
		return
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.skip != nil && rl.skip(r) {
		return
	}
	c := r.Change
	id := r.ID
	if c.Kind == sdim.KindStatusCheck {
		id = ""
	}
	rl.touched[id] = true
	if c.Action == planner.ActionDelete {
		rl.l.Forget(c.Kind, id, c.Name)
	} else {
		old, _ := rl.l.Lookup(c.Kind, id, c.Name)
		if c.Kind == sdim.KindStatusCheck {
			rl.forgetStatusChecks()
		}
		e := ledger.Entry{Kind: c.Kind, ID: id, Name: c.Name, SpecDigest: c.SpecDigest, Secrets: rl.fingerprints(c, old.Secrets)}
		rl.l.Record(e, rl.run)
	}
	if rl.now().Sub(rl.lastSave) >= rl.every {
		rl.save()
	}
}

// fingerprints are the secret fingerprints after change c: those of every secret a
// create or put sent; for a patch, the old ones, updated for the secrets below a
// replaced field (a patch sends nothing else).
func (rl *runLedger) fingerprints(c planner.Change, old map[string]string) map[string]string {
	out := map[string]string{}
	if c.Action == planner.ActionPatch {
		for k, v := range old {
			out[k] = v
		}
	}
	for _, s := range c.Secrets {
		sec, ok := s.Value.(sdim.Secret)
		if !ok {
			continue
		}
		if c.Action == planner.ActionPatch && !underAny(s.Pointer, c.Patch) {
			continue
		}
		out[s.Pointer] = rl.l.SecretFingerprint(sec)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func underAny(ptr string, ops []planner.PatchOp) bool {
	for _, op := range ops {
		if ptr == op.Path || strings.HasPrefix(ptr, op.Path+"/") {
			return true
		}
	}
	return false
}

// forgetStatusChecks drops the status-check entries: the singleton has one, whatever
// its documents' name labels.
func (rl *runLedger) forgetStatusChecks() {
	for _, e := range rl.l.Entries() {
		if e.Kind == sdim.KindStatusCheck {
			rl.l.Forget(e.Kind, "", e.Name)
		}
	}
}

func (rl *runLedger) save() {
	rl.lastSave = rl.now()
	if err := rl.l.Save(); err != nil {
		rl.errs = append(rl.errs, err)
	}
}

// settle ends a run that applied (or found nothing to apply): it records every declared
// object the plan found in sync that the ledger does not know, or knows with another
// digest (an object whose tenant write happened but whose ledger write did not: it
// re-adopts what it created, by name, with no fingerprints, unknown until the next
// push), forgets the entries of objects the tenant no longer holds, and saves. It
// returns the ledger errors of the run.
func (rl *runLedger) settle(run *Run) error {
	if rl == nil || rl.l.ReadOnly() {
		return nil
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if run.Plan != nil {
		for _, s := range run.Plan.Synced {
			id := s.ID
			old, ok := rl.l.Lookup(s.Kind, id, s.Name)
			if ok && old.SpecDigest == s.SpecDigest && old.Name == s.Name {
				continue
			}
			if s.Kind == sdim.KindStatusCheck {
				rl.forgetStatusChecks()
			}
			rl.l.Record(ledger.Entry{Kind: s.Kind, ID: id, Name: s.Name, SpecDigest: s.SpecDigest, Secrets: old.Secrets, Adopted: old.Adopted}, rl.run)
		}
	}
	if live := run.Live; live != nil {
		present := map[string]bool{}
		for _, o := range live.ServiceDesk {
			present[string(sdim.KindServiceDesk)+"\x00"+o.ID] = true
		}
		for _, o := range live.SIM {
			present[string(sdim.KindSIM)+"\x00"+o.ID] = true
		}
		for _, e := range rl.l.Entries() {
			if e.Kind == sdim.KindStatusCheck || e.Kind == sdim.KindSIM && !live.SIMRead || rl.touched[e.ID] {
				continue
			}
			if !present[string(e.Kind)+"\x00"+e.ID] {
				rl.l.Forget(e.Kind, e.ID, e.Name)
			}
		}
	}
	rl.save()
	if len(rl.errs) == 0 {
		return nil
	}
	if err := rl.l.Save(); err == nil { // only a save along the way failed: the last one holds everything
		rl.errs = nil
		return nil
	}
	return fmt.Errorf("the ledger %s could not be written (%w): what the tenant holds is right, but the ledger may not own what this run created; the next run that applies records it again by name", rl.l.File(), errors.Join(rl.errs...))
}

func (rl *runLedger) close() {
	if rl != nil {
		_ = rl.l.Close()
	}
}
