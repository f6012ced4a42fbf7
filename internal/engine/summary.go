package engine

import (
	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// ObjectState is where an object stands after a plan.
type ObjectState string

// The object states.
const (
	// StateInSync: declared, and the tenant matches.
	StateInSync ObjectState = "in_sync"
	// StateDrifted: the tenant differs from (or lacks) what is declared, or holds an object
	// pruning would delete, and a run in enforce mode would change it.
	StateDrifted ObjectState = "drifted"
	// StateObserveOnly: differs, but the object is marked observe: reported, never written.
	StateObserveOnly ObjectState = "observe_only"
	// StateUnmanaged: in the tenant, declared by no file, and left alone.
	StateUnmanaged ObjectState = "unmanaged"
)

// ObjectStates lists every state.
func ObjectStates() []ObjectState {
	return []ObjectState{StateInSync, StateDrifted, StateObserveOnly, StateUnmanaged}
}

// Summary counts what a plan found, for gauges and status pages.
type Summary struct {
	// Objects counts objects by kind and state; every kind and state is present.
	Objects map[sdim.Kind]map[ObjectState]int
	// Pending counts the changes a run in enforce mode would make, by kind and action;
	// every kind and action is present.
	Pending map[sdim.Kind]map[planner.Action]int
	// DeletesBlocked is the number of deletes the plan holds that its safety policy blocks.
	DeletesBlocked int
	// Classes counts the drifted objects (those a run in enforce mode would change; not the
	// observe-only ones) by kind and drift class (who moved: pending, out-of-band,
	// conflict, unknown); every kind and class is present.
	Classes map[sdim.Kind]map[planner.DriftClass]int
}

// Actions lists every action a change can have.
func Actions() []planner.Action {
	return []planner.Action{planner.ActionCreate, planner.ActionPatch, planner.ActionPut, planner.ActionDelete}
}

// Summarize counts what the run's plan found, less the changes its apply made and the
// read-back found kept. It returns false when the run did not plan.
func (r *Run) Summarize() (Summary, bool) {
	if r.Plan == nil || r.Desired == nil {
		return Summary{}, false
	}
	s := Summary{Objects: map[sdim.Kind]map[ObjectState]int{}, Pending: map[sdim.Kind]map[planner.Action]int{},
		Classes: map[sdim.Kind]map[planner.DriftClass]int{}}
	for _, k := range sdim.Kinds() {
		s.Classes[k] = map[planner.DriftClass]int{}
		for _, c := range planner.DriftClasses() {
			s.Classes[k][c] = 0
		}
		s.Objects[k] = map[ObjectState]int{}
		for _, st := range ObjectStates() {
			s.Objects[k][st] = 0
		}
		s.Pending[k] = map[planner.Action]int{}
		for _, a := range Actions() {
			s.Pending[k][a] = 0
		}
	}
	declared := map[sdim.Kind]int{
		sdim.KindServiceDesk: len(r.Desired.ServiceDesk),
		sdim.KindSIM:         len(r.Desired.SIM),
	}
	if r.Desired.StatusCheck != nil {
		declared[sdim.KindStatusCheck] = 1
	}
	// Changes an apply made, and the read-back found kept, are no longer drift.
	type key struct {
		kind sdim.Kind
		name string
	}
	done := map[key]bool{}
	if r.Report != nil {
		for _, res := range r.Report.Results {
			if res.Outcome == applier.Applied {
				done[key{res.Change.Kind, res.Change.Name}] = true
			}
		}
		for _, c := range r.Report.NotConverging {
			delete(done, key{c.Kind, c.Name})
		}
	}
	differing := map[sdim.Kind]int{}
	for _, c := range r.Plan.Changes {
		if done[key{c.Kind, c.Name}] {
			continue
		}
		if c.Action != planner.ActionDelete {
			differing[c.Kind]++
		}
		class := c.Class
		if class == "" {
			class = planner.ClassUnknown
		}
		if !c.Observe {
			s.Classes[c.Kind][class]++
		}
		switch {
		case c.Observe:
			s.Objects[c.Kind][StateObserveOnly]++
		default:
			s.Objects[c.Kind][StateDrifted]++
			s.Pending[c.Kind][c.Action]++
			if c.Action == planner.ActionDelete && len(r.Plan.Blocked) > 0 {
				s.DeletesBlocked++
			}
		}
	}
	for k, n := range declared {
		s.Objects[k][StateInSync] = max(n-differing[k], 0)
	}
	for _, o := range r.Plan.Unmanaged {
		s.Objects[o.Kind][StateUnmanaged]++
	}
	return s, true
}
