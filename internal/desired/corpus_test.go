package desired

import (
	"errors"
	"flag"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
			wantFile := filepath.Join(dir, "want.txt")
			dir := withSetup(t, dir)
			st, err := loadBounded(t, dir, corpusEnv(), WithMaxFileSize(16<<10))
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

// withSetup returns dir, or, when dir has a setup.txt, a copy of it in a temporary
// directory with what setup.txt lists made there: what git cannot hold (FIFOs, sockets)
// or should not (links to system files). One entry a line:
//
//	fifo NAME          a named pipe
//	socket NAME        a listening Unix socket
//	link NAME TARGET   a symbolic link, TARGET as written
//	file NAME TEXT     a file holding TEXT (NAME may lead outside the copy: ../x)
//
// NAME is relative to the copy. setup.txt and want.txt are not copied.
func withSetup(t *testing.T, dir string) string {
	t.Helper()
	setup, err := os.ReadFile(filepath.Join(dir, "setup.txt"))
	if errors.Is(err, fs.ErrNotExist) {
		return dir
	}
	if err != nil {
		t.Fatal(err)
	}
	// A short base: a Unix socket's path is limited to about 100 bytes.
	base, err := os.MkdirTemp("", "sdc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	out := filepath.Join(base, "d")
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "setup.txt" || rel == "want.txt" {
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(out, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(setup)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("setup.txt: %q", line)
		}
		path := filepath.Join(out, filepath.FromSlash(f[1]))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case f[0] == "fifo":
			err = syscall.Mkfifo(path, 0o600)
		case f[0] == "socket":
			var ln net.Listener
			if ln, err = net.Listen("unix", path); err == nil {
				t.Cleanup(func() { ln.Close() })
			}
		case f[0] == "file":
			err = os.WriteFile(path, []byte(strings.Join(f[2:], " ")+"\n"), 0o644)
		case f[0] == "link" && len(f) == 3:
			err = os.Symlink(filepath.FromSlash(f[2]), path)
		default:
			t.Fatalf("setup.txt: %q", line)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// loadBounded is Load, failing the test when it takes more than 5 s: nothing in a
// directory may make a load block.
func loadBounded(t *testing.T, dir string, opts ...Option) (*State, error) {
	t.Helper()
	type result struct {
		st  *State
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := Load(dir, opts...)
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-time.After(5 * time.Second):
		t.Fatal("Load blocked for 5 s")
		return nil, nil
	}
}
