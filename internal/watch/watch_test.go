package watch

import (
	"errors"
	"fmt"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// timeout bounds every wait for an event that must come.
const timeout = 5 * time.Second

// newWatcher starts a Watcher that logs to the test's output and is closed at the end.
func newWatcher(t *testing.T, dir string, files ...string) *Watcher {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := New(dir, files, log)
	if err != nil {
		t.Fatalf("New(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// waitFor reads events until one satisfies match and returns the events read before it.
func waitFor(t *testing.T, w *Watcher, what string, match func(Event) bool) []Event {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var seen []Event
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("Events closed while waiting for %s; seen %v", what, seen)
			}
			if match(ev) {
				return seen
			}
			seen = append(seen, ev)
		case <-deadline.C:
			t.Fatalf("no event for %s within %v; seen %v", what, timeout, seen)
		}
	}
}

// waitPath waits for an event on path, whatever its Op.
func waitPath(t *testing.T, w *Watcher, path string) []Event {
	t.Helper()
	return waitFor(t, w, path, func(e Event) bool { return e.Path == path })
}

// waitAll waits until an event was seen for each of paths, in any order.
func waitAll(t *testing.T, w *Watcher, paths ...string) {
	t.Helper()
	left := slices.Clone(paths)
	waitFor(t, w, strings.Join(paths, ", "), func(e Event) bool {
		left = slices.DeleteFunc(left, func(p string) bool { return p == e.Path })
		return len(left) == 0
	})
}

// quiet fails if an event satisfying bad is reported for the changes made so far. It
// creates a sentinel YAML file in dir, which must be watched, and reads up to its event:
// the kernel queues the events of one watcher in order and they are handled in order, so
// an event reported for an earlier change arrives before the sentinel's.
func quiet(t *testing.T, w *Watcher, dir string, bad func(Event) bool) {
	t.Helper()
	f, err := os.CreateTemp(dir, "sentinel-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, e := range waitPath(t, w, f.Name()) {
		if bad(e) {
			t.Errorf("unexpected event %+v", e)
		}
	}
}

// settle reads the events of the changes made so far, whatever they are: a write makes
// several, and a test that waited for the first must not see the others as noise later.
func settle(t *testing.T, w *Watcher, dir string) {
	t.Helper()
	quiet(t, w, dir, func(Event) bool { return false })
}

// under matches the events whose path is dir or below it.
func under(dir string) func(Event) bool {
	return func(e Event) bool { return within(e.Path, dir) }
}

// noErrors fails if an error is waiting on the Errors channel.
func noErrors(t *testing.T, w *Watcher) {
	t.Helper()
	for {
		select {
		case err := <-w.Errors():
			t.Errorf("error from the watcher: %v", err)
		default:
			return
		}
	}
}

// watching reports whether the watcher has a watch on dir.
func watching(w *Watcher, dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.watched[dir]
}

// watchedUnder lists the watched paths at or below dir.
func watchedUnder(w *Watcher, dir string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var l []string
	for q := range w.watched {
		if within(q, dir) {
			l = append(l, q)
		}
	}
	slices.Sort(l)
	return l
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsAMissingDirectoryOrAFile(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file.yaml")
	write(t, file, "a: 1\n")
	tests := []struct {
		name  string
		dir   string
		cause error
	}{
		{"missing", filepath.Join(base, "missing"), fs.ErrNotExist},
		{"a file", file, syscall.ENOTDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := New(tt.dir, nil, nil)
			if err == nil {
				w.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, tt.cause) {
				t.Errorf("error %q does not wrap %v", err, tt.cause)
			}
			if !strings.Contains(err.Error(), tt.dir) {
				t.Errorf("error %q does not name %s", err, tt.dir)
			}
		})
	}
}

// TestRecursive covers the directories present at the start and those that appear later,
// however they appear: each is watched, and the files found in it are reported.
func TestRecursive(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, root, outside string)
		act   func(t *testing.T, root, outside string)
		want  []string // paths relative to root that must be reported
		then  string   // a directory, relative to root, that must be watched afterwards
	}{
		{
			name:  "existing nested directory",
			setup: func(t *testing.T, root, _ string) { mkdirAll(t, filepath.Join(root, "a/b/c")) },
			act: func(t *testing.T, root, _ string) {
				write(t, filepath.Join(root, "a/b/c/f.yaml"), "a: 1\n")
			},
			want: []string{"a/b/c/f.yaml"},
			then: "a/b/c",
		},
		{
			name: "mkdir then a file",
			act: func(t *testing.T, root, _ string) {
				mkdirAll(t, filepath.Join(root, "new"))
				write(t, filepath.Join(root, "new/f.yaml"), "a: 1\n")
			},
			want: []string{"new", "new/f.yaml"},
			then: "new",
		},
		{
			name: "mkdir -p then a file",
			act: func(t *testing.T, root, _ string) {
				mkdirAll(t, filepath.Join(root, "x/y/z"))
				write(t, filepath.Join(root, "x/y/z/f.yml"), "a: 1\n")
			},
			want: []string{"x", "x/y/z/f.yml"},
			then: "x/y/z",
		},
		{
			name: "directory moved in from outside",
			setup: func(t *testing.T, _, outside string) {
				mkdirAll(t, filepath.Join(outside, "m/n"))
				write(t, filepath.Join(outside, "m/n/f.yaml"), "a: 1\n")
				write(t, filepath.Join(outside, "m/top.yaml"), "a: 1\n")
			},
			act: func(t *testing.T, root, outside string) {
				rename(t, filepath.Join(outside, "m"), filepath.Join(root, "m"))
			},
			want: []string{"m", "m/n", "m/top.yaml", "m/n/f.yaml"},
			then: "m/n",
		},
		{
			name:  "directory renamed inside",
			setup: func(t *testing.T, root, _ string) { mkdirAll(t, filepath.Join(root, "a/b")) },
			act: func(t *testing.T, root, _ string) {
				rename(t, filepath.Join(root, "a"), filepath.Join(root, "z"))
			},
			want: []string{"a", "z"},
			then: "z/b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			if tt.setup != nil {
				tt.setup(t, root, outside)
			}
			w := newWatcher(t, root)
			tt.act(t, root, outside)
			var want []string
			for _, p := range tt.want {
				want = append(want, filepath.Join(root, p))
			}
			waitAll(t, w, want...)

			// The directory is watched under its current name: a file created in it now
			// is reported with that name.
			later := filepath.Join(root, tt.then, "later.yaml")
			write(t, later, "b: 2\n")
			waitPath(t, w, later)
			for _, q := range watchedUnder(w, root) {
				if _, err := os.Stat(q); err != nil {
					t.Errorf("stale watch on %s: %v", q, err)
				}
			}
			noErrors(t, w)
		})
	}
}

