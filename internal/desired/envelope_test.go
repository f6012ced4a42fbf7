package desired

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// TestLoadSingleFile: a regular file loads alone, of any name; ${file:...} resolves from
// its directory, which is also the boundary.
func TestLoadSingleFile(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"one.yaml":         "kind: ServiceDeskIntegration\nname: One\nspec: {type: T, attributes: {password: '${file:secrets/pw}'}}\n",
		"two.yaml":         "kind: ServiceDeskIntegration\nname: Two\nspec: {type: T, attributes: {}}\n",
		"secrets/pw":       "hunter2\n",
		"desk.conf":        "kind: SIMIntegration\nname: S\nspec: {type: T}\n",
		"sub/escape.yaml":  "kind: ServiceDeskIntegration\nname: E\nspec: {type: T, attributes: {password: '${file:../outside}'}}\n",
		"outside":          "x\n",
		"sub/broken.yaml":  "kind: ServiceDeskIntegration\nname: B\nspec: {type: T, attributes: {}, bad: 1}\n",
		"sub/another.yaml": "kind: ServiceDeskIntegration\nname: A\nspec: {type: T, attributes: {}}\n",
	})
	st := mustLoad(t, filepath.Join(dir, "one.yaml"))
	if st.Files != 1 || len(st.ServiceDesk) != 1 || st.ServiceDesk[0].Name != "One" || !slices.Equal(st.Paths, []string{"one.yaml"}) ||
		st.ServiceDesk[0].Source.String() != "one.yaml:1:1" || st.Dir != filepath.Join(dir, "one.yaml") {
		t.Fatalf("one file: %+v", st)
	}
	if s, ok := st.ServiceDesk[0].Spec.Attributes["password"].(sdim.Secret); !ok || !s.Equal(sdim.NewSecret("hunter2", "")) {
		t.Errorf("the secret file did not resolve from the file's directory")
	}
	if st := mustLoad(t, filepath.Join(dir, "desk.conf")); len(st.SIM) != 1 {
		t.Errorf("a file named explicitly, of another extension: %+v", st)
	}
	got := loadProblems(t, filepath.Join(dir, "sub", "escape.yaml"))
	if len(got) != 1 || !strings.HasPrefix(got[0], "escape.yaml:3:") || !strings.Contains(got[0], "outside the desired directory") {
		t.Errorf("the boundary is the file's directory: %q", got)
	}
	got = loadProblems(t, filepath.Join(dir, "sub", "broken.yaml"))
	if len(got) != 1 || !strings.HasPrefix(got[0], "broken.yaml:3:") {
		t.Errorf("problems name the file: %q", got)
	}
	// The same file loads to the same digest wherever it is.
	other := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, "two.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "two.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if a, b := mustLoad(t, filepath.Join(dir, "two.yaml")).Digest, mustLoad(t, filepath.Join(other, "two.yaml")).Digest; a != b {
		t.Errorf("digests differ: %s, %s", a, b)
	}
}

