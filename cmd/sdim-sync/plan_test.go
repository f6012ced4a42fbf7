package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/planner"
)

// planEnv is an emulated tenant with three generated integrations and a desired
// directory exported from it (so in sync), reached through the SAIL_* environment.
func planEnv(t *testing.T) (*emulator.Emulator, string) {
	t.Helper()
	e, url := startCLITenant(t, 3)
	t.Setenv("SAIL_BASE_URL", url)
	t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
	t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
	t.Setenv("NO_COLOR", "")
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"export", "--out", filepath.Join(dir, "live.yaml")}, &stdout, &stderr); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr.String())
	}
	return e, dir
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

const newIntegration = `kind: ServiceDeskIntegration
name: Brand New Desk
spec:
  type: ServiceNowSDIM
  attributes:
    url: https://new.service-now.com
    password: ${env:NEW_DESK_PASSWORD}
`

// TestPlanCommand: plan exits 0 whether or not there are changes (2 with changes only with
// --detailed-exitcode), in every output format, and never writes to the tenant.
func TestPlanCommand(t *testing.T) {
	e, dir := planEnv(t)
	code, out, errOut := runCLI(t, "plan", dir)
	if code != 0 || !strings.Contains(out, "No changes. The tenant matches the desired state.") ||
		!strings.Contains(out, "0 to delete; 0 unmanaged; 4 in sync.") {
		t.Fatalf("in sync: exit %d\n%s\n%s", code, out, errOut)
	}

	t.Setenv("NEW_DESK_PASSWORD", "correct-horse-battery")
	writeFile(t, filepath.Join(dir, "new.yaml"), newIntegration)
	if code, _, errOut := runCLI(t, "plan", dir, "--detailed-exitcode"); code != 2 {
		t.Fatalf("changes with --detailed-exitcode: exit %d, want 2: %s", code, errOut)
	}
	code, out, errOut = runCLI(t, "plan", dir)
	if code != 0 || !strings.Contains(out, `+ create ServiceDeskIntegration "Brand New Desk" (new.yaml:1:1)`) ||
		!strings.Contains(out, "Plan: 1 to create, 0 to update (0 patch, 0 put), 0 to delete; 0 unmanaged; 4 in sync.") {
		t.Fatalf("a new integration: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colours when standard output is not a terminal:\n%q", out)
	}

	code, out, _ = runCLI(t, "plan", dir, "-o", "json")
	var p struct {
		FormatVersion int            `json:"formatVersion"`
		Counts        map[string]int `json:"counts"`
		Changes       []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 0 || p.FormatVersion != 1 || p.Counts["create"] != 1 || len(p.Changes) != 1 {
		t.Fatalf("json: exit %d, %v: %s", code, err, out)
	}

	code, out, _ = runCLI(t, "plan", dir, "-o", "markdown", "--detailed-exitcode=false")
	if code != 0 || !strings.Contains(out, "## sdim-sync plan") || !strings.Contains(out, "<details><summary>+ <b>create</b>") {
		t.Fatalf("markdown: exit %d\n%s", code, out)
	}

	saved := filepath.Join(t.TempDir(), "plan.json")
	code, _, errOut = runCLI(t, "plan", dir, "--out", saved)
	if code != 0 || !strings.Contains(errOut, "saved the plan to "+saved) {
		t.Fatalf("--out: exit %d: %s", code, errOut)
	}
	f, err := os.Open(saved)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sp, err := planner.ReadSaved(f)
	if err != nil || sp.Target.TenantURL != os.Getenv("SAIL_BASE_URL") || sp.Target.DesiredDir != dir || len(sp.Changes) != 1 {
		t.Fatalf("saved plan: %+v, %v", sp, err)
	}

	for _, o := range []string{"text", "json", "markdown"} {
		_, out, errOut := runCLI(t, "plan", dir, "-o", o)
		if strings.Contains(out+errOut, "correct-horse-battery") {
			t.Errorf("%s output holds the secret", o)
		}
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("plan wrote %d times", w)
	}
}

// TestPlanDrift: a hand edit in the tenant shows as a put with its pointer; a rule
// change as a patch.
func TestPlanDrift(t *testing.T) {
	e, dir := planEnv(t)
	data, err := os.ReadFile(filepath.Join(dir, "live.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "description: Generated", "description: Edited", 1)
	edited = strings.Replace(edited, "\n  attributes:\n", "\n  beforeProvisioningRule: {type: RULE, id: 2c918085708c274401708c2a8a760001}\n  attributes:\n", 2)
	writeFile(t, filepath.Join(dir, "live.yaml"), edited)
	// The put would clear the apiKey the type's template declares and the file does not:
	// the plan is blocked (exit 1), as well as showing the drift.
	code, out, errOut := runCLI(t, "plan", dir, "--detailed-exitcode")
	if code != 1 || !strings.Contains(errOut, "the plan is blocked") || !strings.Contains(out, "~ replace ServiceDeskIntegration \"Generated Integration 00001\"") ||
		!strings.Contains(out, "/description: \"Generated") || !strings.Contains(out, "~ patch ServiceDeskIntegration \"Generated Integration 00002\"") ||
		!strings.Contains(out, "/beforeProvisioningRule: (none) -> {\"id\":\"2c918085708c274401708c2a8a760001\",\"type\":\"RULE\"}") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// The emulator's template of the type names its secret: the put warning says which.
	if !strings.Contains(out, "the JiraCloudSDIM template has the secret attributes.apiKey") {
		t.Errorf("no template-based warning:\n%s", out)
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("plan wrote %d times", w)
	}
}

func TestPlanErrors(t *testing.T) {
	e, dir := planEnv(t)
	empty, bad := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(bad, "bad.yaml"), "kind: ServiceDeskIntegration\nname: X\nspec: {descripton: typo}\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"blocked: prune from an empty directory", []string{"plan", empty, "--prune", "--prune-unowned-by-name"}, "the plan is blocked"},
		{"blocked: too many deletes", []string{"plan", empty, "--prune", "--prune-unowned-by-name", "--max-deletes", "1"}, "3 deletes exceed the limit of 1"},
		{"bad output", []string{"plan", dir, "-o", "yaml"}, "use text, json or markdown"},
		{"bad scope", []string{"plan", dir, "--prune", "--managed-scope", "[x"}, "not a valid glob"},
		{"bad desired state", []string{"plan", bad}, "nothing was planned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q, want 1 and %q\n%s", code, errOut, tt.want, out)
			}
		})
	}
	sim := t.TempDir()
	writeFile(t, filepath.Join(sim, "sim.yaml"), "kind: SIMIntegration\nname: SIM\nspec:\n  type: ServiceNow Service Desk\n")
	code, _, errOut := runCLI(t, "plan", sim)
	if code != 1 || !strings.Contains(errOut, "declares 1 SIM integrations") || !strings.Contains(errOut, "--api-version") {
		t.Errorf("SIM on v3: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "plan", sim, "--api-version", "v2024", "--detailed-exitcode")
	if code != 2 || !strings.Contains(out, `+ create SIMIntegration "SIM"`) {
		t.Errorf("SIM on v2024: exit %d: %s %s", code, out, errOut)
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("plan wrote %d times", w)
	}
}

// TestPlanPruneScope: with --prune, only objects sdim-sync owns are deleted (an empty
// ledger owns nothing); with --prune-unowned-by-name, the names inside --managed-scope
// are; the rest stay unmanaged.
func TestPlanPruneScope(t *testing.T) {
	_, dir := planEnv(t)
	data, err := os.ReadFile(filepath.Join(dir, "live.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(data), "---\n")
	// Keep the header, the first integration and the status check.
	writeFile(t, filepath.Join(dir, "live.yaml"), docs[0]+"---\n"+docs[3])
	code, out, errOut := runCLI(t, "plan", dir, "--prune", "--managed-scope", "*00002", "--detailed-exitcode", "--state-dir", t.TempDir())
	if code != 0 || !strings.Contains(out, `"Generated Integration 00002" (id `) || !strings.Contains(out, "(not owned by sdim-sync: not pruned)") ||
		!strings.Contains(out, "0 to delete; 2 unmanaged") {
		t.Fatalf("an empty ledger: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "plan", dir, "--prune", "--prune-unowned-by-name", "--managed-scope", "*00002", "--detailed-exitcode")
	if code != 2 || !strings.Contains(out, `- delete ServiceDeskIntegration "Generated Integration 00002"`) ||
		!strings.Contains(out, "1 to delete; 1 unmanaged") {
		t.Fatalf("exit %d\n%s\n%s\n%s", code, out, errOut, docs[0])
	}
}
