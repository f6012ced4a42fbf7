package desired_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/desired"
)

func TestScanTellsContentFromTouches(t *testing.T) {
	const doc = "kind: ServiceDeskIntegration\nname: A\nspec: {type: ServiceNowSDIM, attributes: {url: x}}\n"
	tests := []struct {
		name        string
		change      func(t *testing.T, dir, secret string)
		changed     bool // the digest as a whole
		stateChange bool // the YAML part alone
	}{
		{"touch", func(t *testing.T, dir, _ string) {
			later := time.Now().Add(time.Hour)
			must(t, os.Chtimes(filepath.Join(dir, "a.yaml"), later, later))
		}, false, false},
		{"rewrite with the same bytes", func(t *testing.T, dir, _ string) { write(t, filepath.Join(dir, "a.yaml"), doc) }, false, false},
		{"a file the loader skips", func(t *testing.T, dir, _ string) {
			write(t, filepath.Join(dir, ".a.yaml.swp"), "x")
			write(t, filepath.Join(dir, "notes.txt"), "x")
		}, false, false},
		{"an edit", func(t *testing.T, dir, _ string) { write(t, filepath.Join(dir, "a.yaml"), doc+"# more\n") }, true, true},
		{"a new file in a new directory", func(t *testing.T, dir, _ string) {
			must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
			write(t, filepath.Join(dir, "sub", "b.yml"), doc)
		}, true, true},
		{"a rename", func(t *testing.T, dir, _ string) {
			must(t, os.Rename(filepath.Join(dir, "a.yaml"), filepath.Join(dir, "c.yaml")))
		}, true, true},
		{"a delete", func(t *testing.T, dir, _ string) { must(t, os.Remove(filepath.Join(dir, "a.yaml"))) }, true, true},
		{"a secret file's new value", func(t *testing.T, _, secret string) { write(t, secret, "rotated") }, true, false},
		{"a secret file removed", func(t *testing.T, _, secret string) { must(t, os.Remove(secret)) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			secret := filepath.Join(t.TempDir(), "password")
			write(t, filepath.Join(dir, "a.yaml"), doc)
			write(t, secret, "s3cret")
			before, err := desired.Scan(dir, []string{secret})
			must(t, err)
			tt.change(t, dir, secret)
			after, err := desired.Scan(dir, []string{secret})
			must(t, err)
			if got := !before.Equal(after); got != tt.changed {
				t.Errorf("digest changed = %v, want %v", got, tt.changed)
			}
			if got := before.State != after.State; got != tt.stateChange {
				t.Errorf("state digest changed = %v, want %v", got, tt.stateChange)
			}
		})
	}
}

func TestScanAgreesWithLoad(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secrets", "pw")
	must(t, os.MkdirAll(filepath.Dir(secret), 0o755))
	write(t, secret, "s3cret\n")
	write(t, filepath.Join(dir, "a.yaml"), "kind: ServiceDeskIntegration\nname: A\nspec: {type: T, attributes: {password: '${file:secrets/pw}'}}\n")
	st, err := desired.Load(dir)
	must(t, err)
	real, err := filepath.EvalSymlinks(secret)
	must(t, err)
	if len(st.SecretFiles) != 1 || st.SecretFiles[0] != real {
		t.Fatalf("SecretFiles = %q, want [%s]", st.SecretFiles, real)
	}
	d, err := desired.Scan(dir, st.SecretFiles)
	must(t, err)
	if d.Files != st.Files || d.State != st.Digest || len(st.Digest) != 64 {
		t.Errorf("Scan: %d files, digest %q; Load read %d files, digest %q", d.Files, d.State, st.Files, st.Digest)
	}
	if !d.Equal(st.Inputs) {
		t.Error("Scan of what Load read differs from the load's Inputs")
	}
	if len(st.Paths) != 1 || st.Paths[0] != "a.yaml" {
		t.Errorf("Paths = %q", st.Paths)
	}
	if _, err := desired.Scan(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("Scan of a missing directory: no error")
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(s), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A desired directory that is a symbolic link (a git-sync checkout swaps one) loads and
// scans its files, with paths relative to the link.
func TestLoadAndScanThroughASymlinkedDirectory(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "rev-1")
	must(t, os.MkdirAll(filepath.Join(target, "sub"), 0o755))
	write(t, filepath.Join(target, "sub", "a.yaml"), "kind: ServiceDeskIntegration\nname: A\nspec: {type: T, attributes: {url: x}}\n")
	link := filepath.Join(base, "current")
	must(t, os.Symlink("rev-1", link))
	st, err := desired.Load(link)
	must(t, err)
	if st.Files != 1 || len(st.ServiceDesk) != 1 || st.ServiceDesk[0].Source.File != "sub/a.yaml" {
		t.Fatalf("loaded %d files, %d integrations, source %+v", st.Files, len(st.ServiceDesk), st.ServiceDesk)
	}
	d, err := desired.Scan(link, nil)
	must(t, err)
	if d.Files != 1 {
		t.Errorf("Scan through the link found %d files", d.Files)
	}
}
