package desired

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the want.txt files of testdata/bad")

// testEnv is the environment the tests load with: only what a case names.
func testEnv(vars map[string]string) Option {
	return WithLookupEnv(func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

func corpusEnv() Option {
	return testEnv(map[string]string{"SNOW_PASSWORD": "hunter2-correct-horse", "EMPTY_SECRET": ""})
}

// corpusCases lists the directories of testdata/bad.
func corpusCases(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "bad"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("testdata", "bad", e.Name()))
		}
	}
	return dirs
}

// TestBadCorpus loads every case of testdata/bad and compares the problems, as a user
// reads them, with its want.txt.
func TestBadCorpus(t *testing.T) {
	cases := corpusCases(t)
	if len(cases) < 25 {
		t.Fatalf("the corpus has %d cases, want at least 25", len(cases))
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			st, err := Load(dir, corpusEnv(), WithMaxFileSize(16<<10))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load = %v, %v; want a *LoadError", st, err)
			}
			if st != nil {
				t.Errorf("Load returned a State along with its error")
			}
			var lines []string
			for _, p := range le.Problems {
				lines = append(lines, p.String())
			}
			got := strings.Join(lines, "\n") + "\n"
			wantFile := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(wantFile)
			if rerr != nil {
				t.Fatalf("%v (run with -update to create it, then read it)", rerr)
			}
			if got != string(want) {
				t.Errorf("problems differ\n got:\n%s\nwant:\n%s", got, want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "desired state in "+dir+" is invalid: ") || !strings.Contains(msg, lines[0]) {
				t.Errorf("Error() = %q", msg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("a secret value is in the error: %s", err)
			}
		})
	}
}
