package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdoptThenPrune: adopt --dry-run prints and writes nothing; adopt records the
// declared objects; a plan with --prune then deletes an adopted object no file declares
// any more, and nothing else.
func TestAdoptThenPrune(t *testing.T) {
	_, dir := planEnv(t)
	state := t.TempDir()
	code, out, errOut := runCLI(t, "adopt", dir, "--dry-run", "--state-dir", state)
	if code != 0 || !strings.Contains(out, `would adopt ServiceDeskIntegration "Generated Integration 00002"`) || !strings.Contains(out, "Dry run: nothing written") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	if files, _ := filepath.Glob(filepath.Join(state, "*")); len(files) != 0 {
		t.Fatalf("a dry run wrote %v", files)
	}
	code, out, errOut = runCLI(t, "adopt", dir, "--state-dir", state)
	if code != 0 || !strings.Contains(out, `adopted ServiceDeskIntegration "Generated Integration 00002" (id `) {
		t.Fatalf("adopt: exit %d\n%s\n%s", code, out, errOut)
	}
	data, err := os.ReadFile(filepath.Join(dir, "live.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(data), "---\n")
	writeFile(t, filepath.Join(dir, "live.yaml"), docs[0]+"---\n"+docs[1]+"---\n"+docs[3])
	code, out, errOut = runCLI(t, "plan", dir, "--prune", "--state-dir", state)
	if code != 0 || !strings.Contains(out, `- delete ServiceDeskIntegration "Generated Integration 0000`) || !strings.Contains(out, ", pending)") ||
		!strings.Contains(out, "1 to delete; 0 unmanaged") {
		t.Fatalf("prune after adopt: exit %d\n%s\n%s", code, out, errOut)
	}
}
