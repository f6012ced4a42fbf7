package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
)

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestReconcileSafety: a put that would clear a template secret is a blocked run with no
// write, in enforce as in the CLI, unless overridden; a delete a document asks for runs
// without pruning; a push of secrets writes and reads back as converged.
func TestReconcileSafety(t *testing.T) {
	seed := emulator.State{ServiceDeskIntegrations: []map[string]any{
		{"name": "A", "description": "edited by hand", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://acme.service-now.com"}},
		{"name": "Gone", "description": "x", "type": "ZendeskSDIM", "attributes": map[string]any{"url": "https://z"}},
	}}
	noPassword := "kind: ServiceDeskIntegration\nname: A\nspec: {description: managed, type: ServiceNowSDIM, attributes: {url: https://acme.service-now.com}}\n"
	tests := []struct {
		name    string
		files   map[string]string
		pol     func(p *planner.Policy)
		result  engine.Result
		refused string
		writes  map[string]int64
	}{
		{name: "a put that clears a template secret: blocked",
			files:  map[string]string{"a.yaml": noPassword},
			result: engine.ResultBlocked, refused: `ServiceDeskIntegration "A" (a.yaml:1:1): the put would clear the secret attributes.password`},
		{name: "the override",
			files:  map[string]string{"a.yaml": noPassword},
			pol:    func(p *planner.Policy) { p.AllowSecretClear = true },
			result: engine.ResultSuccess, writes: map[string]int64{"PUT": 1}},
		{name: "a delete by state: absent, without pruning",
			files:  map[string]string{"a.yaml": doc("A", "edited by hand"), "gone.yaml": "kind: ServiceDeskIntegration\nname: Gone\nstate: absent\n"},
			result: engine.ResultSuccess, writes: map[string]int64{"DELETE": 1}},
		{name: "push secrets: a put of an object otherwise in sync, converged",
			files:  map[string]string{"a.yaml": doc("A", "edited by hand")},
			pol:    func(p *planner.Policy) { p.PushSecrets = true },
			result: engine.ResultSuccess, writes: map[string]int64{"PUT": 1}},
		{name: "push secrets in observe mode: nothing written",
			files:  map[string]string{"a.yaml": doc("A", "edited by hand")},
			pol:    func(p *planner.Policy) { p.PushSecrets, p.Mode = true, "observe" },
			result: engine.ResultSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, seed)
			req := engine.Request{Trigger: engine.TriggerSchedule, Dir: writeDir(t, tt.files), Policy: planner.DefaultPolicy(), Apply: true}
			if tt.pol != nil {
				tt.pol(&req.Policy)
			}
			run := e.eng.Reconcile(context.Background(), req)
			if run.Result() != tt.result || !strings.Contains(run.Refused, tt.refused) {
				t.Fatalf("result %s (err %v, refused %q), want %s %q", run.Result(), run.Err, run.Refused, tt.result, tt.refused)
			}
			var total int64
			for method, n := range e.emu.Counters().Writes {
				total += n
				if n != tt.writes[strings.Fields(method)[0]] {
					t.Errorf("%d %s writes, want %d", n, method, tt.writes[method])
				}
			}
			if total == 0 && len(tt.writes) > 0 {
				t.Errorf("no write, want %v; plan %+v", tt.writes, run.Plan)
			}
			if run.Report != nil && len(run.Report.NotConverging) > 0 {
				t.Errorf("not converging: %+v", run.Report.NotConverging)
			}
		})
	}
}
