package tenant_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/contracttest"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// TestSnapshotCallCount: N objects take ceil(N/250) list calls (one when there are none),
// one status-check call and, when asked, one SIM list; never a GET per object.
func TestSnapshotCallCount(t *testing.T) {
	tests := []struct {
		n         int
		version   sdim.APIVersion
		sim       bool
		wantLists int64
	}{
		{0, sdim.V3, false, 1},
		{1, sdim.V3, false, 1},
		{250, sdim.V2024, false, 1},
		{251, sdim.V2025, true, 2},
		{1000, sdim.V1, true, 4},
		{1001, sdim.V3, false, 5},
	}
	for _, tt := range tests {
		t.Run(string(tt.version)+"/"+strconv.Itoa(tt.n), func(t *testing.T) {
			t.Parallel()
			env := startEmulator(t, emulator.Config{})
			if err := env.emu.Generate(tt.n); err != nil {
				t.Fatal(err)
			}
			c := env.client(t, env.settings(t, tt.version))
			live, err := c.Snapshot(t.Context(), tenant.SnapshotOptions{SIM: tt.sim})
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			if len(live.ServiceDesk) != tt.n || live.StatusCheck == nil || live.SIMRead != tt.sim {
				t.Fatalf("got %d integrations, status check %v, SIM read %v", len(live.ServiceDesk), live.StatusCheck, live.SIMRead)
			}
			if !slices.IsSortedFunc(live.ServiceDesk, func(a, b sdim.ServiceDeskIntegration) int { return strings.Compare(a.Name, b.Name) }) {
				t.Error("not sorted by name")
			}
			ids := map[string]bool{}
			for _, o := range live.ServiceDesk {
				ids[o.ID] = true
			}
			if len(ids) != tt.n {
				t.Errorf("%d distinct ids among %d objects", len(ids), tt.n)
			}
			base := tt.version.ServiceDeskPath()
			want := map[string]int64{
				"GET " + base: tt.wantLists,
				"GET " + base + "/status-check-configuration": 1,
			}
			if tt.sim {
				want["GET "+tt.version.SIMPath()] = 1
			}
			got := env.emu.Counters().Requests
			delete(got, "POST "+emulator.TokenPath)
			if !mapsEqual(got, want) {
				t.Errorf("requests %v, want %v", got, want)
			}
		})
	}
}