// TestNewDirectoryScanned makes sure that the files created in a new directory before
// its watch is added are reported: the watcher is held while the directories and files
// are created, so no event can come from a watch on them.
func TestNewDirectoryScanned(t *testing.T) {
	root := t.TempDir()
	w := newWatcher(t, root)

	w.mu.Lock()
	mkdirAll(t, filepath.Join(root, "new"))
	write(t, filepath.Join(root, "new/f.yaml"), "a: 1\n")
	mkdirAll(t, filepath.Join(root, "p/q/r"))
	write(t, filepath.Join(root, "p/q/r/g.yaml"), "a: 1\n")
	write(t, filepath.Join(root, "p/q/notes.txt"), "not loaded\n")
	symlink(t, "r/g.yaml", filepath.Join(root, "p/q/link"))
	w.mu.Unlock()

	waitAll(t, w,
		filepath.Join(root, "new"), filepath.Join(root, "new/f.yaml"),
		filepath.Join(root, "p/q/r"), filepath.Join(root, "p/q/r/g.yaml"),
		filepath.Join(root, "p/q/link"))
	for _, d := range []string{"new", "p", "p/q", "p/q/r"} {
		if !watching(w, filepath.Join(root, d)) {
			t.Errorf("%s is not watched", d)
		}
	}
	quiet(t, w, root, func(e Event) bool { return strings.HasSuffix(e.Path, "notes.txt") })
	noErrors(t, w)
}

// TestAtomicReplace covers editors and tools that write a temporary file and rename it
// over the target, and vim's default of renaming the original away first.
func TestAtomicReplace(t *testing.T) {
	tests := []struct {
		name    string
		tmp     string // the temporary file, renamed over x.yaml
		wantOps []string
	}{
		{"hidden temporary", ".x.yaml.tmp123", []string{OpCreate}},
		{"temporary suffix", "x.yaml.tmp", []string{OpCreate}},
		{"sed -i", "sedAb12Cd", []string{OpCreate}},
		{"temporary in a hidden directory", ".tmp/x.yaml", []string{OpCreate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			target := filepath.Join(root, "x.yaml")
			write(t, target, "a: 1\n")
			mkdirAll(t, filepath.Join(root, ".tmp"))
			w := newWatcher(t, root)

			tmp := filepath.Join(root, tt.tmp)
			write(t, tmp, "a: 2\n")
			rename(t, tmp, target)
			seen := waitFor(t, w, "x.yaml replaced", func(e Event) bool {
				return e.Path == target && slices.Contains(tt.wantOps, e.Op)
			})
			for _, e := range seen {
				if e.Path == tmp {
					t.Errorf("the temporary file was reported: %+v", e)
				}
			}
			noErrors(t, w)
		})
	}

	t.Run("vim backup rename", func(t *testing.T) {
		root := t.TempDir()
		target := filepath.Join(root, "x.yaml")
		write(t, target, "a: 1\n")
		w := newWatcher(t, root)

		rename(t, target, target+"~")
		write(t, target, "a: 2\n")
		removeAll(t, target+"~")
		seen := waitFor(t, w, "x.yaml created", func(e Event) bool { return e.Path == target && e.Op == OpCreate })
		if !slices.Contains(seen, Event{Path: target, Op: OpRename}) {
			t.Errorf("the rename of x.yaml away was not reported; seen %v", seen)
		}
		quiet(t, w, root, func(e Event) bool { return strings.HasSuffix(e.Path, "~") })
	})
}

// volume lays out a Kubernetes ConfigMap or Secret volume as the kubelet writes it:
// name -> ..data/name, ..data -> ..TIMESTAMP, and the files in ..TIMESTAMP.
type volume struct {
	dir     string
	current string // the timestamped directory ..data points to
	n       int
}

func newVolume(t *testing.T, dir string, files map[string]string) *volume {
	t.Helper()
	v := &volume{dir: dir}
	v.current = v.timestamped(t, files)
	symlink(t, v.current, filepath.Join(dir, "..data"))
	for name := range files {
		symlink(t, filepath.Join("..data", name), filepath.Join(dir, name))
	}
	return v
}

// timestamped writes the files in a new timestamped directory and returns its name.
func (v *volume) timestamped(t *testing.T, files map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("..2026_12_01_11_%02d_00.%03d", v.n, 123+v.n)
	v.n++
	mkdirAll(t, filepath.Join(v.dir, name))
	for f, content := range files {
		write(t, filepath.Join(v.dir, name, f), content)
	}
	return name
}

// update performs the kubelet's atomic update: a new timestamped directory, a link
// ..data_tmp to it renamed over ..data, links for new keys, and the old directory removed.
func (v *volume) update(t *testing.T, files map[string]string) {
	t.Helper()
	old := v.current
	v.current = v.timestamped(t, files)
	symlink(t, v.current, filepath.Join(v.dir, "..data_tmp"))
	rename(t, filepath.Join(v.dir, "..data_tmp"), filepath.Join(v.dir, "..data"))
	for name := range files {
		if _, err := os.Lstat(filepath.Join(v.dir, name)); err != nil {
			symlink(t, filepath.Join("..data", name), filepath.Join(v.dir, name))
		}
	}
	removeAll(t, filepath.Join(v.dir, old))
}

// timestampNoise matches the events of a volume's internals beyond the swap itself.
func timestampNoise(e Event) bool {
	return strings.Contains(e.Path, "..2026") || strings.Contains(e.Path, "..data_tmp")
}

