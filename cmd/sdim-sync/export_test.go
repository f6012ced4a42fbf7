package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

func startCLITenant(t *testing.T, n int) (*emulator.Emulator, string) {
	t.Helper()
	e, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Generate(n); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() { srv.Close(); _ = e.Close() })
	return e, srv.URL
}

// TestExport: the connection settings come from the config file, the environment and the
// flags in that order; export reads through a read-only client and writes desired-state
// YAML without server-set fields.
func TestExport(t *testing.T) {
	e, url := startCLITenant(t, 3)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	cfg := filepath.Join(dir, "sdim-sync.yaml")
	if err := os.WriteFile(secretFile, []byte(emulator.DemoClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file names a wrong URL and client; the environment and the flags fix them.
	if err := os.WriteFile(cfg, []byte("tenant:\n  baseURL: https://wrong.example\n  clientID: wrong\n  apiVersion: v2024\n  clientSecretFile: "+secretFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SAIL_BASE_URL", url)
	t.Setenv("SAIL_CLIENT_ID", "wrong-too")
	t.Setenv("SAIL_CLIENT_SECRET", "")
	out := filepath.Join(dir, "live.yaml")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"export", "--config", cfg, "--client-id", emulator.DemoClientID, "--sim", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{"(API v2024)", "kind: ServiceDeskIntegration", "name: Generated Integration 00003",
		"kind: StatusCheckConfiguration", "provisioningStatusCheckIntervalMinutes: 30", "timeout: 30"} {
		if !strings.Contains(text, want) {
			t.Errorf("export lacks %q:\n%s", want, text)
		}
	}
	for _, banned := range []string{"id: \"", "created:", "modified:", "universalManager", "name: \"\"", "\n    name:"} {
		if strings.Contains(text, banned) {
			t.Errorf("export holds %q, a server-set field:\n%s", banned, text)
		}
	}
	if !strings.Contains(stderr.String(), "exported 3 service desk integrations") {
		t.Errorf("stderr: %s", stderr.String())
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("export wrote %d times", w)
	}
}

// TestExportLoadsAsDesiredState: what export writes is a valid desired state that
// describes the same objects.
func TestExportLoadsAsDesiredState(t *testing.T) {
	_, url := startCLITenant(t, 40)
	t.Setenv("SAIL_BASE_URL", url)
	t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
	t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"export", "--api-version", "v2025", "--sim", "--out", filepath.Join(dir, "live.yaml")}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	state, err := desired.Load(dir)
	if err != nil {
		t.Fatalf("the export does not load: %v", err)
	}
	if len(state.ServiceDesk) != 40 || state.StatusCheck == nil {
		t.Errorf("loaded %s", state.Summary())
	}
}

func TestExportSettingErrors(t *testing.T) {
	t.Setenv("SAIL_BASE_URL", "")
	t.Setenv("SAIL_CLIENT_ID", "")
	t.Setenv("SAIL_CLIENT_SECRET", "")
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("tenant:\n  baseUrl: https://x.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"export"}, []string{"SAIL_BASE_URL", "SAIL_CLIENT_ID", "SAIL_CLIENT_SECRET"}},
		{[]string{"export", "--base-url", "x.example", "--client-id", "a", "--client-secret-file", filepath.Join(dir, "none"), "--api-version", "v9"},
			[]string{"want an http or https URL", "client secret file", `unknown API version "v9"`}},
		{[]string{"export", "--config", typo}, []string{"config file " + typo, "baseUrl"}},
		{[]string{"export", "--base-url", "http://127.0.0.1:1", "--client-id", "a", "--client-secret-file", typo, "--max-retries", "0"},
			[]string{"getting an access token from http://127.0.0.1:1/oauth/token"}},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), tt.args, &stdout, &stderr); code != 1 {
			t.Errorf("%v: exit %d", tt.args, code)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tt.args, w, stderr.String())
			}
		}
	}
}

