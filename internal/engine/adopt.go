package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/ledger"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// AdoptRequest says which live objects Adopt records as owned.
type AdoptRequest struct {
	// Dir, SecretFilesOutside, LookupEnv, ReadSIM and StateDir are as in Request.
	Dir                string
	SecretFilesOutside bool
	LookupEnv          func(string) (string, bool)
	ReadSIM            bool
	StateDir           string
	// SecretKeys are the secret attribute keys (nil: the default).
	SecretKeys []string
	// Targets (sdim.ParseTargets) narrow the declared objects adopted, and select live
	// objects no file declares too: those are adopted as well (pruning then deletes
	// them). Empty: every declared object the tenant holds.
	Targets []string
	// DryRun lists what would be adopted and writes nothing.
	DryRun bool
}

// Adoption is one object Adopt recorded (or, in a dry run, would record).
type Adoption struct {
	Kind sdim.Kind
	ID   string
	Name string
	// Declared says a desired document declares it (matched by name or previous name);
	// false for a live object only a target selected.
	Declared bool
	// AlreadyOwned says the ledger held it before.
	AlreadyOwned bool
}

// Adopt records as owned the live objects the desired state declares (matched by name,
// then by options.previousNames) or, with targets, the live objects they select, with
// the digest of each live object (so that a later plan classes a difference from the
// file as pending), and saves the ledger. The run holds the load and snapshot stages.
func (e *Engine) Adopt(ctx context.Context, req AdoptRequest) (*Run, []Adoption, error) {
	if req.StateDir == "" {
		return nil, nil, errors.New("adopt: no state directory")
	}
	targets, err := sdim.ParseTargets(req.Targets)
	if err != nil {
		return nil, nil, err
	}
	id := RunID(ctx)
	if id == "" {
		id = e.NewRunID()
	}
	ctx = WithRun(ctx, id, TriggerCLI)
	run := &Run{ID: id, Trigger: TriggerCLI, Start: e.clock.Now()}
	defer func() { run.End = e.clock.Now() }()
	r := Request{Trigger: TriggerCLI, Dir: req.Dir, SecretFilesOutside: req.SecretFilesOutside, LookupEnv: req.LookupEnv,
		ReadSIM: req.ReadSIM, StateDir: req.StateDir, Apply: !req.DryRun, Policy: planner.Policy{SecretKeys: req.SecretKeys}}
	if !e.stage(run, StageLoad, func() error { return e.load(run, r) }) {
		return run, nil, run.Err
	}
	if !e.stage(run, StageSnapshot, func() error { return e.snapshot(ctx, run, r) }) {
		return run, nil, run.Err
	}
	led, err := e.openLedger(ctx, run, r)
	if err != nil {
		return run, nil, err
	}
	defer led.close()
	keys := sdim.NewSecretKeySet(secretKeysOr(req.SecretKeys))
	var out []Adoption
	add := func(kind sdim.Kind, id, name string, declared bool, digest string) {
		old, owned := led.l.Lookup(kind, id, name)
		out = append(out, Adoption{Kind: kind, ID: id, Name: name, Declared: declared, AlreadyOwned: owned})
		if req.DryRun {
			return
		}
		if kind == sdim.KindStatusCheck {
			led.forgetStatusChecks()
		}
		led.l.Record(ledger.Entry{Kind: kind, ID: id, Name: name, SpecDigest: digest, Secrets: old.Secrets, Adopted: true}, run.ID)
	}
	digest := func(kind sdim.Kind, want, live map[string]any, ignore []string) string {
		return planner.SpecDigest(kind, live, ignore, keys, planner.SecretPointers(want))
	}
	adoptKind := func(kind sdim.Kind, want []desired.Resource, wantCanon []map[string]any, live []liveRef) {
		claimed := map[int]bool{}
		byName := map[string]int{}
		for i := len(live) - 1; i >= 0; i-- {
			byName[live[i].name] = i
		}
		for i, w := range want {
			j, ok := byName[w.Name]
			if !ok || claimed[j] {
				ok = false
				for _, prev := range w.Options.PreviousNames {
					if jj, found := byName[prev]; found && !claimed[jj] {
						j, ok = jj, true
						break
					}
				}
			}
			if !ok {
				continue
			}
			claimed[j] = true
			if targets.Match(kind, w.Name) || targets.Match(kind, live[j].name) {
				add(kind, live[j].id, w.Name, true, digest(kind, wantCanon[i], live[j].canon, w.Options.Ignore))
			}
		}
		if targets.Empty() {
			return
		}
		for j, l := range live {
			if !claimed[j] && targets.Match(kind, l.name) {
				add(kind, l.id, l.name, false, digest(kind, nil, l.canon, nil))
			}
		}
	}
	var sdWant []desired.Resource
	var sdCanon []map[string]any
	for _, r := range run.Desired.ServiceDesk {
		sdWant, sdCanon = append(sdWant, r.Resource), append(sdCanon, sdim.CanonicalServiceDesk(r.Spec))
	}
	sdLive := make([]liveRef, len(run.Live.ServiceDesk))
	for i, o := range run.Live.ServiceDesk {
		sdLive[i] = liveRef{id: o.ID, name: o.Name, canon: sdim.CanonicalServiceDesk(o)}
	}
	adoptKind(sdim.KindServiceDesk, sdWant, sdCanon, sdLive)
	if sc := run.Desired.StatusCheck; sc != nil && run.Live.StatusCheck != nil && targets.Match(sdim.KindStatusCheck, sc.Name) {
		want := sdim.CanonicalStatusCheck(sc.Spec)
		add(sdim.KindStatusCheck, "", sc.Name, true, digest(sdim.KindStatusCheck, want, sdim.CanonicalStatusCheck(*run.Live.StatusCheck), sc.Options.Ignore))
	}
	if run.Live.SIMRead {
		var simWant []desired.Resource
		var simCanon []map[string]any
		for _, r := range run.Desired.SIM {
			simWant, simCanon = append(simWant, r.Resource), append(simCanon, sdim.CanonicalSIM(r.Spec))
		}
		simLive := make([]liveRef, len(run.Live.SIM))
		for i, o := range run.Live.SIM {
			simLive[i] = liveRef{id: o.ID, name: o.Name, canon: sdim.CanonicalSIM(o)}
		}
		adoptKind(sdim.KindSIM, simWant, simCanon, simLive)
	}
	if !req.DryRun {
		if err := led.l.Save(); err != nil {
			return run, out, fmt.Errorf("adopt: %w", err)
		}
	}
	return run, out, nil
}

type liveRef struct {
	id, name string
	canon    map[string]any
}
