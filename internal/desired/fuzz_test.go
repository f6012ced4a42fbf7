package desired

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// FuzzLoad feeds arbitrary bytes to the loader as one YAML file: it must never panic or
// hang, and it must either load or report problems, each with a file and a message; and
// reading the file with yaml.v3 alone must give the same State or the same problems as
// reading it with the subset parser first.
func FuzzLoad(f *testing.F) {
	seeds := []string{examplesDir}
	for _, c := range []string{"39-many-problems-gathered", "30-alias-bomb", "49-aliases-to-a-large-string", "53-invalid-utf8-and-control-bytes", "54-numbers-with-leading-zeros", "55-numbers-json-cannot-carry"} {
		seeds = append(seeds, filepath.Join("testdata", "bad", c))
	}
	for _, dir := range seeds {
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && isYAMLName(e.Name()) {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "in.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("file-secret\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env := testEnv(map[string]string{"SET": "env-secret", "EMPTY": ""})
		sameLoad(t, dir, env, WithMaxAliasNodes(10_000))
		st, err := Load(dir, env, WithMaxAliasNodes(10_000))
		if err == nil {
			if st == nil {
				t.Fatal("no State and no error")
			}
			// Every value loaded is one a request body can carry (no invalid json.Number),
			// as is its canonical form (which a patch sends).
			for _, r := range st.ServiceDesk {
				if _, err := json.Marshal(r.Spec); err != nil {
					t.Fatalf("%s: %v", r.Name, err)
				}
				if _, err := json.Marshal(sdim.CanonicalServiceDesk(r.Spec)); err != nil {
					t.Fatalf("%s: canonical: %v", r.Name, err)
				}
			}
			for _, r := range st.SIM {
				if _, err := json.Marshal(sdim.CanonicalSIM(r.Spec)); err != nil {
					t.Fatalf("%s: canonical: %v", r.Name, err)
				}
			}
			return
		}
		var le *LoadError
		if !errors.As(err, &le) || len(le.Problems) == 0 {
			t.Fatalf("error %v is not a *LoadError with problems", err)
		}
		for _, p := range le.Problems {
			if p.File != "in.yaml" || p.Msg == "" || p.Line < 0 || p.Column < 0 {
				t.Errorf("malformed problem %+v", p)
			}
			if strings.Contains(p.Msg, "env-secret") || strings.Contains(p.Msg, "file-secret") {
				t.Errorf("a secret value in a problem: %s", p.Msg)
			}
		}
	})
}