// TestLoadAbsent: state: absent declares an object to delete: kind and name only.
func TestLoadAbsent(t *testing.T) {
	st := mustLoad(t, writeTree(t, map[string]string{"gone.yaml": `kind: ServiceDeskIntegration
name: Old Desk
state: absent
---
kind: SIMIntegration
name: Old SIM
state: absent
---
kind: ServiceDeskIntegration
name: Kept
state: present
spec: {type: T, attributes: {}}
`}))
	want := []Resource{
		{Kind: sdim.KindServiceDesk, Name: "Old Desk", Source: Source{File: "gone.yaml", Line: 1, Column: 1}},
		{Kind: sdim.KindSIM, Name: "Old SIM", Source: Source{File: "gone.yaml", Line: 5, Column: 1}},
	}
	if !slices.EqualFunc(st.Absent, want, func(a, b Resource) bool {
		return a.Kind == b.Kind && a.Name == b.Name && a.Source == b.Source
	}) || len(st.ServiceDesk) != 1 || st.ServiceDesk[0].Name != "Kept" {
		t.Fatalf("absent %+v, present %+v", st.Absent, st.ServiceDesk)
	}
	if !strings.Contains(st.Summary(), "2 objects declared absent") {
		t.Errorf("summary: %s", st.Summary())
	}

	const sd = "kind: ServiceDeskIntegration\nname: X\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"spec with absent", map[string]string{"a.yaml": sd + "state: absent\nspec: {type: T, attributes: {}}\n"},
			[]string{"a.yaml:4:1: document: spec is not allowed with state: absent"}},
		{"options with absent", map[string]string{"a.yaml": sd + "state: absent\noptions: {mode: observe}\n"},
			[]string{"a.yaml:4:1: document: options are not allowed with state: absent"}},
		{"status check absent", map[string]string{"a.yaml": "kind: StatusCheckConfiguration\nstate: absent\n"},
			[]string{"a.yaml:1:7: state: absent: the StatusCheckConfiguration cannot be deleted"}},
		{"no name", map[string]string{"a.yaml": "kind: SIMIntegration\nstate: absent\n"},
			[]string{"a.yaml:1:1: name is required: the name of the SIMIntegration to delete"}},
		{"no kind", map[string]string{"a.yaml": "name: X\nstate: absent\n"}, []string{"a.yaml:1:1: kind is required"}},
		{"kind typo", map[string]string{"a.yaml": "kind: ServiceDeskIntegraton\nname: X\nstate: absent\n"},
			[]string{`a.yaml:1:7: kind: unknown kind "ServiceDeskIntegraton"; did you mean "ServiceDeskIntegration"?`}},
		{"unknown key", map[string]string{"a.yaml": sd + "state: absent\nreason: old\n"},
			[]string{`a.yaml:4:1: document: unknown key "reason"`}},
		{"state typo", map[string]string{"a.yaml": sd + "state: absnt\n"},
			[]string{`a.yaml:3:8: state: "absnt" is neither present nor absent; did you mean "absent"?`}},
		{"state not text", map[string]string{"a.yaml": sd + "state: false\n"}, []string{"a.yaml:3:8: state: want a string"}},
		{"present needs a spec", map[string]string{"a.yaml": sd + "state: present\n"}, []string{"a.yaml:1:1: spec is required"}},
		{"absent and present", map[string]string{"a.yaml": sd + "spec: {type: T, attributes: {}}\n", "b.yaml": sd + "state: absent\n"},
			[]string{`b.yaml:1:1: ServiceDeskIntegration "X" is declared absent here and present at a.yaml:1:1`}},
		{"absent twice", map[string]string{"a.yaml": sd + "state: absent\n---\n" + sd + "state: absent\n"},
			[]string{`a.yaml:5:1: ServiceDeskIntegration "X" is declared absent twice: also at a.yaml:1:1`}},
		{"absent and a previous name", map[string]string{"a.yaml": "kind: ServiceDeskIntegration\nname: Y\nspec: {type: T, attributes: {}}\noptions: {previousNames: [X]}\n", "b.yaml": sd + "state: absent\n"},
			[]string{`b.yaml:1:1: ServiceDeskIntegration "X" is declared absent here, but "Y", declared at a.yaml:1:1, lists it in options.previousNames`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := loadProblems(t, writeTree(t, tc.files))
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %q, want %q...", got[i], tc.want[i])
				}
			}
		})
	}
	// An absent SIM integration and a present service desk integration may share a name.
	mustLoad(t, writeTree(t, map[string]string{"a.yaml": sd + "spec: {type: T, attributes: {}}\n---\nkind: SIMIntegration\nname: X\nstate: absent\n"}))
}

// TestLoadAllowSecretClear: options.allowSecretClear is true, false or a list of keys.
func TestLoadAllowSecretClear(t *testing.T) {
	const sd = "kind: ServiceDeskIntegration\nname: X\nspec: {type: T, attributes: {}}\n"
	tests := []struct {
		name    string
		options string
		want    []string
		problem string
	}{
		{"true", "options: {allowSecretClear: true}", []string{"*"}, ""},
		{"false", "options: {allowSecretClear: false, mode: observe}", nil, ""},
		{"keys", "options:\n  ignore: [/description]\n  allowSecretClear: [password, apiKey]", []string{"password", "apiKey"}, ""},
		{"through an alias", "options: &o {allowSecretClear: [token]}", []string{"token"}, ""},
		{"a string", "options: {allowSecretClear: yes please}", nil, "a.yaml:4:29: options.allowSecretClear: want true (any secret key), false, or a list"},
		{"a key twice", "options: {allowSecretClear: [password, Password]}", nil, `a.yaml:4:40: options.allowSecretClear[1]: "Password" is listed twice`},
		{"an empty key", "options: {allowSecretClear: ['']}", nil, "a.yaml:4:30: options.allowSecretClear[0]: must not be empty"},
		{"other options still checked", "options: {allowSecretClear: true, mod: observe}", nil, `a.yaml:4:35: options: unknown key "mod"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"a.yaml": sd + tc.options + "\n"})
			if tc.problem != "" {
				got := loadProblems(t, dir)
				if len(got) != 1 || !strings.HasPrefix(got[0], tc.problem) {
					t.Errorf("problems %q, want %q", got, tc.problem)
				}
				return
			}
			st := mustLoad(t, dir)
			if got := st.ServiceDesk[0].Options.AllowSecretClear; !slices.Equal(got, tc.want) {
				t.Errorf("AllowSecretClear %q, want %q", got, tc.want)
			}
		})
	}
	got := loadProblems(t, writeTree(t, map[string]string{"a.yaml": "kind: StatusCheckConfiguration\nspec: {provisioningStatusCheckIntervalMinutes: 1, provisioningMaxStatusCheckDays: 1}\noptions: {allowSecretClear: true}\n"}))
	if len(got) != 1 || !strings.Contains(got[0], "a StatusCheckConfiguration holds no secrets") {
		t.Errorf("status check: %q", got)
	}
	o := Options{AllowSecretClear: []string{"apiKey"}}
	if !o.AllowsSecretClear("APIKEY") || o.AllowsSecretClear("password") || !(Options{AllowSecretClear: []string{"*"}}).AllowsSecretClear("x") {
		t.Error("AllowsSecretClear")
	}
}