// TestKubernetesConfigMap watches a ConfigMap volume as the desired-state directory.
func TestKubernetesConfigMap(t *testing.T) {
	root := t.TempDir()
	v := newVolume(t, root, map[string]string{"f.yaml": "a: 1\n", "g.yaml": "b: 1\n"})
	w := newWatcher(t, root)
	if l := watchedUnder(w, root); !slices.Equal(l, []string{root}) {
		t.Errorf("watched %v, want only the volume's directory", l)
	}

	dataLink := filepath.Join(root, "..data")
	for i := range 2 { // the second swap shows that the first did not orphan a watch
		v.update(t, map[string]string{"f.yaml": fmt.Sprintf("a: %d\n", i+2), "g.yaml": "b: 1\n"})
		seen := waitPath(t, w, dataLink)
		for _, e := range seen {
			if timestampNoise(e) {
				t.Errorf("update %d: unexpected event %+v", i, e)
			}
		}
		quiet(t, w, root, timestampNoise)
	}

	// A new key adds a link in the volume's directory.
	v.update(t, map[string]string{"f.yaml": "a: 9\n", "g.yaml": "b: 1\n", "h.yaml": "c: 1\n"})
	waitAll(t, w, dataLink, filepath.Join(root, "h.yaml"))
	quiet(t, w, root, timestampNoise)
	if l := watchedUnder(w, root); !slices.Equal(l, []string{root}) {
		t.Errorf("watched %v, want only the volume's directory", l)
	}
	noErrors(t, w)
}

// TestKubernetesSecret watches a secret file in a Secret volume outside the desired-state
// directory, named either through the volume's link or by its resolved path (as the
// loader's State.SecretFiles lists it).
func TestKubernetesSecret(t *testing.T) {
	for _, resolved := range []bool{false, true} {
		t.Run("resolved="+strconv.FormatBool(resolved), func(t *testing.T) {
			root, mount := t.TempDir(), t.TempDir()
			v := newVolume(t, mount, map[string]string{"password": "s3cret\n"})
			name := func() string {
				p := filepath.Join(mount, "password")
				if resolved {
					r, err := filepath.EvalSymlinks(p)
					if err != nil {
						t.Fatal(err)
					}
					return r
				}
				return p
			}
			w := newWatcher(t, root, name())

			dataLink := filepath.Join(mount, "..data")
			for i := range 2 {
				v.update(t, map[string]string{"password": fmt.Sprintf("rotated %d\n", i)})
				seen := waitPath(t, w, dataLink)
				for _, e := range seen {
					if strings.Contains(e.Path, "..data_tmp") {
						t.Errorf("unexpected event %+v", e)
					}
				}
				if resolved {
					// The daemon loads again and names the file in the new directory.
					if err := w.SetFiles([]string{name()}); err != nil {
						t.Fatal(err)
					}
				}
				// Nothing else of the volume's directory is reported.
				write(t, filepath.Join(mount, "other.yaml"), "x: 1\n")
				quiet(t, w, root, func(e Event) bool {
					return within(e.Path, mount) && e.Path != dataLink && !strings.Contains(e.Path, "password") &&
						!strings.Contains(e.Path, "..2026")
				})
			}
			if resolved {
				if l := watchedUnder(w, mount); len(l) != 2 {
					t.Errorf("watched %v, want the volume's directory and the current timestamped one", l)
				}
			} else if l := watchedUnder(w, mount); !slices.Equal(l, []string{mount}) {
				t.Errorf("watched %v, want only the volume's directory", l)
			}
			noErrors(t, w)
		})
	}
}

// TestRemove covers deleted files and directories, and a directory moved out.
func TestRemove(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	mkdirAll(t, filepath.Join(root, "a/b"))
	write(t, filepath.Join(root, "a/b/f.yaml"), "a: 1\n")
	write(t, filepath.Join(root, "top.yaml"), "a: 1\n")
	mkdirAll(t, filepath.Join(root, "c/d"))
	w := newWatcher(t, root)

	removeAll(t, filepath.Join(root, "top.yaml"))
	waitFor(t, w, "top.yaml removed", func(e Event) bool {
		return e == Event{Path: filepath.Join(root, "top.yaml"), Op: OpRemove}
	})

	removeAll(t, filepath.Join(root, "a"))
	waitAll(t, w, filepath.Join(root, "a/b/f.yaml"), filepath.Join(root, "a/b"), filepath.Join(root, "a"))
	if l := watchedUnder(w, filepath.Join(root, "a")); len(l) > 0 {
		t.Errorf("still watched after removal: %v", l)
	}

	rename(t, filepath.Join(root, "c"), filepath.Join(outside, "c"))
	waitFor(t, w, "c moved out", func(e Event) bool {
		return e == Event{Path: filepath.Join(root, "c"), Op: OpRename}
	})
	if l := watchedUnder(w, filepath.Join(root, "c")); len(l) > 0 {
		t.Errorf("still watched after the move: %v", l)
	}
	write(t, filepath.Join(outside, "c/d/f.yaml"), "a: 1\n")
	quiet(t, w, root, func(e Event) bool { return !strings.Contains(e.Path, "sentinel") })

	// The directory comes back: it is watched again.
	mkdirAll(t, filepath.Join(root, "a/b"))
	write(t, filepath.Join(root, "a/b/f.yaml"), "a: 2\n")
	waitAll(t, w, filepath.Join(root, "a"), filepath.Join(root, "a/b/f.yaml"))
	write(t, filepath.Join(root, "a/b/g.yaml"), "a: 2\n")
	waitPath(t, w, filepath.Join(root, "a/b/g.yaml"))
	noErrors(t, w)
}

