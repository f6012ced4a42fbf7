package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/planner"
)

// editExport changes the exported desired file: the description of integration 00001
// (a JiraCloudSDIM, whose template declares the secret apiKey), and extra lines after its
// attributes' first line and at the end of its document.
func editExport(t *testing.T, dir, attrs, options string) {
	t.Helper()
	path := filepath.Join(dir, "live.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "description: Generated Atlassian Cloud", "description: Edited Atlassian Cloud", 1)
	if attrs != "" {
		s = strings.Replace(s, "    timeout: 30\n", "    timeout: 30\n"+attrs, 1)
	}
	if options != "" {
		s = strings.Replace(s, "\n---\n", "\n"+options+"---\n", 1)
	}
	writeFile(t, path, s)
}

// TestPlanBlocksSecretClear: a put that would clear the apiKey the template declares is a
// blocked plan (exit 1, naming object and key) and a refused apply with no write, unless
// the file declares the key, or --allow-secret-clear or options.allowSecretClear allows it.
func TestPlanBlocksSecretClear(t *testing.T) {
	e, dir := planEnv(t)
	editExport(t, dir, "", "")
	code, out, errOut := runCLI(t, "plan", dir)
	if code != 1 || !strings.Contains(out, "This plan is blocked") ||
		!strings.Contains(errOut, `ServiceDeskIntegration "Generated Integration 00001" (live.yaml:`) ||
		!strings.Contains(errOut, "would clear the secret attributes.apiKey") || !strings.Contains(errOut, "--allow-secret-clear") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "apply", dir, "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "nothing was written") || !strings.Contains(errOut, "attributes.apiKey") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Fatalf("a refused apply wrote %d times", w)
	}

	// The override, saved with the plan; apply --plan takes it from there.
	saved := filepath.Join(t.TempDir(), "plan.json")
	if code, out, errOut := runCLI(t, "plan", dir, "--allow-secret-clear", "--out", saved); code != 0 || !strings.Contains(out, "allowed by --allow-secret-clear") {
		t.Fatalf("plan --allow-secret-clear: exit %d\n%s\n%s", code, out, errOut)
	}
	f, err := os.Open(saved)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := planner.ReadSaved(f)
	f.Close()
	if err != nil || !sp.Policy.AllowSecretClear {
		t.Fatalf("the saved plan does not record the override: %+v %v", sp, err)
	}
	if code, _, errOut := runCLI(t, "apply", "--plan", saved, "--allow-secret-clear", "--auto-approve"); code != 1 || !strings.Contains(errOut, "--allow-secret-clear cannot change a saved plan") {
		t.Errorf("apply --plan with the flag: exit %d: %s", code, errOut)
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Fatalf("wrote %d times", w)
	}

	for _, tc := range []struct{ name, attrs, options string }{
		{"declared as a reference", "    apiKey: ${env:JIRA_API_KEY}\n", ""},
		{"the option, for the key", "", "options:\n  allowSecretClear: [apiKey]\n"},
		{"the option, for every key", "", "options: {allowSecretClear: true}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir := planEnv(t)
			t.Setenv("JIRA_API_KEY", "k")
			editExport(t, dir, tc.attrs, tc.options)
			if code, out, errOut := runCLI(t, "plan", dir); code != 0 || strings.Contains(out, "blocked") {
				t.Errorf("exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
	// And the apply with the flag writes.
	e.ResetCounters()
	if code, out, errOut := runCLI(t, "apply", dir, "--allow-secret-clear", "--auto-approve"); code != 0 || e.Counters().TotalWrites() != 1 {
		t.Errorf("apply --allow-secret-clear: exit %d, %d writes\n%s\n%s", code, e.Counters().TotalWrites(), out, errOut)
	}
}

// TestApplyPushSecrets: plan --push-secrets shows a put of each integration that declares
// a secret, masked; apply --push-secrets --target sends only the targeted one; an observe
// object is never written.
func TestApplyPushSecrets(t *testing.T) {
	e, dir := planEnv(t)
	t.Setenv("JIRA_API_KEY", "rotated-key-never-shown")
	t.Setenv("JIRA_PASSWORD", "rotated-password-never-shown")
	path := filepath.Join(dir, "live.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(data), "\n---\n")
	docs[0] = strings.Replace(docs[0], "    timeout: 30\n", "    timeout: 30\n    apiKey: ${env:JIRA_API_KEY}\n", 1)
	docs[1] = strings.Replace(docs[1], "    timeout: 30\n", "    timeout: 30\n    password: ${env:JIRA_PASSWORD}\n", 1) + "\noptions: {mode: observe}"
	writeFile(t, path, strings.Join(docs, "\n---\n")+"\n")

	code, out, errOut := runCLI(t, "plan", dir)
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "plan", dir, "--push-secrets")
	if code != 0 || !strings.Contains(out, `~ push secrets ServiceDeskIntegration "Generated Integration 00001"`) ||
		!strings.Contains(out, "pushes the secret /attributes/apiKey = (sensitive: env:JIRA_API_KEY)") ||
		!strings.Contains(out, `~ push secrets ServiceDeskIntegration "Generated Integration 00002"`) || !strings.Contains(out, "[observe only: not applied]") {
		t.Fatalf("plan --push-secrets: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "apply", dir, "--push-secrets", "--target", "sdim/*00002", "--auto-approve")
	if code != 0 || !strings.Contains(out, "Nothing to apply.") || e.Counters().TotalWrites() != 0 {
		t.Fatalf("an observe object: exit %d, %d writes\n%s\n%s", code, e.Counters().TotalWrites(), out, errOut)
	}
	code, out, errOut = runCLI(t, "apply", dir, "--push-secrets", "--target", "Generated Integration 0000[13]", "--auto-approve")
	if code != 0 || !strings.Contains(out, `ok   put    ServiceDeskIntegration "Generated Integration 00001"`) ||
		!strings.Contains(out, "Read back: the tenant holds what was written.") {
		t.Fatalf("apply --push-secrets: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := e.Counters().Writes; e.Counters().TotalWrites() != 1 || len(w) != 1 {
		t.Errorf("writes %v, want one PUT", w)
	}
	if strings.Contains(out+errOut, "never-shown") {
		t.Error("a secret was printed")
	}
}

// TestPlanTarget: --target plans only the matching objects and says so, in text and
// JSON; a saved plan records the targets and apply --plan refuses the flag.
func TestPlanTarget(t *testing.T) {
	_, dir := planEnv(t)
	data, err := os.ReadFile(filepath.Join(dir, "live.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "live.yaml"), strings.ReplaceAll(string(data), "provisioningRequestExpiration: 7", "provisioningRequestExpiration: 8"))
	code, out, errOut := runCLI(t, "plan", dir, "--target", "sdim/*00002", "--target", "Nothing*", "--allow-secret-clear")
	if code != 0 || !strings.HasPrefix(out, `Targeted: only objects matching "sdim/*00002", "Nothing*" were planned`) ||
		!strings.Contains(out, `"Generated Integration 00002"`) || strings.Contains(out, `"Generated Integration 00001"`) ||
		!strings.Contains(out, "1 to update") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "plan", dir, "--target", "*00001", "--allow-secret-clear", "-o", "json")
	var p struct {
		Targets []string `json:"targets"`
		Changes []struct {
			Name string `json:"name"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 0 || len(p.Targets) != 1 || len(p.Changes) != 1 || p.Changes[0].Name != "Generated Integration 00001" {
		t.Fatalf("json: exit %d %v\n%s", code, err, out)
	}
	if code, _, errOut := runCLI(t, "plan", dir, "--target", "sdim/[x"); code != 1 || !strings.Contains(errOut, `target "sdim/[x": not a valid glob`) {
		t.Errorf("bad glob: exit %d: %s", code, errOut)
	}
	saved := filepath.Join(t.TempDir(), "plan.json")
	if code, _, errOut := runCLI(t, "plan", dir, "--target", "*00003", "--allow-secret-clear", "--out", saved); code != 0 {
		t.Fatalf("--out: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "apply", "--plan", saved, "--target", "*", "--auto-approve"); code != 1 || !strings.Contains(errOut, "--target cannot change a saved plan") {
		t.Errorf("apply --plan --target: exit %d: %s", code, errOut)
	}
	code, out, errOut = runCLI(t, "apply", "--plan", saved, "--auto-approve")
	if code != 0 || !strings.HasPrefix(out, `Targeted: only objects matching "*00003"`) || !strings.Contains(out, "Apply complete: 1 applied") {
		t.Errorf("apply --plan: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestPlanFileAndAbsent: DIR may be a single file; a document with state: absent deletes
// its object without --prune, counted against --max-deletes.
func TestPlanFileAndAbsent(t *testing.T) {
	e, _ := planEnv(t)
	dir := t.TempDir()
	gone := filepath.Join(dir, "gone.yaml")
	writeFile(t, gone, "kind: ServiceDeskIntegration\nname: Generated Integration 00003\nstate: absent\n---\nkind: ServiceDeskIntegration\nname: Never Existed\nstate: absent\n")
	code, out, errOut := runCLI(t, "plan", gone)
	if code != 0 || !strings.Contains(out, `- delete ServiceDeskIntegration "Generated Integration 00003" (id `) ||
		!strings.Contains(out, "declared absent at gone.yaml:1:1") || !strings.Contains(out, "1 to delete; 2 unmanaged") {
		t.Fatalf("plan FILE: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "plan", dir, "--max-deletes", "0")
	if code != 1 || !strings.Contains(errOut, "1 delete exceeds the limit of 0") {
		t.Fatalf("limit: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "apply", dir, "--auto-approve")
	if code != 0 || !strings.Contains(out, `ok   delete ServiceDeskIntegration "Generated Integration 00003"`) || e.Counters().TotalWrites() != 1 {
		t.Fatalf("apply: exit %d, %d writes\n%s\n%s", code, e.Counters().TotalWrites(), out, errOut)
	}
	if code, out, _ := runCLI(t, "plan", dir); code != 0 || !strings.Contains(out, "No changes.") || !strings.Contains(out, "2 unmanaged") {
		t.Errorf("after the delete: exit %d\n%s", code, out)
	}
	writeFile(t, filepath.Join(dir, "bad.yaml"), "kind: StatusCheckConfiguration\nstate: absent\n")
	if code, _, errOut := runCLI(t, "plan", dir); code != 1 || !strings.Contains(errOut, "bad.yaml:1:7: state: absent: the StatusCheckConfiguration cannot be deleted") {
		t.Errorf("absent status check: exit %d: %s", code, errOut)
	}
}

// TestPlanEmptyDirectoryWarns: as validate does; and the Markdown heading names tenant
// and directory.
func TestPlanEmptyDirectoryWarns(t *testing.T) {
	planEnv(t)
	empty := t.TempDir()
	code, out, errOut := runCLI(t, "plan", empty, "-o", "markdown")
	if code != 0 || !strings.Contains(errOut, "warning: no *.yaml or *.yml files in "+empty) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if want := "## sdim-sync plan for `" + os.Getenv("SAIL_BASE_URL") + "` from `" + empty + "`\n"; !strings.HasPrefix(out, want) {
		t.Errorf("heading: want %q\n%s", want, out)
	}
	if code, _, errOut := runCLI(t, "plan", filepath.Join(empty, "missing")); code != 1 || !strings.Contains(errOut, "no such file or directory") {
		t.Errorf("missing: exit %d: %s", code, errOut)
	}
}

// TestApplyFailureIsOneLine: each failed change is one line of the output (stdout and
// stderr together), without the object named twice over.
func TestApplyFailureIsOneLine(t *testing.T) {
	_, dir := planEnv(t)
	data, err := os.ReadFile(filepath.Join(dir, "live.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "live.yaml"), strings.Replace(string(data), "description: Generated", "description: Edited", 2))
	// The tenant refuses PATCH of /description (403), and the PUT in its place would
	// clear a secret: both changes fail.
	code, out, errOut := runCLI(t, "apply", dir, "--auto-approve", "--patchable-fields", "/description")
	if code != 1 || !strings.Contains(out, "Apply incomplete: 0 applied, 2 failed") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, name := range []string{"Generated Integration 00001", "Generated Integration 00002"} {
		var lines []string
		for _, l := range strings.Split(out+errOut, "\n") {
			// "403 Forbidden", not "403": a random object id holds "403" now and then.
			if strings.Contains(l, "403 Forbidden") && strings.Contains(l, name) || strings.Contains(l, "FAIL") && strings.Contains(l, name) {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.HasPrefix(lines[0], `FAIL patch  ServiceDeskIntegration "`+name+`"`) ||
			strings.Count(lines[0], name) != 1 || !strings.Contains(lines[0], "403 Forbidden") {
			t.Errorf("%s: %d lines:\n%s", name, len(lines), strings.Join(lines, "\n"))
		}
	}
	if strings.Contains(errOut, "change failed") {
		t.Errorf("the failure is logged too:\n%s", errOut)
	}
}
