package export_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/export"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

func TestCredentialLooking(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"Bearer planted-7f3a9c", true},
		{"bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", true},
		{"Basic dXNlcjpwYXNzd29yZA==", true},
		{"Basic dXNlcjpwYXNz", true},
		{"token ghp_16C7e42F292c6912E7710c838347Ae178B4a", true},
		{"Authorization: Bearer planted-7f3a9c", true},
		{`{"Authorization": "Bearer planted7f3a9c"}`, true},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n", true},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", true},
		{"-----BEGIN ENCRYPTED PRIVATE KEY-----", true},
		{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIE\n", true},
		{"-----BEGIN", true}, // a label that cannot be read
		// Text that is not a credential.
		{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", false},
		{"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n", false},
		{"Basic authentication", false},
		{"Token based", false},
		{"bearer", false},
		{"Bearer short1", false},
		{"Uses basic auth for the ticket API", false},
		{"https://tickets.example.com/api/v2/token", false},
		{"mybearer planted-7f3a9c", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := export.CredentialLooking(tt.text); got != tt.want {
			t.Errorf("CredentialLooking(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// plantedCase is a tenant's object with planted values, some that must be left out
// (planted) and some that must be written (kept).
type plantedCase struct {
	name    string
	attrs   map[string]any
	desc    string
	script  string
	secrets []sdim.Secret // Options.Secrets
	planted []string      // must appear in no output
	left    []string      // pointers the comment and options.ignore name
	kept    []string      // must be written
}

func plantedCases() []plantedCase {
	return []plantedCase{
		{name: "secret-looking keys, any case and separator",
			attrs: map[string]any{"url": "https://x", "authorization": "Bearer planted-7f3a9c01", "Credential": "planted-7f3a9c02",
				"access_token": "planted-7f3a9c03", "X-Refresh-Token": "kept-1", "client-secret": "planted-7f3a9c04",
				"passphrase": "planted-7f3a9c05", "nested": map[string]any{"PASSWD": "planted-7f3a9c06", "user": "kept-2"},
				"apiToken": 42, "authType": "bearer", "tokenUrl": "kept-3"},
			planted: []string{"planted-7f3a9c0", "\n      apiToken:"},
			left: []string{"/attributes/Credential", "/attributes/access_token", "/attributes/apiToken", "/attributes/authorization",
				"/attributes/client-secret", "/attributes/nested/PASSWD", "/attributes/passphrase"},
			kept: []string{"kept-1", "kept-2", "kept-3", "authType: bearer"}},
		{name: "credential-looking values under any key",
			attrs: map[string]any{"url": "https://x", "header": "Bearer planted-7f3a9c11", "auth": "Basic cGxhbnRlZDpwbGFudGVk",
				"gh": "token planted7f3a9c13", "key": "-----BEGIN PRIVATE KEY-----\nplanted-7f3a9c14\n-----END PRIVATE KEY-----\n",
				"list": []any{"a", "Bearer planted-7f3a9c15"}, "deep": map[string]any{"h": []any{map[string]any{"v": "Bearer planted-7f3a9c16"}}},
				"ca": "-----BEGIN CERTIFICATE-----\nkept-ca\n-----END CERTIFICATE-----\n", "note": "Basic authentication"},
			script:  "var h = \"Bearer planted-7f3a9c17\";",
			planted: []string{"planted-7f3a9c1", "cGxhbnRlZDpwbGFudGVk"},
			left: []string{"/attributes/auth", "/attributes/deep/h", "/attributes/gh", "/attributes/header", "/attributes/key",
				"/attributes/list", "/provisioningConfig/planInitializerScript"},
			kept: []string{"kept-ca", "note: Basic authentication"}},
		{name: "values of the desired state's secrets",
			attrs: map[string]any{"url": "https://x", "note": "planted-7f3a9c21", "header": "X-Auth planted-7f3a9c22!",
				"pin": 73194, "whole": "Bearer planted7f3a9c23", "part": "planted7f3a9c23",
				"planted-7f3a9c24": "a key that is a secret", "short": "ab", "other": "kept-4"},
			desc: "contains planted-7f3a9c21 too",
			secrets: []sdim.Secret{sdim.NewSecret("planted-7f3a9c21", "env:A"), sdim.NewSecret("planted-7f3a9c22", "env:B"),
				sdim.NewSecret("73194", "env:PIN"), sdim.NewSecret("Bearer planted7f3a9c23", "env:C"),
				sdim.NewSecret("planted-7f3a9c24", "env:D"), sdim.NewSecret("a", "env:SHORT")},
			planted: []string{"planted-7f3a9c2", "planted7f3a9c2", "73194"},
			left:    []string{"/attributes/header", "/attributes/note", "/attributes/part", "/attributes/pin", "/attributes/whole", "/description"},
			kept:    []string{"kept-4", "short: ab", "url: https://x"}},
	}
}

// TestSecretsNeverWritten plants values in a tenant's object (the emulator returns every
// attribute that is not on its own secret-key list) and exports it to a directory, a file
// and a stream: no planted value appears in any file, stream or warning; the comment and
// options.ignore name each value left out; the other values are written; the export
// loads, and ignores exactly what was left out.
func TestSecretsNeverWritten(t *testing.T) {
	for _, tc := range plantedCases() {
		t.Run(tc.name, func(t *testing.T) {
			e, c := startTenant(t, 0, nil)
			obj := map[string]any{"name": "Planted", "description": tc.desc, "type": "Web Service SDIM", "attributes": tc.attrs}
			if tc.script != "" {
				obj["provisioningConfig"] = map[string]any{"planInitializerScript": map[string]any{"source": tc.script}}
			}
			if err := e.Seed(emulator.State{ServiceDeskIntegrations: []map[string]any{obj},
				SIMIntegrations: []map[string]any{{"name": "Planted SIM", "description": tc.desc, "type": "ServiceNow Service Desk", "attributes": tc.attrs}}}); err != nil {
				t.Fatal(err)
			}
			var outputs []string
			var warnings []string
			warn := func(s string) { warnings = append(warnings, s) }
			dir := filepath.Join(t.TempDir(), "d")
			out := filepath.Join(t.TempDir(), "all.yaml")
			var stream bytes.Buffer
			for _, o := range []export.Options{{Dir: dir}, {Out: out}, {W: &stream}} {
				o.SIM, o.Secrets, o.Warn = true, tc.secrets, warn
				if _, err := export.Run(t.Context(), c, o); err != nil {
					t.Fatalf("%+v: %v", o, err)
				}
			}
			files := tree(t, dir)
			for _, f := range files {
				outputs = append(outputs, f)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			outputs = append(outputs, string(b), stream.String(), strings.Join(warnings, "\n"))
			for _, text := range outputs {
				for _, p := range tc.planted {
					if strings.Contains(text, p) {
						t.Errorf("%q written:\n%s", p, text)
					}
				}
			}
			sd := files["service-desk/planted.yaml"]
			for _, k := range tc.kept {
				if !strings.Contains(sd, k) {
					t.Errorf("%q not written:\n%s", k, sd)
				}
			}
			for _, p := range tc.left {
				if !strings.Contains(sd, "- "+p+"\n") || !strings.Contains(strings.SplitN(sd, "kind:", 2)[0], p) {
					t.Errorf("%s not in the comment and options.ignore:\n%s", p, sd)
				}
			}
			st, err := desired.Load(dir)
			if err != nil {
				t.Fatalf("the export does not load: %v", err)
			}
			var ignore []string
			for _, r := range st.ServiceDesk {
				ignore = r.Options.Ignore
			}
			if !slices.Equal(ignore, tc.left) {
				t.Errorf("options.ignore %q, want %q", ignore, tc.left)
			}
		})
	}
}