// TestExtraFiles covers the secret files: watched through their directory, alone of it.
func TestExtraFiles(t *testing.T) {
	t.Run("outside the directory", func(t *testing.T) {
		root, sec := t.TempDir(), t.TempDir()
		pw := filepath.Join(sec, "password")
		write(t, pw, "one\n")
		w := newWatcher(t, root, pw)

		write(t, filepath.Join(sec, "other"), "x\n")
		write(t, filepath.Join(sec, "other.yaml"), "x: 1\n")
		quiet(t, w, root, under(sec))

		write(t, pw, "two\n")
		waitFor(t, w, "password written", func(e Event) bool { return e == Event{Path: pw, Op: OpWrite} })

		// Replaced by a rename, twice: the second shows the watch survived the first.
		for i := range 2 {
			tmp := filepath.Join(sec, ".password.tmp")
			write(t, tmp, fmt.Sprintf("three %d\n", i))
			rename(t, tmp, pw)
			waitPath(t, w, pw)
		}
		write(t, pw, "four\n")
		waitPath(t, w, pw)
		settle(t, w, root)
		quiet(t, w, root, func(e Event) bool { return strings.Contains(e.Path, ".password.tmp") })

		removeAll(t, pw)
		waitFor(t, w, "password removed", func(e Event) bool { return e == Event{Path: pw, Op: OpRemove} })
		noErrors(t, w)
	})

	t.Run("inside the directory", func(t *testing.T) {
		root := t.TempDir()
		token := filepath.Join(root, "token.txt")
		key := filepath.Join(root, ".secrets", "key")
		write(t, token, "t\n")
		mkdirAll(t, filepath.Dir(key))
		write(t, key, "k\n")
		w := newWatcher(t, root)

		// Not named yet: a file that is not YAML and a hidden directory are noise.
		write(t, token, "t2\n")
		quiet(t, w, root, under(token))

		if err := w.SetFiles([]string{token, key}); err != nil {
			t.Fatal(err)
		}
		// Newly named files are announced.
		waitAll(t, w, token, key)
		write(t, token, "t3\n")
		waitPath(t, w, token)
		write(t, key, "k2\n")
		waitPath(t, w, key)
		settle(t, w, root)
		write(t, filepath.Join(root, ".secrets", "other"), "o\n")
		quiet(t, w, root, under(filepath.Join(root, ".secrets")))

		// Dropped again: the hidden directory is no longer watched, the tree still is.
		if err := w.SetFiles(nil); err != nil {
			t.Fatal(err)
		}
		if watching(w, filepath.Dir(key)) {
			t.Errorf("%s still watched", filepath.Dir(key))
		}
		if !watching(w, root) {
			t.Errorf("%s no longer watched", root)
		}
		write(t, token, "t4\n")
		quiet(t, w, root, under(token))
		write(t, filepath.Join(root, "x.yaml"), "a: 1\n")
		waitPath(t, w, filepath.Join(root, "x.yaml"))
		noErrors(t, w)
	})

	t.Run("SetFiles moves the watches", func(t *testing.T) {
		root, secA, secB := t.TempDir(), t.TempDir(), t.TempDir()
		pwA, pwB := filepath.Join(secA, "pw"), filepath.Join(secB, "pw")
		write(t, pwA, "a\n")
		write(t, pwB, "b\n")
		w := newWatcher(t, root, pwA)
		if !watching(w, secA) {
			t.Fatalf("%s not watched", secA)
		}

		if err := w.SetFiles([]string{pwB}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, "pwB announced", func(e Event) bool { return e == Event{Path: pwB, Op: OpCreate} })
		if watching(w, secA) || !watching(w, secB) {
			t.Errorf("watched %v, want %s and not %s", watchedUnder(w, "/"), secB, secA)
		}
		write(t, pwA, "a2\n")
		quiet(t, w, root, under(secA))
		write(t, pwB, "b2\n")
		waitPath(t, w, pwB)
		settle(t, w, root)

		// The same set again announces nothing.
		if err := w.SetFiles([]string{pwB}); err != nil {
			t.Fatal(err)
		}
		quiet(t, w, root, under(secB))
		noErrors(t, w)
	})

	t.Run("directory deleted and created again", func(t *testing.T) {
		root := t.TempDir()
		sec := filepath.Join(t.TempDir(), "a", "sec") // its parent is not otherwise watched
		pw := filepath.Join(sec, "pw")
		mkdirAll(t, sec)
		write(t, pw, "a\n")
		w := newWatcher(t, root, pw)

		removeAll(t, sec)
		waitFor(t, w, "sec removed", func(e Event) bool { return e.Path == sec && e.Op == OpRemove })
		mkdirAll(t, sec)
		waitFor(t, w, "sec created", func(e Event) bool { return e.Path == sec && e.Op == OpCreate })
		write(t, pw, "b\n")
		waitPath(t, w, pw)
		noErrors(t, w)
	})

	t.Run("directory missing at the start", func(t *testing.T) {
		root, base := t.TempDir(), t.TempDir()
		pw := filepath.Join(base, "x", "y", "pw")
		w := newWatcher(t, root, pw)

		mkdirAll(t, filepath.Join(base, "x"))
		waitPath(t, w, filepath.Join(base, "x"))
		mkdirAll(t, filepath.Join(base, "x", "y"))
		waitPath(t, w, filepath.Join(base, "x", "y"))
		write(t, pw, "a\n")
		waitPath(t, w, pw)
		if !watching(w, filepath.Dir(pw)) || watching(w, filepath.Join(base, "x")) {
			t.Errorf("watched %v, want the file's directory alone", watchedUnder(w, base))
		}
		noErrors(t, w)
	})
}

