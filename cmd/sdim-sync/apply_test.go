package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// TestApplyCommand: without a terminal apply needs --auto-approve; with it, it applies,
// prints a line per change and a summary, and a second apply has nothing to do.
func TestApplyCommand(t *testing.T) {
	e, dir := planEnv(t)
	t.Setenv("NEW_DESK_PASSWORD", "pw-never-printed")
	writeFile(t, filepath.Join(dir, "new.yaml"), newIntegration)

	e.ResetCounters()
	code, out, errOut := runCLI(t, "apply", dir)
	if code != 1 || !strings.Contains(errOut, "standard input is not a terminal: review the plan and pass --auto-approve") {
		t.Fatalf("without a terminal: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, `+ create ServiceDeskIntegration "Brand New Desk"`) {
		t.Errorf("apply did not show the plan first:\n%s", out)
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("an unconfirmed apply wrote %d times", w)
	}

	code, out, errOut = runCLI(t, "apply", dir, "--auto-approve")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{`ok   create ServiceDeskIntegration "Brand New Desk" (id `,
		"Apply complete: 1 applied, 0 failed, 0 not started", "Read back: the tenant holds what was written."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "pw-never-printed") {
		t.Error("the secret was printed")
	}
	code, out, _ = runCLI(t, "apply", dir, "--auto-approve")
	if code != 0 || !strings.Contains(out, "Nothing to apply.") {
		t.Errorf("second apply: exit %d\n%s", code, out)
	}
}

// TestApplySavedPlan: a saved plan is applied when nothing it touches moved, and refused,
// naming the object, when something did.
func TestApplySavedPlan(t *testing.T) {
	e, dir := planEnv(t)
	t.Setenv("NEW_DESK_PASSWORD", "pw")
	writeFile(t, filepath.Join(dir, "new.yaml"), newIntegration)
	// Drift on a generated integration: a description changed out of band.
	c := cliClient(t)
	live, err := c.Snapshot(t.Context(), tenant.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := live.ServiceDesk[0]
	changed := first
	changed.Description = "edited in the UI"
	if _, err := c.PutServiceDesk(t.Context(), first.ID, changed); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "plan.json")
	// The put of the edited integration clears its apiKey, which the file does not declare:
	// allowed here, and saved with the plan.
	if code, out, errOut := runCLI(t, "plan", dir, "--out", saved, "--allow-secret-clear"); code != 0 {
		t.Fatalf("plan --out: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "apply", "--plan", saved, "--prune", "--auto-approve"); code != 1 ||
		!strings.Contains(errOut, "--prune cannot change a saved plan") {
		t.Errorf("a policy flag with --plan: exit %d: %s", code, errOut)
	}

	// Someone edits the object again after the plan was made: the plan no longer holds.
	changed.Description = "edited twice"
	if _, err := c.PutServiceDesk(t.Context(), first.ID, changed); err != nil {
		t.Fatal(err)
	}
	e.ResetCounters()
	code, out, errOut := runCLI(t, "apply", "--plan", saved, "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "no longer holds, nothing was written") || !strings.Contains(errOut, first.Name) {
		t.Errorf("a stale plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("a refused saved plan wrote %d times", w)
	}

	// Planned again, applied as saved, from another checkout of the same files (as a
	// later CI job would); a checkout with other content is refused.
	if code, _, errOut := runCLI(t, "plan", dir, "--out", saved, "--allow-secret-clear"); code != 0 {
		t.Fatalf("plan --out: exit %d: %s", code, errOut)
	}
	other := copyDir(t, dir)
	writeFile(t, filepath.Join(other, "extra.yaml"), "# a comment changes the content\n")
	e.ResetCounters()
	if code, _, errOut := runCLI(t, "apply", "--plan", saved, other, "--auto-approve"); code != 1 ||
		!strings.Contains(errOut, "made from another desired state than the one in "+other) {
		t.Errorf("other content: exit %d: %s", code, errOut)
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("a refused saved plan wrote %d times", w)
	}
	code, out, errOut = runCLI(t, "apply", "--plan", saved, copyDir(t, dir), "--auto-approve")
	if code != 0 || !strings.Contains(out, "Apply complete: 2 applied") {
		t.Errorf("a fresh saved plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "plan", dir); code != 0 {
		t.Errorf("after the apply the plan still has changes:\n%s", out)
	}
}

// cliClient connects to the tenant planEnv set up, through the same SAIL_* variables.
func cliClient(t *testing.T) *tenant.Client {
	t.Helper()
	s, err := tenant.ConfigFromEnv(os.LookupEnv).Settings(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tenant.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfirm(t *testing.T) {
	tests := []struct {
		tty   bool
		input string
		want  bool
		err   string
	}{
		{tty: true, input: "yes\n", want: true},
		{tty: true, input: "  yes  \n", want: true},
		{tty: true, input: "y\n"},
		{tty: true, input: "YES\n"},
		{tty: true, input: ""},
		{tty: false, input: "yes\n", err: "--auto-approve"},
	}
	for _, tt := range tests {
		var out strings.Builder
		got, err := confirm(t.Context(), strings.NewReader(tt.input), &out, tt.tty, 3, "https://acme.api.identitynow.com")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: got %v, want an error with %q", tt.input, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %v, %v; want %v", tt.input, got, err, tt.want)
		}
		if !strings.Contains(out.String(), "Apply 3 changes to https://acme.api.identitynow.com? Only 'yes' will be accepted") {
			t.Errorf("prompt: %q", out.String())
		}
	}
}

// TestConfirmCancelled: Ctrl-C at the prompt answers no at once, without waiting for a line.
func TestConfirmCancelled(t *testing.T) {
	r, w := io.Pipe() // a reader that never answers
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out strings.Builder
	ok, err := confirm(ctx, r, &out, true, 1, "https://x")
	if ok || err != nil {
		t.Errorf("got %v, %v; want no, without an error", ok, err)
	}
}

// TestApplySavedPlanKeepsReadSettings: what a plan read (--sim) is saved with it and used
// again by apply --plan; the flag itself is refused there.
func TestApplySavedPlanKeepsReadSettings(t *testing.T) {
	_, dir := planEnv(t)
	saved := filepath.Join(t.TempDir(), "plan.json")
	if code, out, errOut := runCLI(t, "plan", dir, "--api-version", "v2025", "--sim", "--out", saved); code != 0 {
		t.Fatalf("plan --sim --out: exit %d\n%s\n%s", code, out, errOut)
	}
	data, err := os.ReadFile(saved)
	if err != nil || !strings.Contains(string(data), `"readSIM": true`) {
		t.Fatalf("the saved plan does not record --sim: %v\n%s", err, data)
	}
	if code, _, errOut := runCLI(t, "apply", "--plan", saved, "--api-version", "v2025", "--sim", "--auto-approve"); code != 1 ||
		!strings.Contains(errOut, "--sim cannot change a saved plan") {
		t.Errorf("--sim with --plan: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCLI(t, "apply", "--plan", saved, "--api-version", "v2025", "--auto-approve"); code != 0 ||
		!strings.Contains(out, "Nothing to apply.") {
		t.Errorf("apply --plan: exit %d\n%s\n%s", code, out, errOut)
	}
}

// copyDir copies the regular files of dir (one level) into a new directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(out, e.Name()), string(data))
	}
	return out
}
