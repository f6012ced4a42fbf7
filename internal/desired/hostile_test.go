package desired_test

import (
	"net"
	"os"
	"path/filepath"
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