// TestExportKeepsTextLiteral: tenant text that looks like a secret reference, an escape or
// a merge key is exported so that it loads back as the same text, and never resolves
// anything from sdim-sync's own environment.
func TestExportKeepsTextLiteral(t *testing.T) {
	e, url := startCLITenant(t, 0)
	t.Setenv("SAIL_BASE_URL", url)
	t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
	t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
	odd := map[string]any{
		"note":   "${env:SAIL_CLIENT_SECRET}",
		"escape": "$${x} and ${file:secret}",
		"merge":  "<<",
		"url":    "https://t.example.com/${ticket}",
	}
	err := e.Seed(emulator.State{FormatVersion: emulator.StateFormatVersion, ServiceDeskIntegrations: []map[string]any{{
		"name": "Odd ${name}", "description": "uses ${x}", "type": "ServiceNowSDIM", "attributes": odd,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, "export", "--out", filepath.Join(dir, "live.yaml")); code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	state, err := desired.Load(dir, desired.WithLookupEnv(func(k string) (string, bool) {
		t.Errorf("the export made the loader look up %s", k)
		return "", false
	}))
	if err != nil {
		t.Fatalf("the export does not load: %v", err)
	}
	got := state.ServiceDesk[0]
	if got.Name != "Odd ${name}" || got.Spec.Description != "uses ${x}" {
		t.Errorf("name %q, description %q", got.Name, got.Spec.Description)
	}
	for k, want := range odd {
		if v := got.Spec.Attributes[k]; v != want {
			t.Errorf("attributes.%s loads as %#v, want %q", k, v, want)
		}
	}
	// And a plan of it against the tenant it came from has nothing to do.
	if code, out, errOut := runCLI(t, "plan", dir); code != 0 {
		t.Errorf("plan of the export: exit %d\n%s%s", code, out, errOut)
	}
}

// TestExportLeavesOutReturnedSecrets: a tenant that does return a value under a secret key
// does not get it written to a file; a comment names where it was.
func TestExportLeavesOutReturnedSecrets(t *testing.T) {
	e, err := emulator.New(emulator.Config{SecretKeys: []string{"password"}}) // returns apiKey and token
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() { srv.Close(); _ = e.Close() })
	err = e.Seed(emulator.State{FormatVersion: emulator.StateFormatVersion, ServiceDeskIntegrations: []map[string]any{{
		"name": "Leaky", "description": "d", "type": "JiraCloudSDIM",
		"attributes": map[string]any{"url": "https://x", "apiKey": "LIVESECRET1", "auth": map[string]any{"Token": "LIVESECRET2"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SAIL_BASE_URL", srv.URL)
	t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
	t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
	code, out, errOut := runCLI(t, "export")
	if code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	if strings.Contains(out, "LIVESECRET") {
		t.Errorf("the export holds a secret value:\n%s", out)
	}
	if !strings.Contains(out, "# The tenant returned secret values at /attributes/apiKey, /attributes/auth/Token; they are not exported.") {
		t.Errorf("no comment about the secrets left out:\n%s", out)
	}
}

// TestExportDir: the adoption journey's first steps through the CLI: export --dir, plan
// with no changes, a second export refused without --force, --target, and the flag rules.
func TestExportDir(t *testing.T) {
	e, url := startCLITenant(t, 30)
	t.Setenv("SAIL_BASE_URL", url)
	t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
	t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
	dir := filepath.Join(t.TempDir(), "desired")
	code, out, errOut := runCLI(t, "export", "--dir", dir)
	if code != 0 || out != "" || !strings.Contains(errOut, "exported 30 service desk integrations, 0 SIM integrations and the status-check configuration to "+dir) {
		t.Fatalf("export --dir: exit %d\n%s%s", code, out, errOut)
	}
	snow, err := os.ReadFile(filepath.Join(dir, "service-desk", "generated-integration-00007.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(snow), "#   password: ${env:GENERATED_INTEGRATION_00007_PASSWORD}\n") {
		t.Errorf("no secret comment:\n%s", snow)
	}
	if code, out, errOut := runCLI(t, "plan", dir, "--no-color"); code != 0 || !strings.Contains(out, "No changes.") {
		t.Errorf("plan of the export: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "export", "--dir", dir)
	if code != 1 || !strings.Contains(errOut, "would overwrite 31 existing files") || !strings.Contains(errOut, "--force") {
		t.Errorf("a second export: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "export", "--dir", dir, "--force"); code != 0 {
		t.Errorf("--force: exit %d: %s", code, errOut)
	}
	sub := filepath.Join(t.TempDir(), "sub")
	if code, _, errOut := runCLI(t, "export", "--dir", sub, "--target", "*0000[1-3]", "--target", "statuscheck/*"); code != 0 ||
		!strings.Contains(errOut, "exported 3 service desk integrations, 0 SIM integrations and the status-check configuration") {
		t.Errorf("--target: exit %d: %s", code, errOut)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--dir", dir, "--out", "x.yaml"}, "[dir out] were all set"},
		{[]string{"export", "--force"}, "--force only applies to --dir"},
		{[]string{"export", "--target", "sdim/["}, `target "sdim/["`},
		{[]string{"export", "--sim"}, "SIM integrations need API version v2024, v2025 or v1"},
	} {
		if code, _, errOut := runCLI(t, tt.args...); code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr lacks %q:\n%s", tt.args, code, tt.want, errOut)
		}
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("export and plan wrote %d times", w)
	}
}
