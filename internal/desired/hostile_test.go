package desired_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/desired"
)

// loadWithin loads dir, failing the test if Load takes longer than a few seconds (a FIFO
// opened for reading blocks until a writer comes: that must never happen).
func loadWithin(t *testing.T, dir string, opts ...desired.Option) (*desired.State, error) {
	t.Helper()
	type result struct {
		st  *desired.State
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := desired.Load(dir, opts...)
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

// Special files named by ${file:...} are refused with what they are, never opened in a
// way that blocks.
func TestSecretFileSpecialFiles(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"a FIFO", func(t *testing.T, path string) { must(t, syscall.Mkfifo(path, 0o600)) }, "named pipe (FIFO)"},
		{"a socket", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			must(t, err)
			t.Cleanup(func() { ln.Close() })
		}, "a socket"},
		{"a device", func(t *testing.T, path string) { must(t, os.Symlink("/dev/null", path)) }, "character device"},
		{"a directory", func(t *testing.T, path string) { must(t, os.Mkdir(path, 0o700)) }, "a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.make(t, filepath.Join(dir, "secret"))
			write(t, filepath.Join(dir, "a.yaml"), "kind: ServiceDeskIntegration\nname: A\nspec: {type: T, attributes: {password: '${file:secret}'}}\n")
			_, err := loadWithin(t, dir, desired.WithSecretFilesOutside(true)) // /dev/null is outside
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "a.yaml:3") {
				t.Fatalf("got %v, want a problem at a.yaml:3 saying %q", err, tt.want)
			}
		})
	}
}

// A *.yaml that is a FIFO, a socket, or a link to one is refused with what it is, and
// neither Load nor Scan (the daemon's change detector) waits on it.
func TestSpecialYAMLFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "good.yaml"), "kind: ServiceDeskIntegration\nname: A\nspec: {type: T, attributes: {}}\n")
	must(t, syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o600))
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))
	must(t, syscall.Mkfifo(filepath.Join(dir, "sub", "p"), 0o600))
	must(t, os.Symlink(filepath.Join("sub", "p"), filepath.Join(dir, "linked.yml")))
	sock := filepath.Join(dir, "s.yaml")
	ln, err := net.Listen("unix", sock)
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	_, err = loadWithin(t, dir)
	for _, want := range []string{
		"pipe.yaml: not a regular file but a named pipe (FIFO)",
		"linked.yml: not a regular file but a named pipe (FIFO)",
		"s.yaml: not a regular file but a socket",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load: %v\nwant %q", err, want)
		}
	}
	done := make(chan error, 1)
	go func() { _, err := desired.Scan(dir, nil); done <- err }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Scan blocked for 5 s")
	}
	// A FIFO named as the directory itself, or as the single file to load, is refused too.
	if _, err := loadWithin(t, filepath.Join(dir, "pipe.yaml")); err == nil || !strings.Contains(err.Error(), "neither a directory nor a regular file") {
		t.Errorf("Load(a FIFO) = %v", err)
	}
}

// Links: a *.yaml link that leads outside the directory is refused without reading it
// (so a link to /etc/passwd prints nothing of it), while a Kubernetes ConfigMap mount
// (links into ..data, itself a link to a timestamped directory) and a directory that is
// itself a link (git-sync) load.
func TestSymlinkBoundary(t *testing.T) {
	base := t.TempDir()
	rev := filepath.Join(base, "rev-1")
	must(t, os.Mkdir(rev, 0o700))
	stamp := filepath.Join(rev, "..2026_01_01_00_00_00.000000001")
	must(t, os.Mkdir(stamp, 0o700))
	write(t, filepath.Join(stamp, "desk.yaml"), "kind: ServiceDeskIntegration\nname: From a ConfigMap\nspec: {type: T, attributes: {}}\n")
	must(t, os.Symlink("..2026_01_01_00_00_00.000000001", filepath.Join(rev, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "desk.yaml"), filepath.Join(rev, "desk.yaml")))
	current := filepath.Join(base, "current") // git-sync's link to the checked-out revision
	must(t, os.Symlink("rev-1", current))
	for _, dir := range []string{rev, current} {
		st, err := loadWithin(t, dir)
		if err != nil || len(st.ServiceDesk) != 1 || st.ServiceDesk[0].Name != "From a ConfigMap" {
			t.Fatalf("Load(%s) = %+v, %v; want the ConfigMap's integration", dir, st, err)
		}
	}

	must(t, os.Symlink("/etc/passwd", filepath.Join(rev, "passwd.yaml")))
	write(t, filepath.Join(base, "outside.yaml"), "kind: ServiceDeskIntegration\nname: Outside\nspec: {type: T, attributes: {}}\n")
	must(t, os.Symlink(filepath.Join("..", "outside.yaml"), filepath.Join(rev, "up.yaml")))
	for _, dir := range []string{rev, current} {
		_, err := loadWithin(t, dir)
		if err == nil {
			t.Fatalf("Load(%s) accepted links outside", dir)
		}
		msg := err.Error()
		for _, want := range []string{
			"passwd.yaml: a symbolic link (to /etc/passwd) that leads outside the desired directory",
			"up.yaml: a symbolic link (to ../outside.yaml) that leads outside the desired directory",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("Load(%s): %s\nwant %q", dir, msg, want)
			}
		}
		if strings.Contains(msg, "root:") || strings.Contains(msg, "Outside") || strings.Contains(msg, "ConfigMap") {
			t.Errorf("Load(%s) printed a linked file's content: %s", dir, msg)
		}
	}
}

