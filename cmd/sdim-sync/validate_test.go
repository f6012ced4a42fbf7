package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

const examplesDir = "../../configs/examples"

func setExampleSecrets(t *testing.T) map[string]string {
	secrets := map[string]string{
		"SNOW_PASSWORD":        "snow-pw-5f1c0e77",
		"JIRA_API_TOKEN":       "jira-token-9a3b22d1",
		"FACILITIES_API_TOKEN": "facilities-token-c4e8f019",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	return secrets
}

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestValidate(t *testing.T) {
	secrets := setExampleSecrets(t)
	bad := writeDir(t, map[string]string{
		"a.yaml": "kind: ServiceDeskIntegration\nname: A\nspec:\n  type: T\n  descripton: x\n  attributes: {password: \"${env:SNOW_PASSWORD}\"}\n",
		"b.yaml": "kind: ServiceDeskIntegration\nname: A\nspec:\n  type: T\n  description: ${env:JIRA_API_TOKEN}\n  attributes:\n    token: ${env:UNSET_FOR_TEST}\n",
	})
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     []string
		noStderrOK bool
	}{
		{name: "examples", args: []string{"validate", examplesDir}, code: 0,
			stdout: "OK: 3 service desk integrations, 1 status check configuration, 0 SIM integrations in 4 files\n", noStderrOK: true},
		{name: "every problem", args: []string{"validate", bad}, code: 1, stderr: []string{
			"is invalid: 4 problems\n",
			`a.yaml:5:3: spec: unknown key "descripton"; did you mean "description"?`,
			`b.yaml:1:1: duplicate ServiceDeskIntegration name "A": also declared at a.yaml:1:1`,
			"b.yaml:5:16: spec.description: the secret reference ${env:JIRA_API_TOKEN} is allowed only in attributes",
			"b.yaml:7:12: spec.attributes.token: ${env:UNSET_FOR_TEST}: the environment variable UNSET_FOR_TEST is not set",
		}},
		{name: "empty directory", args: []string{"validate", t.TempDir()}, code: 0,
			stdout: "OK: 0 service desk integrations, 0 status check configurations, 0 SIM integrations in 0 files\n",
			stderr: []string{"warning: no *.yaml or *.yml files in"}},
		{name: "missing directory", args: []string{"validate", filepath.Join(bad, "nope")}, code: 1,
			stderr: []string{"Error: desired state directory: ", "no such file or directory"}},
		{name: "two directories", args: []string{"validate", bad, bad}, code: 1, stderr: []string{"sdim-sync validate takes at most one argument, [DIR]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut.String())
			}
			if tc.stdout != "" || tc.code != 0 {
				if out.String() != tc.stdout {
					t.Errorf("stdout %q, want %q", out.String(), tc.stdout)
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
				}
			}
			if tc.noStderrOK && errOut.Len() > 0 {
				t.Errorf("stderr: %s", errOut.String())
			}
			if strings.Contains(errOut.String(), "Error: exit") {
				t.Errorf("an empty exit error was printed: %s", errOut.String())
			}
			for name, v := range secrets {
				if strings.Contains(out.String()+errOut.String(), v) {
					t.Errorf("the value of %s was printed", name)
				}
			}
		})
	}
}

func TestValidateSecretFilesOutside(t *testing.T) {
	outside := t.TempDir()
	pw := filepath.Join(outside, "pw")
	if err := os.WriteFile(pw, []byte("outside-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := writeDir(t, map[string]string{"a.yaml": "kind: ServiceDeskIntegration\nname: A\nspec:\n  type: T\n  attributes:\n    password: ${file:" + filepath.ToSlash(pw) + "}\n"})
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"validate", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "outside the desired directory") {
		t.Errorf("exit %d, stderr %s", code, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"validate", "--allow-secret-files-outside", dir}, &out, &errOut); code != 0 {
		t.Errorf("with the flag: exit %d, stderr %s", code, errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), "outside-secret-value") {
		t.Error("the secret was printed")
	}
}

func TestSchemaCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"schema"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !bytes.Equal(out.Bytes(), desired.Schema()) || !json.Valid(out.Bytes()) {
		t.Errorf("schema printed %d bytes that are not the schema", out.Len())
	}
	file := filepath.Join(t.TempDir(), "schema.json")
	out.Reset()
	if code := run(context.Background(), []string{"schema", "--out", file}, &out, &errOut); code != 0 || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q: %s", code, out.String(), errOut.String())
	}
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, desired.Schema()) {
		t.Errorf("--out wrote %d bytes, %v", len(got), err)
	}
	if code := run(context.Background(), []string{"schema", "--out", filepath.Join(file, "x")}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "write the schema") {
		t.Errorf("unwritable --out: exit %d, %s", code, errOut.String())
	}
}

