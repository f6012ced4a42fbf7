package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/ledger"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// ledgerEnv is an emulated tenant, a desired directory, a state directory and a writing
// client for out-of-band edits.
type ledgerEnv struct {
	*env
	t     *testing.T
	dir   string
	state string
	vars  map[string]string
	admin *tenant.Client
}

func newLedgerEnv(t *testing.T, seed emulator.State) *ledgerEnv {
	t.Helper()
	e := newEnv(t, seed)
	le := &ledgerEnv{env: e, t: t, dir: t.TempDir(), state: t.TempDir(), vars: map[string]string{}}
	c, err := e.eng.Client()
	if err != nil {
		t.Fatal(err)
	}
	le.admin = c
	return le
}

func (le *ledgerEnv) write(name, body string) {
	le.t.Helper()
	if err := os.WriteFile(filepath.Join(le.dir, name), []byte(body), 0o644); err != nil {
		le.t.Fatal(err)
	}
}

func (le *ledgerEnv) request(apply bool, mod ...func(*engine.Request)) engine.Request {
	pol := planner.DefaultPolicy()
	r := engine.Request{Trigger: engine.TriggerCLI, Dir: le.dir, Policy: pol, Apply: apply, StateDir: le.state,
		LookupEnv: func(k string) (string, bool) { v, ok := le.vars[k]; return v, ok }}
	for _, m := range mod {
		m(&r)
	}
	return r
}

func (le *ledgerEnv) plan(mod ...func(*engine.Request)) *planner.Result {
	le.t.Helper()
	run := le.eng.Reconcile(context.Background(), le.request(false, mod...))
	if run.Err != nil {
		le.t.Fatalf("plan: %v", run.Err)
	}
	return run.Plan
}

func (le *ledgerEnv) apply(mod ...func(*engine.Request)) *engine.Run {
	le.t.Helper()
	run := le.eng.Reconcile(context.Background(), le.request(true, mod...))
	if run.Err != nil || run.Refused != "" {
		le.t.Fatalf("apply: %v %s", run.Err, run.Refused)
	}
	return run
}

// editLive changes the description of the live integration name by hand.
func (le *ledgerEnv) editLive(name, description string) {
	le.t.Helper()
	ctx := context.Background()
	o, err := le.admin.FindServiceDeskByName(ctx, name)
	if err != nil || o == nil {
		le.t.Fatalf("find %s: %v", name, err)
	}
	o.Description = description
	if _, err := le.admin.PutServiceDesk(ctx, o.ID, *o); err != nil {
		le.t.Fatal(err)
	}
}

func (le *ledgerEnv) liveCount(name string) int {
	n := 0
	for _, o := range le.emu.State().ServiceDeskIntegrations {
		if o["name"] == name {
			n++
		}
	}
	return n
}

func changeOf(p *planner.Result, name string) (planner.Change, bool) {
	for _, c := range p.Changes {
		if c.Name == name {
			return c, true
		}
	}
	return planner.Change{}, false
}