// A file inside the directory that is plainly not a desired state (no kind, and no key
// of a document) gets one problem that quotes none of its keys or values.
func TestNoContentOfOtherFiles(t *testing.T) {
	dir := t.TempDir()
	passwd := "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
	write(t, filepath.Join(dir, "passwd.yaml"), passwd)
	// The same lines as keys and values, as in a config file.
	write(t, filepath.Join(dir, "as-keys.yaml"), strings.ReplaceAll(passwd, ":x:", ": x:"))
	write(t, filepath.Join(dir, "app.yaml"), "db_password: planted-s3cr3t\napi:\n  token: planted-t0ken\nhosts: [db.internal]\n")
	_, err := loadWithin(t, dir)
	if err == nil {
		t.Fatal("Load accepted files that are not desired states")
	}
	msg := err.Error()
	for _, leak := range []string{"root", "daemon", "/bin/bash", "nologin", "db_password", "planted", "token", "hosts", "db.internal"} {
		if strings.Contains(msg, leak) {
			t.Errorf("the problems quote %q of the files:\n%s", leak, msg)
		}
	}
	for _, want := range []string{
		"as-keys.yaml:1:1: not a desired-state document: it has no kind, and none of its 3 keys is a key of one",
		"app.yaml:1:1: not a desired-state document",
		"passwd.yaml:1:1: a document must be a mapping with kind, name and spec, not a string",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the problems lack %q:\n%s", want, msg)
		}
	}
}

// Aliases are bounded by the text they expand to, not only by their number of nodes: a
// 1 MB file of aliases to one large string (1 GB of text once expanded) and a billion
// laughs are refused at their line, quickly and without the memory the expansion would
// take.
func TestAliasExpansionBounded(t *testing.T) {
	large := strings.Repeat("x", 512<<10)
	var b strings.Builder
	b.WriteString("kind: ServiceDeskIntegration\nname: Large\nspec:\n  type: T\n  attributes:\n    big: &big " + large + "\n    copies:\n")
	for b.Len() < 1<<20 {
		b.WriteString("    - *big\n")
	}
	laughs := "kind: ServiceDeskIntegration\nname: Laughs\nspec:\n  type: T\n  attributes:\n    a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	for c := 'b'; c <= 'i'; c++ {
		laughs += fmt.Sprintf("    %c: &%c [%s]\n", c, c, strings.Repeat("*"+string(c-1)+", ", 9)+"*"+string(c-1))
	}
	for _, tt := range []struct {
		name, text, want string
	}{
		{"aliases to one large string", b.String(), "large.yaml:40:7: the aliases of this file expand to more than 16 MiB of text (an alias bomb?)"},
		{"billion laughs", laughs, "large.yaml:10:40: the aliases of this file expand to more than 100000 nodes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "large.yaml"), tt.text)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := loadWithin(t, dir)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "(an alias bomb?)") {
				t.Fatalf("Load: %v\nwant %q", err, tt.want)
			}
			if strings.Count(err.Error(), "\n") != 1 {
				t.Errorf("want one problem: %v", err)
			}
			t.Logf("refused in %v, %d MB allocated", elapsed.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20)
			// The file is 1 MB; its expansion would be 1 GB. Parsing takes some tens of MB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 200<<20 {
				t.Errorf("Load allocated %d MB", alloc>>20)
			}
			if elapsed > 3*time.Second {
				t.Errorf("Load took %v", elapsed)
			}
		})
	}
}

// Numbers are kept exactly: integers beyond 64 bits and float spellings as json.Number
// with their digits, integers within 64 bits as int64.
func TestNumbersExact(t *testing.T) {
	huge := "1" + strings.Repeat("234567890", 44)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "n.yaml"), "kind: ServiceDeskIntegration\nname: N\nspec:\n  type: T\n  attributes:\n"+
		"    big: 123456789012345678901234567890\n    neg: -9223372036854775809\n    floatint: 9007199254740993.0\n"+
		"    int: 9007199254740993\n    huge: "+huge+"\n    exp: 1.5e400\n    tagged: !!int 18446744073709551617\n"+
		"    yamlish: [.5, +1, 1_000, 1., 0x1F, 0o17, -0, 1e3]\n    quoted: \"0123\"\n")
	st, err := loadWithin(t, dir)
	must(t, err)
	got := st.ServiceDesk[0].Spec.Attributes
	want := map[string]any{
		"big": json.Number("123456789012345678901234567890"), "neg": json.Number("-9223372036854775809"),
		"floatint": json.Number("9007199254740993.0"), "int": int64(9007199254740993), "huge": json.Number(huge),
		"exp": json.Number("1.5e400"), "tagged": json.Number("18446744073709551617"),
		"yamlish": []any{json.Number("0.5"), int64(1), int64(1000), int64(1), int64(31), int64(15), int64(0), json.Number("1e3")},
		"quoted":  "0123",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attributes\n got %#v\nwant %#v", got, want)
	}
	// Every value is one JSON can carry as it is.
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("json.Marshal: %v", err)
	}
}

// TestLargeMergeStaysLinear: a small mapping merging a large one (<< with 200,000 keys,
// 3 MB) looked each merged key up by a linear search, as only mappings with more than 32
// keys of their own were indexed: a load took about 80 s. Now one takes well under a
// second; the bound of loadWithin is generous.
func TestLargeMergeStaysLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("kind: ServiceDeskIntegration\nname: Merged\nspec:\n  type: T\n  attributes:\n    own: 1\n    <<: {")
	const keys = 200_000
	for i := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "k%d: %d", i, i)
	}
	b.WriteString("}\n")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "merge.yaml"), b.String())
	st, err := loadWithin(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(st.ServiceDesk[0].Spec.Attributes); got != keys+1 {
		t.Errorf("%d attributes, want %d", got, keys+1)
	}
}