// TestNoise checks which changes in the directory are reported and which are dropped.
func TestNoise(t *testing.T) {
	tests := []struct {
		name string
		act  func(t *testing.T, root string)
		want string // the path, relative to root, that must be reported; "" for none
	}{
		{"hidden file", func(t *testing.T, root string) { write(t, filepath.Join(root, ".x.yaml"), "a\n") }, ""},
		{"backup", func(t *testing.T, root string) { write(t, filepath.Join(root, "x.yaml~"), "a\n") }, ""},
		{"vim swap", func(t *testing.T, root string) { write(t, filepath.Join(root, ".x.yaml.swp"), "a\n") }, ""},
		{"vim swap 2", func(t *testing.T, root string) { write(t, filepath.Join(root, "x.yaml.swo"), "a\n") }, ""},
		{"emacs autosave", func(t *testing.T, root string) { write(t, filepath.Join(root, "#x.yaml#"), "a\n") }, ""},
		{"not YAML", func(t *testing.T, root string) { write(t, filepath.Join(root, "notes.txt"), "a\n") }, ""},
		{"not YAML removed", func(t *testing.T, root string) { removeAll(t, filepath.Join(root, "sub/old.txt")) }, ""},
		{"chmod", func(t *testing.T, root string) {
			if err := os.Chmod(filepath.Join(root, "sub/x.yaml"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"hidden directory", func(t *testing.T, root string) {
			mkdirAll(t, filepath.Join(root, ".git/objects"))
			write(t, filepath.Join(root, ".git/objects/x.yaml"), "a\n")
		}, ""},
		{"in an existing hidden directory", func(t *testing.T, root string) {
			write(t, filepath.Join(root, ".hidden/x.yaml"), "a\n")
		}, ""},
		{"YAML created", func(t *testing.T, root string) { write(t, filepath.Join(root, "new.yaml"), "a\n") }, "new.yaml"},
		{"YML in capitals", func(t *testing.T, root string) { write(t, filepath.Join(root, "NEW.YML"), "a\n") }, "NEW.YML"},
		{"YAML written", func(t *testing.T, root string) { write(t, filepath.Join(root, "sub/x.yaml"), "b\n") }, "sub/x.yaml"},
		{"YAML removed", func(t *testing.T, root string) { removeAll(t, filepath.Join(root, "sub/x.yaml")) }, "sub/x.yaml"},
		{"symbolic link", func(t *testing.T, root string) { symlink(t, "sub", filepath.Join(root, "link")) }, "link"},
		{"symbolic link removed", func(t *testing.T, root string) { removeAll(t, filepath.Join(root, "sub/oldlink")) }, "sub/oldlink"},
		{"directory", func(t *testing.T, root string) { mkdirAll(t, filepath.Join(root, "dir")) }, "dir"},
		{"directory removed", func(t *testing.T, root string) { removeAll(t, filepath.Join(root, "sub/empty")) }, "sub/empty"},
		{"..data", func(t *testing.T, root string) { symlink(t, "sub", filepath.Join(root, "..data")) }, "..data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			mkdirAll(t, filepath.Join(root, "sub/empty"))
			mkdirAll(t, filepath.Join(root, ".hidden"))
			write(t, filepath.Join(root, "sub/x.yaml"), "a\n")
			write(t, filepath.Join(root, "sub/old.txt"), "a\n")
			symlink(t, "x.yaml", filepath.Join(root, "sub/oldlink"))
			w := newWatcher(t, root)

			tt.act(t, root)
			if tt.want == "" {
				quiet(t, w, root, func(e Event) bool { return !strings.Contains(e.Path, "sentinel") })
			} else {
				waitPath(t, w, filepath.Join(root, tt.want))
			}
			noErrors(t, w)
		})
	}
}

// TestRoot covers the directory itself replaced: a symbolic link swapped to a new target
// (git-sync), and a directory deleted and created again.
func TestRoot(t *testing.T) {
	t.Run("symbolic link swapped", func(t *testing.T) {
		base := t.TempDir()
		rev1, rev2 := filepath.Join(base, "rev1"), filepath.Join(base, "rev2")
		mkdirAll(t, filepath.Join(rev1, "sub"))
		mkdirAll(t, filepath.Join(rev1, "secrets"))
		write(t, filepath.Join(rev1, "secrets/token"), "t\n")
		mkdirAll(t, filepath.Join(rev2, "sub2"))
		root := filepath.Join(base, "current")
		symlink(t, "rev1", root)
		// The secret file named by its resolved path, as the loader lists it.
		w := newWatcher(t, root, filepath.Join(rev1, "secrets/token"))
		if watching(w, filepath.Join(rev1, "secrets")) {
			t.Errorf("the secret's directory is watched under its resolved name too: %v", watchedUnder(w, base))
		}

		write(t, filepath.Join(rev1, "sub/f.yaml"), "a\n")
		waitPath(t, w, filepath.Join(root, "sub/f.yaml"))
		write(t, filepath.Join(rev1, "secrets/token"), "t2\n")
		waitPath(t, w, filepath.Join(root, "secrets/token"))

		symlink(t, "rev2", filepath.Join(base, ".current.tmp"))
		rename(t, filepath.Join(base, ".current.tmp"), root)
		waitFor(t, w, "current swapped", func(e Event) bool { return e.Path == root && e.Op == OpCreate })

		write(t, filepath.Join(rev2, "sub2/g.yaml"), "a\n")
		waitPath(t, w, filepath.Join(root, "sub2/g.yaml"))
		write(t, filepath.Join(rev1, "sub/f.yaml"), "b\n")
		quiet(t, w, root, under(filepath.Join(root, "sub")))
		noErrors(t, w)
	})

	t.Run("deleted and created again", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "conf")
		mkdirAll(t, filepath.Join(root, "sub"))
		w := newWatcher(t, root)

		removeAll(t, root)
		waitFor(t, w, "root removed", func(e Event) bool { return e.Path == root && e.Op == OpRemove })
		mkdirAll(t, root)
		waitFor(t, w, "root created", func(e Event) bool { return e.Path == root && e.Op == OpCreate })
		write(t, filepath.Join(root, "f.yaml"), "a\n")
		waitPath(t, w, filepath.Join(root, "f.yaml"))
		noErrors(t, w)
	})
}

// gitSync lays out a git-sync v4 root as the git-sync overlay runs it (--root, --link=current):
// each commit checked out into .worktrees/<hash>, and the relative link "current" to the
// one published, which a new link renamed over it replaces.
type gitSync struct {
	root    string // git-sync's --root
	sub     string // the desired-state directory, relative to a checkout
	current string // the worktree that current points to, relative to root
	n       int
}

func newGitSync(t *testing.T, root, sub string, files map[string]string) *gitSync {
	t.Helper()
	g := &gitSync{root: root, sub: sub}
	g.current = g.checkout(t, files)
	symlink(t, g.current, filepath.Join(root, "current"))
	return g
}

// checkout writes the files, relative to the desired-state directory, into a new
// worktree and returns the worktree, relative to root: .worktrees/aaa, .worktrees/bbb...
func (g *gitSync) checkout(t *testing.T, files map[string]string) string {
	t.Helper()
	wt := filepath.Join(".worktrees", strings.Repeat(string(rune('a'+g.n)), 3))
	g.n++
	mkdirAll(t, filepath.Join(g.root, wt, g.sub))
	for name, content := range files {
		p := filepath.Join(g.root, wt, g.sub, name)
		mkdirAll(t, filepath.Dir(p))
		write(t, p, content)
	}
	return wt
}

// desired returns the desired-state directory of a worktree, resolved.
func (g *gitSync) desired(wt string) string { return filepath.Join(g.root, wt, g.sub) }

// swap publishes a new commit: its worktree checked out, and a new link current-tmp to it
// renamed over current. It returns the old worktree, still there.
func (g *gitSync) swap(t *testing.T, files map[string]string) string {
	t.Helper()
	old := g.current
	g.current = g.checkout(t, files)
	symlink(t, g.current, filepath.Join(g.root, "current-tmp"))
	rename(t, filepath.Join(g.root, "current-tmp"), filepath.Join(g.root, "current"))
	return old
}

// publish swaps, then removes the old worktree, as git-sync does.
func (g *gitSync) publish(t *testing.T, files map[string]string) {
	t.Helper()
	removeAll(t, filepath.Join(g.root, g.swap(t, files)))
}

// resolvedTempDir is t.TempDir with its symbolic links resolved, so that the paths that
// the watcher reports from the directories it watches by their resolved names compare
// equal.
func resolvedTempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// watchList returns the paths that fsnotify watches, sorted.
func watchList(w *Watcher) []string {
	l := w.fsw.WatchList()
	slices.Sort(l)
	return l
}

