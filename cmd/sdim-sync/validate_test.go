package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/desired"
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
		{name: "two directories", args: []string{"validate", bad, bad}, code: 1, stderr: []string{"accepts at most 1 arg"}},
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