// TestDriftClasses: every class against the emulator: the file edited (pending), the
// tenant edited (out-of-band), both (conflict), neither (in sync), a new object
// (pending create), an object the ledger does not know (unknown), an adopted one whose
// file differs from the tenant (pending).
func TestDriftClasses(t *testing.T) {
	tests := []struct {
		name   string
		file   bool // edit the file
		tenant bool // edit the tenant
		want   planner.DriftClass
	}{
		{"neither", false, false, ""},
		{"the file", true, false, planner.ClassPending},
		{"the tenant", false, true, planner.ClassOutOfBand},
		{"both", true, true, planner.ClassConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le := newLedgerEnv(t, emulator.State{})
			le.write("a.yaml", doc("A", "first"))
			le.apply()
			if c, ok := changeOf(le.plan(), "A"); ok {
				t.Fatalf("after the apply: %+v", c)
			}
			if tt.file {
				le.write("a.yaml", doc("A", "from the repository"))
			}
			if tt.tenant {
				le.editLive("A", "by hand")
			}
			c, ok := changeOf(le.plan(), "A")
			if tt.want == "" {
				if ok {
					t.Fatalf("a change: %+v", c)
				}
				return
			}
			if !ok || c.Class != tt.want {
				t.Fatalf("class %q (change %v), want %q", c.Class, ok, tt.want)
			}
		})
	}

	t.Run("a new object", func(t *testing.T) {
		le := newLedgerEnv(t, emulator.State{})
		le.write("a.yaml", doc("A", "first"))
		if c, _ := changeOf(le.plan(), "A"); c.Action != planner.ActionCreate || c.Class != planner.ClassPending {
			t.Fatalf("%+v", c)
		}
	})
	handMade := emulator.State{ServiceDeskIntegrations: []map[string]any{
		{"name": "H", "description": "by hand", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://acme.service-now.com"}},
	}}
	t.Run("unknown to the ledger", func(t *testing.T) {
		le := newLedgerEnv(t, handMade)
		le.write("h.yaml", doc("H", "from the repository"))
		if c, _ := changeOf(le.plan(), "H"); c.Class != planner.ClassUnknown {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("adopted", func(t *testing.T) {
		le := newLedgerEnv(t, handMade)
		le.write("h.yaml", doc("H", "from the repository"))
		_, got, err := le.eng.Adopt(context.Background(), engine.AdoptRequest{Dir: le.dir, StateDir: le.state, DryRun: true})
		if err != nil || len(got) != 1 || got[0].Name != "H" || !got[0].Declared {
			t.Fatalf("dry run: %+v %v", got, err)
		}
		if c, _ := changeOf(le.plan(), "H"); c.Class != planner.ClassUnknown {
			t.Fatalf("a dry run adopted: %+v", c)
		}
		if _, got, err = le.eng.Adopt(context.Background(), engine.AdoptRequest{Dir: le.dir, StateDir: le.state}); err != nil || len(got) != 1 {
			t.Fatalf("adopt: %+v %v", got, err)
		}
		if c, _ := changeOf(le.plan(), "H"); c.Class != planner.ClassPending {
			t.Fatalf("adopted, file differs: %+v", c)
		}
		le.apply()
		le.editLive("H", "by hand again")
		if c, _ := changeOf(le.plan(), "H"); c.Class != planner.ClassOutOfBand {
			t.Fatalf("adopted, applied, edited by hand: %+v", c)
		}
	})
}

// TestOwnershipPrune: with pruning on and a scope that matches every name, a hand-made
// integration is never deleted; an owned one the desired state stops declaring is; a
// ledger of another tenant URL is not used; --prune-unowned-by-name goes by name.
func TestOwnershipPrune(t *testing.T) {
	handMade := emulator.State{ServiceDeskIntegrations: []map[string]any{
		{"name": "Hand Made", "description": "by hand", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://acme.service-now.com"}},
	}}
	le := newLedgerEnv(t, handMade)
	le.write("a.yaml", doc("A", "one"))
	le.write("b.yaml", doc("B", "two"))
	prune := func(r *engine.Request) { r.Policy.Prune, r.Policy.ManagedScope = true, []string{"*"} }
	run := le.apply(prune)
	if c, ok := changeOf(run.Plan, "Hand Made"); ok {
		t.Fatalf("the hand-made integration is planned: %+v", c)
	}
	if len(run.Plan.Unmanaged) != 1 || !run.Plan.Unmanaged[0].NotOwned || !run.Plan.Ownership {
		t.Fatalf("unmanaged: %+v", run.Plan.Unmanaged)
	}

	os.Remove(filepath.Join(le.dir, "b.yaml"))
	p := le.plan(prune)
	if c, ok := changeOf(p, "B"); !ok || c.Action != planner.ActionDelete || c.Class != planner.ClassPending {
		t.Fatalf("the owned B, no longer declared: %+v %v", c, ok)
	}
	if _, ok := changeOf(p, "Hand Made"); ok {
		t.Fatal("the hand-made integration is planned for deletion")
	}
	le.apply(prune)
	if le.liveCount("B") != 0 || le.liveCount("Hand Made") != 1 {
		t.Fatalf("after pruning: B %d, Hand Made %d", le.liveCount("B"), le.liveCount("Hand Made"))
	}
	if p := le.plan(prune); p.HasChanges() {
		t.Fatalf("after pruning: %+v", p.Changes)
	}

	// By name, on purpose.
	if c, ok := changeOf(le.plan(prune, func(r *engine.Request) { r.Policy.PruneUnownedByName = true }), "Hand Made"); !ok || c.Action != planner.ActionDelete || c.Class != planner.ClassUnknown {
		t.Fatalf("--prune-unowned-by-name: %+v %v", c, ok)
	}

	// A ledger from another tenant URL, planted under this tenant's file name, is refused.
	other := t.TempDir()
	c, _ := le.eng.Client()
	l, err := ledger.Open(context.Background(), other, "https://other.api.identitynow.com", c.APIVersion(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Record(ledger.Entry{Kind: sdim.KindServiceDesk, ID: run.Plan.Unmanaged[0].ID, Name: "Hand Made"}, "r")
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	data, _ := os.ReadFile(l.File())
	os.WriteFile(ledger.Path(other, c.BaseURL(), c.APIVersion()), data, 0o600)
	r := le.eng.Reconcile(context.Background(), le.request(false, prune, func(r *engine.Request) { r.StateDir = other }))
	if r.Err == nil || r.FailedStage() != engine.StagePlan || !strings.Contains(r.Err.Error(), "not used for another tenant") {
		t.Fatalf("a foreign ledger: %v", r.Err)
	}
	// Its own file name for the other tenant is simply another ledger: this one is empty.
	os.Remove(ledger.Path(other, c.BaseURL(), c.APIVersion()))
	if _, ok := changeOf(le.plan(prune, func(r *engine.Request) { r.StateDir = other }), "Hand Made"); ok {
		t.Fatal("another tenant's ledger owns this tenant's object")
	}
	if le.liveCount("Hand Made") != 1 {
		t.Fatal("the hand-made integration is gone")
	}
}

// TestSecretRotation: a changed ${env:...} value is one rotated put; after it the plan is
// empty; the ledger holds no secret value and no unkeyed hash of one.
func TestSecretRotation(t *testing.T) {
	le := newLedgerEnv(t, emulator.State{})
	const first, second = "planted-first-secret-value", "planted-second-secret-value"
	le.vars["PW"] = first
	le.write("a.yaml", "kind: ServiceDeskIntegration\nname: A\nspec:\n  type: ServiceNowSDIM\n  attributes: {url: https://acme.service-now.com, password: \"${env:PW}\"}\n")
	le.apply()
	if p := le.plan(); p.HasChanges() {
		t.Fatalf("after the create: %+v", p.Changes)
	}
	le.vars["PW"] = second
	p := le.plan()
	if len(p.Changes) != 1 {
		t.Fatalf("changes: %+v", p.Changes)
	}
	c := p.Changes[0]
	if c.Action != planner.ActionPut || len(c.PushSecrets) != 1 || !c.PushSecrets[0].Rotated || c.PushSecrets[0].Pointer != "/attributes/password" || len(c.Fields) != 0 {
		t.Fatalf("rotation: %+v", c)
	}
	var text strings.Builder
	if err := planner.WriteText(&text, p, planner.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "secret rotated") || strings.Contains(text.String(), second) {
		t.Fatalf("text:\n%s", text.String())
	}
	le.apply()
	if p := le.plan(); p.HasChanges() {
		t.Fatalf("after the rotated put: %+v", p.Changes)
	}
	if got := le.emu.State().ServiceDeskIntegrations[0]["attributes"].(map[string]any)["password"]; got != nil && got != second {
		t.Logf("the emulator's stored password is not shown by State: %v", got)
	}
	files, _ := filepath.Glob(filepath.Join(le.state, "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{first, second} {
			sum := sha256.Sum256([]byte(v))
			if strings.Contains(string(data), v) || strings.Contains(string(data), hex.EncodeToString(sum[:])) {
				t.Errorf("%s holds a secret value or its unkeyed hash", f)
			}
		}
	}
}

// TestCrashBetweenTenantAndLedgerWrites: the tenant write of a create and of a put happen,
// their ledger writes do not (a crash in between); the next run converges without
// duplicates, re-adopts both by name, and a later edit by hand is out-of-band, not a
// conflict.
func TestCrashBetweenTenantAndLedgerWrites(t *testing.T) {
	le := newLedgerEnv(t, emulator.State{})
	le.write("a.yaml", doc("A", "one"))
	le.apply()
	engine.SetLedgerSkip(le.eng, func(applier.Result) bool { return true })
	le.write("a.yaml", doc("A", "two"))
	le.write("b.yaml", doc("B", "new"))
	le.apply()
	engine.SetLedgerSkip(le.eng, nil)

	p := le.plan(func(r *engine.Request) { r.Policy.Prune = true })
	if p.HasChanges() {
		t.Fatalf("after the crash: %+v", p.Changes)
	}
	le.apply()
	if le.liveCount("A") != 1 || le.liveCount("B") != 1 {
		t.Fatalf("duplicates: A %d, B %d", le.liveCount("A"), le.liveCount("B"))
	}
	le.editLive("A", "by hand")
	le.editLive("B", "by hand")
	p = le.plan()
	for _, n := range []string{"A", "B"} {
		if c, _ := changeOf(p, n); c.Class != planner.ClassOutOfBand {
			t.Errorf("%s: class %q, want out-of-band", n, c.Class)
		}
	}
	// B was re-adopted: pruning deletes it once no file declares it.
	os.Remove(filepath.Join(le.dir, "b.yaml"))
	if c, ok := changeOf(le.plan(func(r *engine.Request) { r.Policy.Prune = true }), "B"); !ok || c.Action != planner.ActionDelete {
		t.Fatalf("the re-adopted B is not owned: %+v", c)
	}
}

// TestLedgerLocksAndPlansReadOnly: a plan reads the ledger without writing it; a run that
// applies while another process holds the lock fails in the plan stage with the lock's
// message; a damaged ledger fails a plan too.
func TestLedgerLocksAndPlansReadOnly(t *testing.T) {
	le := newLedgerEnv(t, emulator.State{})
	le.write("a.yaml", doc("A", "one"))
	le.plan()
	if files, _ := filepath.Glob(filepath.Join(le.state, "*")); len(files) != 0 {
		t.Fatalf("a plan wrote %v", files)
	}
	le.apply()
	c, _ := le.eng.Client()
	held, err := ledger.Open(context.Background(), le.state, c.BaseURL(), c.APIVersion(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Client(c), engine.Options{LedgerLockWait: 50 * time.Millisecond})
	run := eng.Reconcile(context.Background(), le.request(true))
	if run.FailedStage() != engine.StagePlan || !strings.Contains(run.Err.Error(), "in use by another sdim-sync") {
		t.Fatalf("locked: %v", run.Err)
	}
	if run := eng.Reconcile(context.Background(), le.request(false)); run.Err != nil {
		t.Fatalf("a plan while the lock is held: %v", run.Err)
	}
	held.Close()
	os.WriteFile(ledger.Path(le.state, c.BaseURL(), c.APIVersion()), []byte("{damaged"), 0o600)
	if run := eng.Reconcile(context.Background(), le.request(false)); run.FailedStage() != engine.StagePlan || !strings.Contains(run.Err.Error(), "is damaged") {
		t.Fatalf("damaged: %v", run.Err)
	}
}