// consistent fails unless the watcher's record of its watches is fsnotify's and every
// watched path is there. The events of the changes made so far must have been read (see
// settle): fsnotify forgets a watch whose directory was deleted when it reads the event.
func consistent(t *testing.T, w *Watcher) {
	t.Helper()
	want := watchedUnder(w, "/")
	if got := watchList(w); !slices.Equal(got, want) {
		t.Errorf("fsnotify watches %v, the watcher records %v", got, want)
	}
	for _, q := range want {
		if _, err := os.Stat(q); err != nil {
			t.Errorf("stale watch on %s: %v", q, err)
		}
	}
}

// TestAncestorLink covers the git-sync deployment: the desired-state directory is below
// the link that git-sync swaps (serve.dir: /desired/current/desired), directly or with a
// real directory in between.
func TestAncestorLink(t *testing.T) {
	for _, sub := range []string{"desired", "config/desired"} {
		t.Run(sub, func(t *testing.T) {
			base := resolvedTempDir(t)
			g := newGitSync(t, base, sub, map[string]string{"a.yaml": "a: 1\n", "sub/s.yaml": "s: 1\n"})
			root := filepath.Join(base, "current", sub)
			w := newWatcher(t, root)
			if !watching(w, base) {
				t.Fatalf("the link's directory %s is not watched: %v", base, watchedUnder(w, "/"))
			}
			write(t, filepath.Join(root, "a.yaml"), "a: 2\n")
			waitPath(t, w, filepath.Join(root, "a.yaml"))
			settle(t, w, root)

			// (1) The swap is reported, as an event for the directory.
			old := g.swap(t, map[string]string{"a.yaml": "a: 3\n", "sub/s.yaml": "s: 2\n"})
			waitFor(t, w, "current swapped", func(e Event) bool { return e.Path == root })
			settle(t, w, root)
			if l := watchedUnder(w, filepath.Join(base, old)); len(l) > 0 {
				t.Errorf("the old worktree is still watched: %v", l)
			}
			// The old worktree, still there, is no longer watched.
			write(t, filepath.Join(g.desired(old), "old-only.yaml"), "o: 1\n")
			quiet(t, w, root, func(e Event) bool { return strings.Contains(e.Path, "old-only") })

			// Its removal breaks nothing.
			removeAll(t, filepath.Join(base, old))
			settle(t, w, root)
			noErrors(t, w)
			consistent(t, w)

			// (2) The new tree is watched, its subdirectories included.
			write(t, filepath.Join(g.desired(g.current), "new.yaml"), "n: 1\n")
			waitPath(t, w, filepath.Join(root, "new.yaml"))
			write(t, filepath.Join(root, "sub/t.yaml"), "t: 1\n")
			waitPath(t, w, filepath.Join(root, "sub/t.yaml"))
			mkdirAll(t, filepath.Join(root, "sub2"))
			write(t, filepath.Join(root, "sub2/u.yaml"), "u: 1\n")
			waitAll(t, w, filepath.Join(root, "sub2"), filepath.Join(root, "sub2/u.yaml"))
			settle(t, w, root)

			// (3) Swap after swap, the watches do not pile up.
			bound := len(watchList(w))
			before := runtime.NumGoroutine()
			for i := range 5 {
				g.publish(t, map[string]string{"a.yaml": fmt.Sprintf("a: %d\n", 10+i), "sub/s.yaml": "s: 1\n"})
				waitFor(t, w, fmt.Sprintf("swap %d", i), func(e Event) bool { return e.Path == root })
				settle(t, w, root)
				consistent(t, w)
				if n := len(watchList(w)); n > bound {
					t.Errorf("swap %d: %d watches, %d after the first: %v", i, n, bound, watchList(w))
				}
				later := filepath.Join(root, "sub", fmt.Sprintf("later%d.yaml", i))
				write(t, later, "l: 1\n")
				waitPath(t, w, later)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("%d goroutines after the swaps, %d before", n, before)
			}
			noErrors(t, w)
		})
	}
}

// TestAncestorLinkBurst holds the watcher while git-sync swaps the link and removes the
// old worktree: the events of the removal, from the watches on the old tree, are read
// after the swap's, some of them after it was handled.
func TestAncestorLinkBurst(t *testing.T) {
	base := resolvedTempDir(t)
	files := map[string]string{"a.yaml": "a: 1\n", "sub/s.yaml": "s: 1\n", "sub/deeper/d.yaml": "d: 1\n"}
	g := newGitSync(t, base, "desired", files)
	root := filepath.Join(base, "current", "desired")
	w := newWatcher(t, root)

	for i := range 3 {
		w.mu.Lock()
		g.publish(t, files)
		w.mu.Unlock()
		waitFor(t, w, "current swapped", func(e Event) bool { return e.Path == root })
		settle(t, w, root)
		consistent(t, w)
		for _, d := range []string{"sub", "sub/deeper"} {
			f := filepath.Join(root, d, fmt.Sprintf("new%d.yaml", i))
			write(t, f, "n: 1\n")
			waitPath(t, w, f)
		}
		noErrors(t, w)
	}
}

// TestStaleRemove feeds the watcher the event that a watch on the old tree may deliver
// after the swap was handled: the removal of a directory that the new tree has too. The
// directory of the new tree must stay watched.
func TestStaleRemove(t *testing.T) {
	base := resolvedTempDir(t)
	g := newGitSync(t, base, "desired", map[string]string{"sub/s.yaml": "s: 1\n"})
	root := filepath.Join(base, "current", "desired")
	w := newWatcher(t, root)
	g.publish(t, map[string]string{"sub/s.yaml": "s: 2\n"})
	waitFor(t, w, "current swapped", func(e Event) bool { return e.Path == root })
	settle(t, w, root)

	w.handle(fsnotify.Event{Name: filepath.Join(root, "sub"), Op: fsnotify.Remove})
	if !watching(w, filepath.Join(root, "sub")) {
		t.Fatalf("sub no longer watched: %v", watchedUnder(w, "/"))
	}
	f := filepath.Join(root, "sub", "new.yaml")
	write(t, f, "n: 1\n")
	waitPath(t, w, f)
	settle(t, w, root)
	consistent(t, w)
	noErrors(t, w)
}