// validateJSON runs validate -o json and decodes its report.
func validateJSON(t *testing.T, args ...string) (int, validateReport, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"validate", "-o", "json"}, args...), &out, &errOut)
	var rep validateReport
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, out.String())
	}
	return code, rep, errOut.String()
}

// TestValidateJSON: the report's fields for a valid directory, an invalid one and a
// missing one; the fields always present are the contract of docs/cli.md.
func TestValidateJSON(t *testing.T) {
	secrets := setExampleSecrets(t)
	code, rep, errOut := validateJSON(t, examplesDir)
	if code != 0 || !rep.OK || rep.FormatVersion != 1 || rep.Dir != examplesDir || rep.Online != nil ||
		rep.Counts != (validateCounts{Files: 4, ServiceDeskIntegrations: 3, StatusCheckConfigurations: 1}) ||
		len(rep.Problems) != 0 || rep.Problems == nil || rep.Warnings == nil || errOut != "" {
		t.Errorf("examples: exit %d, %+v, stderr %q", code, rep, errOut)
	}

	bad := writeDir(t, map[string]string{"a.yaml": "kind: ServiceDeskIntegration\nname: A\nspec:\n  type: T\n  descripton: x\n  attributes: {}\n"})
	code, rep, _ = validateJSON(t, bad)
	want := validateProblem{File: "a.yaml", Line: 5, Column: 3, Message: `spec: unknown key "descripton"; did you mean "description"?`}
	if code != 1 || rep.OK || len(rep.Problems) != 1 || rep.Problems[0] != want {
		t.Errorf("bad: exit %d, %+v", code, rep)
	}

	code, rep, _ = validateJSON(t, filepath.Join(bad, "nope"))
	if code != 1 || rep.OK || !strings.Contains(rep.Error, "no such file or directory") {
		t.Errorf("missing: exit %d, %+v", code, rep)
	}

	code, rep, _ = validateJSON(t, t.TempDir())
	if code != 0 || !rep.OK || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0].Message, "no *.yaml or *.yml files") {
		t.Errorf("empty: exit %d, %+v", code, rep)
	}

	var raw map[string]any
	var out bytes.Buffer
	run(context.Background(), []string{"validate", "-o", "json", examplesDir}, &out, &bytes.Buffer{})
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"formatVersion", "ok", "dir", "counts", "online", "problems", "warnings"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("the report lacks %q: %s", k, out.String())
		}
	}
	for name, v := range secrets {
		if strings.Contains(out.String(), v) {
			t.Errorf("the value of %s was printed", name)
		}
	}
	if code, _, errOut := cli(t, "validate", "-o", "yaml", examplesDir); code != 1 || !strings.Contains(errOut, `--output "yaml": use text or json`) {
		t.Errorf("-o yaml: exit %d, %s", code, errOut)
	}
}

// TestValidateSecretKeys: --secret-keys names the keys whose values are secrets, as for
// plan; a secret written in a file rather than referenced is a warning (exit 0), and its
// value is never printed.
func TestValidateSecretKeys(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.yaml": "kind: ServiceDeskIntegration\nname: A\nspec:\n  type: T\n  attributes:\n    url: x\n    pin: literal-pin-value\n    password: literal-password-value\n"})
	code, out, errOut := cli(t, "validate", dir)
	if code != 0 || !strings.Contains(errOut, "warning: a.yaml:8:5: spec.attributes.password: a secret written in the file") ||
		strings.Contains(errOut, "spec.attributes.pin") || !strings.HasPrefix(out, "OK: ") {
		t.Errorf("default keys: exit %d, %s%s", code, out, errOut)
	}
	code, _, errOut = cli(t, "validate", "--secret-keys", "pin", dir)
	if code != 0 || !strings.Contains(errOut, "warning: a.yaml:7:5: spec.attributes.pin: a secret written in the file") ||
		strings.Contains(errOut, "spec.attributes.password") {
		t.Errorf("--secret-keys pin: exit %d, %s", code, errOut)
	}
	code, rep, _ := validateJSON(t, "--secret-keys", "pin,password", dir)
	if code != 0 || !rep.OK || len(rep.Warnings) != 2 || rep.Warnings[0].Line != 7 || rep.Warnings[1].Line != 8 {
		t.Errorf("json: exit %d, %+v", code, rep)
	}
	all := errOut + fmt.Sprint(rep)
	if strings.Contains(all, "literal-pin-value") || strings.Contains(all, "literal-password-value") {
		t.Errorf("a secret was printed: %s", all)
	}
}

