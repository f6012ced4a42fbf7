package desired

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader as one YAML file: it must never panic or
// hang, and it must either load or report problems, each with a file and a message.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{examplesDir, filepath.Join("testdata", "bad", "39-many-problems-gathered"), filepath.Join("testdata", "bad", "30-alias-bomb")} {
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
		st, err := Load(dir, env, WithMaxAliasNodes(10_000))
		if err == nil {
			if st == nil {
				t.Fatal("no State and no error")
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