// TestNestedLinks covers links whose targets hold links: current -> wt/aaa, with wt itself
// a link to a store of worktrees (absolute), and the store's worktree a link too. Each
// link on the way is watched, and the swap of any of them is followed.
func TestNestedLinks(t *testing.T) {
	base := resolvedTempDir(t)
	tree := func(store, wt, content string) {
		mkdirAll(t, filepath.Join(base, store, wt, "desired", "sub"))
		write(t, filepath.Join(base, store, wt, "desired", "a.yaml"), content)
	}
	tree(".store1", "real-aaa", "a: 1\n")
	symlink(t, "real-aaa", filepath.Join(base, ".store1", "aaa"))
	symlink(t, filepath.Join(base, ".store1"), filepath.Join(base, "wt"))
	symlink(t, "wt/aaa", filepath.Join(base, "current"))
	root := filepath.Join(base, "current", "desired")
	w := newWatcher(t, root)
	for _, l := range []string{"current", "wt", ".store1/aaa"} {
		if !w.rootLinks[filepath.Join(base, l)] {
			t.Errorf("%s is not among the links on the way: %v", l, w.rootLinks)
		}
	}

	swap := func(target, link string) {
		t.Helper()
		tmp := filepath.Join(filepath.Dir(link), "tmp-link")
		symlink(t, target, tmp)
		rename(t, tmp, link)
		waitFor(t, w, link+" swapped", func(e Event) bool { return e.Path == root })
		settle(t, w, root)
		consistent(t, w)
		f := filepath.Join(root, "sub", "f.yaml")
		write(t, f, target+"\n")
		waitPath(t, w, f)
		settle(t, w, root)
		noErrors(t, w)
	}
	t.Run("the store", func(t *testing.T) {
		tree(".store2", "real-aaa", "a: 2\n")
		symlink(t, "real-aaa", filepath.Join(base, ".store2", "aaa"))
		swap(filepath.Join(base, ".store2"), filepath.Join(base, "wt"))
		if want := filepath.Join(base, ".store2/real-aaa/desired"); w.realRoot != want {
			t.Errorf("resolved to %s, want %s", w.realRoot, want)
		}
		// The old store is no longer watched.
		removeAll(t, filepath.Join(base, ".store1"))
		settle(t, w, root)
		consistent(t, w)
	})
	t.Run("the worktree in the store", func(t *testing.T) {
		tree(".store2", "real-bbb", "a: 3\n")
		swap("real-bbb", filepath.Join(base, ".store2", "aaa"))
	})
	t.Run("the link itself", func(t *testing.T) {
		tree(".store2", "real-ccc", "a: 4\n")
		symlink(t, "real-ccc", filepath.Join(base, ".store2", "ccc"))
		swap("wt/ccc", filepath.Join(base, "current"))
		if _, ok := w.rootLinks[filepath.Join(base, ".store2", "aaa")]; ok {
			t.Errorf("the link left behind is still watched: %v", w.rootLinks)
		}
	})
}

// TestAncestorLinkRecreated covers a link replaced in two steps (ln -sfn: removed, then
// created), and a link first dangling.
func TestAncestorLinkRecreated(t *testing.T) {
	base := resolvedTempDir(t)
	g := newGitSync(t, base, "desired", map[string]string{"a.yaml": "a: 1\n"})
	root := filepath.Join(base, "current", "desired")
	w := newWatcher(t, root)
	link := filepath.Join(base, "current")

	removeAll(t, link)
	waitFor(t, w, "current removed", func(e Event) bool { return e == Event{Path: root, Op: OpRemove} })
	if l := watchedUnder(w, root); len(l) > 0 {
		t.Errorf("still watched without the link: %v", l)
	}
	// Dangling first, then its target appears.
	next := g.checkout(t, nil)
	removeAll(t, filepath.Join(base, next))
	symlink(t, next, link)
	waitFor(t, w, "current created", func(e Event) bool { return e == Event{Path: root, Op: OpCreate} })
	mkdirAll(t, filepath.Join(base, next, "desired"))
	waitFor(t, w, "the target created", func(e Event) bool { return e.Path == root && e.Op == OpCreate })
	f := filepath.Join(root, "f.yaml")
	write(t, f, "f: 1\n")
	waitPath(t, w, f)
	noErrors(t, w)
}

// TestSecretBelowALink covers a secret file in a git-sync checkout, outside the
// desired-state directory: the swap of the link moves its watch to the new worktree.
func TestSecretBelowALink(t *testing.T) {
	root, base := resolvedTempDir(t), resolvedTempDir(t)
	g := newGitSync(t, base, "secrets", map[string]string{"pw": "one\n"})
	pw := filepath.Join(base, "current", "secrets", "pw")
	w := newWatcher(t, root, pw)

	write(t, filepath.Join(g.desired(g.current), "pw"), "two\n")
	waitPath(t, w, filepath.Join(g.desired(g.current), "pw"))
	settle(t, w, root)

	link := filepath.Join(base, "current")
	old := g.swap(t, map[string]string{"pw": "three\n"})
	waitFor(t, w, "current swapped", func(e Event) bool { return e.Path == link })
	settle(t, w, root)
	if l := watchedUnder(w, filepath.Join(base, old)); len(l) > 0 {
		t.Errorf("the old worktree is still watched: %v", l)
	}
	write(t, filepath.Join(g.desired(old), "pw"), "old\n")
	quiet(t, w, root, under(filepath.Join(base, old)))
	removeAll(t, filepath.Join(base, old))

	write(t, filepath.Join(g.desired(g.current), "pw"), "four\n")
	waitPath(t, w, filepath.Join(g.desired(g.current), "pw"))
	settle(t, w, root)
	consistent(t, w)
	noErrors(t, w)
}