// TestSnapshotRestartsWhenTheListMoves: an object created between two pages changes the
// tenant's total; the listing starts over rather than return a state with a hole in it.
func TestSnapshotRestartsWhenTheListMoves(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	if err := env.emu.Generate(600); err != nil {
		t.Fatal(err)
	}
	other := env.client(t, env.settings(t, sdim.V3))
	var once sync.Once
	hooks := tenant.Hooks{Request: func(method, route string, status int, _ time.Duration) {
		if method == http.MethodGet && route == sdim.V3.ServiceDeskPath() {
			once.Do(func() {
				if _, err := other.CreateServiceDesk(t.Context(), snow("Arrived mid-list")); err != nil {
					t.Error(err)
				}
			})
		}
	}}
	logs := &logBuffer{}
	c := env.client(t, env.settings(t, sdim.V3), tenant.WithHooks(hooks), tenant.WithLogger(logs.logger()))
	live, err := c.Snapshot(t.Context(), tenant.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(live.ServiceDesk) != 601 {
		t.Errorf("got %d integrations, want 601", len(live.ServiceDesk))
	}
	if !strings.Contains(logs.String(), "the list changed while it was read") {
		t.Errorf("no warning logged:\n%s", logs)
	}
	if lists := env.emu.Counters().Requests["GET "+sdim.V3.ServiceDeskPath()]; lists != 2+3 {
		t.Errorf("%d list calls, want 2 (the moved listing) + 3", lists)
	}
}

// TestEveryRequestMatchesTheSpec drives every call on every version through the contract
// checker and requires it to have seen each operation of the definitions.
func TestEveryRequestMatchesTheSpec(t *testing.T) {
	contracttest.Dir(t) // skips, naming the directory, when the spec is absent
	for _, v := range sdim.APIVersions() {
		t.Run(string(v), func(t *testing.T) {
			env := startEmulator(t, emulator.Config{})
			c := env.client(t, env.settings(t, v))
			if err := env.emu.Generate(300); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Snapshot(t.Context(), tenant.SnapshotOptions{SIM: v.HasSIM()}); err != nil {
				t.Fatal(err)
			}
			_, _ = c.FindServiceDeskByName(t.Context(), `a "quoted" name`)
			runAllCalls(t, env, c, v)
			seen := env.stats.Seen()
			var missing []string
			for _, f := range contracttest.Files() {
				if f.Version != v {
					continue
				}
				for _, r := range contracttest.NewRouters(t, env.srv.URL) {
					if r.File.Name != f.Name {
						continue
					}
					for _, item := range r.Doc.Paths.Map() {
						for _, op := range item.Operations() {
							if seen[op.OperationID] == 0 {
								missing = append(missing, op.OperationID)
							}
						}
					}
				}
			}
			if len(missing) > 0 {
				t.Errorf("operations the client never called: %v (seen %v)", missing, seen)
			}
			t.Logf("%s: %d requests and %d answers validated", v, env.stats.Requests.Load(), env.stats.Responses.Load())
		})
	}
}

// runAllCalls makes each typed call once.
func runAllCalls(t *testing.T, env *tenantEnv, c *tenant.Client, v sdim.APIVersion) {
	t.Helper()
	ctx := t.Context()
	obj, err := c.CreateServiceDesk(ctx, snow("Spec check"))
	if err != nil {
		t.Fatal(err)
	}
	steps := []error{}
	_, err = c.GetServiceDesk(ctx, obj.ID)
	steps = append(steps, err)
	_, err = c.PutServiceDesk(ctx, obj.ID, snow("Spec check"))
	steps = append(steps, err)
	_, err = c.PatchServiceDesk(ctx, obj.ID, obj.Name, []tenant.PatchOp{tenant.Replace("/beforeProvisioningRule",
		sdim.Reference{Type: sdim.RefRule, ID: "2c918085708c274401708c2a8a760001"})})
	steps = append(steps, err)
	steps = append(steps, c.DeleteServiceDesk(ctx, obj.ID, obj.Name))
	_, err = c.PutStatusCheck(ctx, sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: "30", ProvisioningMaxStatusCheckDays: "2"})
	steps = append(steps, err)
	types, err := c.ListTypes(ctx)
	steps = append(steps, err)
	if len(types) > 0 {
		_, err = c.GetTemplate(ctx, types[0].ScriptName)
		steps = append(steps, err)
	}
	if v.HasSIM() {
		sim, err := c.CreateSIM(ctx, sdim.SIMIntegration{Name: "Spec SIM", Type: "ServiceNow Service Desk", Attributes: map[string]any{"uid": "u"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetSIM(ctx, sim.ID)
		steps = append(steps, err)
		_, err = c.PutSIM(ctx, sim.ID, sdim.SIMIntegration{Name: "Spec SIM", Type: "ServiceNow Service Desk"})
		steps = append(steps, err)
		rule := sdim.Reference{Type: sdim.RefRule, ID: "2c918085708c274401708c2a8a760001"}
		_, err = c.PatchSIM(ctx, sim.ID, sim.Name, []tenant.PatchOp{tenant.Replace("/beforeProvisioningRule", rule)})
		steps = append(steps, err)
		_, err = c.PatchSIMBeforeProvisioningRule(ctx, sim.ID, sim.Name, []tenant.PatchOp{tenant.Replace("/id", rule.ID)})
		steps = append(steps, err)
		steps = append(steps, c.DeleteSIM(ctx, sim.ID, sim.Name))
	}
	for i, err := range steps {
		if err != nil {
			t.Errorf("step %d: %v", i, err)
		}
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
