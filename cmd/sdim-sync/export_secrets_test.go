package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

// TestExportNeverWritesReturnedSecrets: the tenant returns values the desired state
// supplies through secret references, under keys that are not secret keys (the
// `authorization: Bearer ${env:...}` of configs/examples/generic.yaml) and under any key
// (found with --desired). No planted value reaches any output of export: the --dir
// files, the --out file, standard output, request logs (-v), warnings and errors on
// standard error; nor the output of a plan of the export, which has no changes.
func TestExportNeverWritesReturnedSecrets(t *testing.T) {
	const (
		token = "planted-7f3a9c-facilities" // FACILITIES_API_TOKEN
		note  = "planted7f3a9cnote"         // PLANTED_NOTE, under a key that looks like nothing
	)
	planted := []string{token, note}
	e, url := startCLITenant(t, 0)
	t.Setenv("SAIL_BASE_URL", url)
	t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
	t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
	t.Setenv("FACILITIES_API_TOKEN", token)
	t.Setenv("SNOW_PASSWORD", "planted-7f3a9c-snow")
	t.Setenv("JIRA_API_TOKEN", "planted-7f3a9c-jira")
	t.Setenv("PLANTED_NOTE", note)
	// What a tenant holds after the examples were applied, as it answers them: the
	// emulator hides password and token, and returns authorization and remarks.
	err := e.Seed(emulator.State{FormatVersion: emulator.StateFormatVersion, ServiceDeskIntegrations: []map[string]any{
		{"name": "Facilities Ticketing", "description": "Badge and desk requests", "type": "Web Service SDIM",
			"attributes": map[string]any{"url": "https://tickets.example/api", "authType": "bearer", "authorization": "Bearer " + token, "priority": 3}},
		{"name": "Extra", "description": "d", "type": "Web Service SDIM",
			"attributes": map[string]any{"url": "https://x", "remarks": "see " + note, "password": "planted-7f3a9c-snow"}},
		{"name": "Spaced ", "description": "d", "type": "Web Service SDIM", // a name export warns about
			"attributes": map[string]any{"url": "https://y", "header": "Bearer " + token}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	generic, err := os.ReadFile("../../configs/examples/generic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := t.TempDir()
	writeFile(t, filepath.Join(want, "generic.yaml"), string(generic))
	writeFile(t, filepath.Join(want, "extra.yaml"), "kind: ServiceDeskIntegration\nname: Extra\nspec:\n  description: d\n  type: Web Service SDIM\n  attributes:\n    url: https://x\n    remarks: see ${env:PLANTED_NOTE}\n")
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, "extra.yaml"), "kind: ServiceDeskIntegration\nname: Extra\nspec:\n  description: d\n  type: Web Service SDIM\n  attributes:\n    remarks: see ${env:PLANTED_NOTE}\n    password: ${env:PLANTED_UNSET}\n  wrong: "+token+"\n")

	base := t.TempDir()
	dir, out := filepath.Join(base, "desired"), filepath.Join(base, "all.yaml")
	var seen []string // every output
	check := func(what string, wantCode int, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, args...)
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s%s", what, code, wantCode, stdout, stderr)
		}
		seen = append(seen, stdout, stderr)
		return stdout, stderr
	}
	_, errOut := check("--dir", 0, "export", "-v", "--dir", dir, "--desired", want)
	if !strings.Contains(errOut, `warning: the name "Spaced "`) || !strings.Contains(errOut, "tenant request") {
		t.Errorf("no warning or request log on stderr:\n%s", errOut)
	}
	check("--out", 0, "export", "-v", "--out", out, "--desired", want)
	stdout, _ := check("stdout", 0, "export", "-v", "--desired", want)
	if !strings.Contains(stdout, "name: Facilities Ticketing") {
		t.Errorf("standard output:\n%s", stdout)
	}
	_, errOut = check("a refused overwrite", 1, "export", "-v", "--dir", dir, "--desired", want)
	if !strings.Contains(errOut, "--force") {
		t.Errorf("stderr:\n%s", errOut)
	}
	writeFile(t, filepath.Join(dir, "service-desk", "gone.yaml"), "# stale\n")
	_, errOut = check("--force", 0, "export", "-v", "--dir", dir, "--force", "--desired", want)
	if !strings.Contains(errOut, "gone.yaml") {
		t.Errorf("no stale-file warning:\n%s", errOut)
	}
	_, errOut = check("a desired state that does not load", 1, "export", "--desired", bad)
	if !strings.Contains(errOut, "--desired "+bad) {
		t.Errorf("stderr:\n%s", errOut)
	}
	files := map[string]string{}
	for _, d := range []string{dir} {
		_ = filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				b, _ := os.ReadFile(p)
				files[p] = string(b)
				seen = append(seen, string(b))
			}
			return err
		})
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, string(b))
	for i, text := range seen {
		for _, p := range planted {
			if strings.Contains(text, p) {
				t.Errorf("output %d holds %s:\n%s", i, p, text)
			}
		}
	}
	fac := files[filepath.Join(dir, "service-desk", "facilities-ticketing.yaml")]
	for _, w := range []string{"#   authorization: Bearer ${env:FACILITIES_TICKETING_AUTHORIZATION}\n", "    - /attributes/authorization\n", "authType: bearer", "priority: 3"} {
		if !strings.Contains(fac, w) {
			t.Errorf("facilities-ticketing.yaml lacks %q:\n%s", w, fac)
		}
	}
	extra := files[filepath.Join(dir, "service-desk", "extra.yaml")]
	if !strings.Contains(extra, "/attributes/remarks (holds a secret value of the desired state)") {
		t.Errorf("extra.yaml:\n%s", extra)
	}
	// Without --desired, a value under a key that looks like nothing is written: that is
	// what --desired is for.
	if _, stdout, _ := runCLI(t, "export", "--target", "Extra"); !strings.Contains(stdout, note) {
		t.Errorf("without --desired, remarks is not written:\n%s", stdout)
	}
	// A plan of the export (without the name the loader refuses) has no changes, and
	// shows no planted value.
	adopted := filepath.Join(base, "adopted")
	check("--dir --target", 0, "export", "--dir", adopted, "--desired", want, "--target", "Facilities*", "--target", "Extra", "--target", "statuscheck/*")
	stdout, errOut = check("plan", 0, "plan", adopted, "--no-color")
	if !strings.Contains(stdout, "No changes") {
		t.Errorf("plan of the export:\n%s%s", stdout, errOut)
	}
	for _, p := range planted {
		if strings.Contains(stdout+errOut, p) {
			t.Errorf("the plan shows %s:\n%s%s", p, stdout, errOut)
		}
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("%d writes", w)
	}
}