func TestResolve(t *testing.T) {
	base := resolvedTempDir(t)
	mkdirAll(t, filepath.Join(base, "real/d"))
	symlink(t, "real", filepath.Join(base, "l1"))
	symlink(t, filepath.Join(base, "l1"), filepath.Join(base, "l2"))
	symlink(t, "../l2/d", filepath.Join(base, "real/up"))
	symlink(t, "loop", filepath.Join(base, "loop"))
	tests := []struct {
		path, real string
		hops       []string
		missing    bool
	}{
		{"real/d", "real/d", nil, false},
		{"l1/d", "real/d", []string{"l1"}, false},
		{"l2/d", "real/d", []string{"l2", "l1"}, false},
		{"l2/up", "real/d", []string{"l2", "l1", "real/up", "l2", "l1"}, false},
		{"l1/missing/x", "real/missing/x", []string{"l1"}, true},
	}
	for _, tt := range tests {
		p := filepath.Clean(filepath.Join(base, tt.path))
		real, hops, err := resolve(p)
		if (err != nil) != tt.missing {
			t.Errorf("resolve(%s): error %v", tt.path, err)
		}
		if want := filepath.Join(base, tt.real); real != want {
			t.Errorf("resolve(%s) = %s, want %s", tt.path, real, want)
		}
		var want []string
		for _, h := range tt.hops {
			want = append(want, filepath.Join(base, h))
		}
		if !slices.Equal(hops, want) {
			t.Errorf("resolve(%s): links %v, want %v", tt.path, hops, want)
		}
		if !tt.missing {
			if eval, err := filepath.EvalSymlinks(p); err != nil || eval != real {
				t.Errorf("EvalSymlinks(%s) = %s, %v", tt.path, eval, err)
			}
		}
	}
	if _, _, err := resolve(filepath.Join(base, "loop/x")); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("resolve(loop/x): error %v, want ELOOP", err)
	}
}

// TestEventsFull checks that a reader that does not keep up never blocks the watcher:
// events are dropped, and one overflow Event is delivered when there is room again.
func TestEventsFull(t *testing.T) {
	root := t.TempDir()
	w, err := New(root, nil, nil) // no debug lines for hundreds of events
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	drops := func() uint64 {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.drops
	}
	waitDrops := func(than uint64) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for drops() <= than {
			if time.Now().After(deadline) {
				t.Fatalf("no event dropped after %d within %v", than, timeout)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, bounded by the deadline
		}
	}
	for i := range eventBuffer + 50 {
		write(t, filepath.Join(root, fmt.Sprintf("f%03d.yaml", i)), "a\n")
	}
	waitDrops(0)
	// The watcher goes on handling events while the channel is full.
	d := drops()
	write(t, filepath.Join(root, "more.yaml"), "a\n")
	waitDrops(d)

	waitFor(t, w, "overflow", func(e Event) bool { return e == Event{Path: root, Op: OpOverflow} })
	// Events flow again.
	last := filepath.Join(root, "last.yaml")
	write(t, last, "a\n")
	waitPath(t, w, last)

	// Close does not wait for a reader.
	d = drops()
	for i := range eventBuffer + 10 {
		write(t, filepath.Join(root, fmt.Sprintf("g%03d.yaml", i)), "a\n")
	}
	waitDrops(d)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestKernelOverflow fills the kernel's queue while the watcher is held, and checks that
// the overflow is reported as an error and an Event, and that watching goes on.
func TestKernelOverflow(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skipf("no inotify queue limit to overflow: %v", err)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || limit > 1<<17 {
		t.Skipf("inotify queue limit %q too large to overflow in a test", data)
	}
	root := t.TempDir()
	mkdirAll(t, filepath.Join(root, "sub"))
	w, err := New(root, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	var files [2]*os.File
	for i := range files {
		f, err := os.Create(filepath.Join(root, fmt.Sprintf("f%d.yaml", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	w.mu.Lock()
	// Alternating files, so that the kernel does not merge consecutive events; beyond
	// the limit, plus what fsnotify reads ahead.
	for i := range limit + 8192 {
		if _, err := files[i%2].Write([]byte("x")); err != nil {
			w.mu.Unlock()
			t.Fatal(err)
		}
	}
	w.mu.Unlock()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var sawError, sawEvent bool
	for !sawError || !sawEvent {
		select {
		case err := <-w.Errors():
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				t.Fatalf("error %v, want an overflow", err)
			}
			sawError = true
		case e := <-w.Events():
			sawEvent = sawEvent || e == Event{Path: root, Op: OpOverflow}
		case <-deadline.C:
			t.Fatalf("within %v: overflow error %v, overflow event %v", timeout, sawError, sawEvent)
		}
	}
	// Watching goes on. The events of the overflow may still be arriving and fill the
	// channel again, so a file's event may be coalesced into an overflow Event: then
	// write another.
	for i := 0; ; i++ {
		if i == 20 {
			t.Fatal("every event of a new file was coalesced into an overflow")
		}
		later := filepath.Join(root, "sub", fmt.Sprintf("later%d.yaml", i))
		write(t, later, "a\n")
		e := Event{}
		waitFor(t, w, later, func(ev Event) bool {
			e = ev
			return ev.Path == later || ev.Op == OpOverflow
		})
		if e.Path == later {
			break
		}
	}
}

func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	root := t.TempDir()
	w, err := New(root, []string{filepath.Join(t.TempDir(), "pw")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "f.yaml"), "a\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for events, errs := w.Events(), w.Errors(); events != nil || errs != nil; {
		select {
		case _, ok := <-events:
			if !ok {
				events = nil
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
			}
		case <-deadline.C:
			t.Fatalf("the channels are not closed within %v", timeout)
		}
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.SetFiles([]string{"/x"}); !errors.Is(err, fsnotify.ErrClosed) {
		t.Errorf("SetFiles after Close: %v, want ErrClosed", err)
	}
	for n := runtime.NumGoroutine(); n > before; n = runtime.NumGoroutine() {
		select {
		case <-deadline.C:
			t.Fatalf("%d goroutines after Close, %d before New", n, before)
		case <-time.After(5 * time.Millisecond): // polling, bounded by the deadline
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name       string
		skip, yaml bool
	}{
		{"f.yaml", false, true},
		{"F.YML", false, true},
		{"f.json", false, false},
		{".f.yaml", true, true},
		{"..data", true, false},
		{"f.yaml~", true, false},
		{".f.yaml.swp", true, false},
		{"f.swo", true, false},
		{"#f.yaml#", true, false},
		{"#f.yaml", false, true},
	}
	for _, tt := range tests {
		if got := desired.SkipName(tt.name); got != tt.skip {
			t.Errorf("desired.SkipName(%q) = %v", tt.name, got)
		}
		if got := desired.IsYAMLName(tt.name); got != tt.yaml {
			t.Errorf("desired.IsYAMLName(%q) = %v", tt.name, got)
		}
	}
	for _, tt := range []struct {
		path, dir string
		want      bool
	}{
		{"/a/b", "/a", true},
		{"/a", "/a", true},
		{"/ab", "/a", false},
		{"/a", "/a/b", false},
		{"/a", "/", true},
	} {
		if got := within(tt.path, tt.dir); got != tt.want {
			t.Errorf("within(%q, %q) = %v", tt.path, tt.dir, got)
		}
	}
}