// startValidateTenant is an emulated tenant reached through the SAIL_* environment.
func startValidateTenant(t *testing.T) (*emulator.Emulator, string) {
	t.Helper()
	e, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() { srv.Close(); _ = e.Close() })
	t.Setenv("SAIL_BASE_URL", srv.URL)
	t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
	t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
	return e, srv.URL
}

// TestValidateOnline: against the emulated tenant, an unknown type is a problem at the
// line of spec.type with the nearest type, a near miss of a template's attribute is a
// warning, and nothing is written.
func TestValidateOnline(t *testing.T) {
	e, url := startValidateTenant(t)
	dir := writeDir(t, map[string]string{
		"good.yaml": "kind: ServiceDeskIntegration\nname: Good\nspec:\n  type: ServiceNowSDIM\n  attributes:\n    url: https://a.example\n    usrname: svc\n",
		"typo.yaml": "kind: ServiceDeskIntegration\nname: Typo\nspec:\n  description: x\n  type: ServiceNowSDM\n  attributes: {url: https://b.example}\n",
		"multi.yaml": "kind: StatusCheckConfiguration\nspec:\n  provisioningStatusCheckIntervalMinutes: 30\n  provisioningMaxStatusCheckDays: 2\n---\n" +
			"kind: ServiceDeskIntegration\nname: Unknown\nspec:\n  type: Carrier Pigeon\n  attributes: {}\n",
	})
	e.ResetCounters()
	code, out, errOut := cli(t, "validate", "--online", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, w := range []string{
		"does not fit the tenant: 2 problems\n",
		`multi.yaml:9:9: spec.type: "Carrier Pigeon" is not a service desk integration type the tenant offers (it offers "BMCHelixITSMSDIM", `,
		`typo.yaml:5:9: spec.type: "ServiceNowSDM" is not a service desk integration type the tenant offers; did you mean "ServiceNowSDIM"?`,
		`warning: good.yaml:7:5: spec.attributes.usrname: the template of ServiceNowSDIM lists no "usrname"; did you mean "username"?`,
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if out != "" {
		t.Errorf("stdout %q", out)
	}
	if c := e.Counters(); len(c.Writes) != 0 || c.Committed != 0 {
		t.Errorf("validate wrote to the tenant: %+v", c.Writes)
	}

	code, rep, _ := validateJSON(t, "--online", dir)
	if code != 1 || rep.OK || rep.Online == nil || rep.Online.BaseURL != url || rep.Online.APIVersion != "v3" || rep.Online.Types != 7 ||
		len(rep.Problems) != 2 || rep.Problems[1] != (validateProblem{File: "typo.yaml", Line: 5, Column: 9,
		Message: `spec.type: "ServiceNowSDM" is not a service desk integration type the tenant offers; did you mean "ServiceNowSDIM"?`}) ||
		len(rep.Warnings) != 1 || rep.Warnings[0].File != "good.yaml" || rep.Warnings[0].Line != 7 {
		t.Errorf("json: exit %d, %+v", code, rep)
	}

	good := writeDir(t, map[string]string{"good.yaml": "kind: ServiceDeskIntegration\nname: Good\nspec:\n  type: ZendeskSDIM\n  attributes: {url: https://z.example}\n"})
	for _, v := range []string{"v3", "v2024", "v2025", "v1"} {
		code, out, errOut = cli(t, "validate", "--online", "--api-version", v, good)
		if code != 0 || out != "OK: 1 service desk integration, 0 status check configurations, 0 SIM integrations in 1 file\nOK online: every type is one of the 7 types "+url+" offers\n" {
			t.Errorf("%s: exit %d, stdout %q, stderr %s", v, code, out, errOut)
		}
	}

	// The tenant cannot be reached: an error, exit 1, in either output.
	t.Setenv("SAIL_BASE_URL", url+"/v3")
	code, _, errOut = cli(t, "validate", "--online", good)
	if code != 1 || !strings.Contains(errOut, "the base URL must be the API root without a path") {
		t.Errorf("bad URL: exit %d, %s", code, errOut)
	}
	code, rep, _ = validateJSON(t, "--online", good)
	if code != 1 || rep.OK || !strings.Contains(rep.Error, "the base URL must be the API root") {
		t.Errorf("bad URL, json: exit %d, %+v", code, rep)
	}
	if c := e.Counters(); len(c.Writes) != 0 {
		t.Errorf("validate wrote to the tenant: %+v", c.Writes)
	}
}
