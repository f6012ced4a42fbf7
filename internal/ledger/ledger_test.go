package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/ledger"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

const tenantURL = "https://acme.api.identitynow.com"

func open(t *testing.T, dir, url string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), dir, url, sdim.V3, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestRoundTripAndFileMode(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, tenantURL)
	if len(l.Entries()) != 0 {
		t.Fatal("a new ledger owns something")
	}
	fp := l.Fingerprint("planted-secret-value")
	l.Record(ledger.Entry{Kind: sdim.KindServiceDesk, ID: "id-1", Name: "ServiceNow", SpecDigest: "abc",
		Secrets: map[string]string{"/attributes/password": fp}}, "run-1")
	l.Record(ledger.Entry{Kind: sdim.KindServiceDesk, ID: "id-2", Name: "Jira", Adopted: true}, "run-1")
	l.Record(ledger.Entry{Kind: sdim.KindServiceDesk, ID: "id-1", Name: "ServiceNow Prod", SpecDigest: "def"}, "run-2")
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	info, err := os.Stat(l.File())
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	data, _ := os.ReadFile(l.File())
	plain := sha256.Sum256([]byte("planted-secret-value"))
	if strings.Contains(string(data), "planted-secret-value") || strings.Contains(string(data), hex.EncodeToString(plain[:])) {
		t.Error("the ledger file holds the secret or its unkeyed hash")
	}
	if !strings.Contains(string(data), `"formatVersion": 1`) {
		t.Errorf("no format version:\n%s", data)
	}

	again := open(t, dir, tenantURL)
	es := again.Entries()
	if len(es) != 2 || es[0].Name != "Jira" || es[1].Name != "ServiceNow Prod" || es[1].SpecDigest != "def" || es[1].Run != "run-2" {
		t.Fatalf("entries after reopening: %+v", es)
	}
	if again.Fingerprint("planted-secret-value") != fp {
		t.Error("the same ledger gives another fingerprint for the same value")
	}
	if e, ok := again.Lookup(sdim.KindServiceDesk, "", "Jira"); !ok || !e.Adopted {
		t.Errorf("lookup by name: %+v %v", e, ok)
	}
	again.Forget(sdim.KindServiceDesk, "id-2", "")
	if _, ok := again.Lookup(sdim.KindServiceDesk, "id-2", ""); ok {
		t.Error("forgotten entry still there")
	}
}

func TestFingerprintsAreKeyed(t *testing.T) {
	a := open(t, t.TempDir(), tenantURL)
	b := open(t, t.TempDir(), tenantURL)
	if a.Fingerprint("x") == b.Fingerprint("x") {
		t.Error("two ledgers share a key")
	}
	if a.Fingerprint("x") == a.Fingerprint("y") {
		t.Error("different values, same fingerprint")
	}
}

func TestOneWriterAtATime(t *testing.T) {
	dir := t.TempDir()
	first := open(t, dir, tenantURL)
	start := time.Now()
	_, err := ledger.Open(context.Background(), dir, tenantURL, sdim.V3, ledger.Options{LockWait: 200 * time.Millisecond})
	var locked *ledger.LockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "in use by another sdim-sync (pid ") {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Error("did not wait for the lock")
	}
	first.Close()
	second := open(t, dir, tenantURL)
	second.Close()
}

func TestUnreadableOrForeignLedgersAreErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"damaged", func(t *testing.T, dir string) {
			os.WriteFile(ledger.Path(dir, tenantURL, sdim.V3), []byte("{not json"), 0o600)
		}, "is damaged"},
		{"unknown field", func(t *testing.T, dir string) {
			os.WriteFile(ledger.Path(dir, tenantURL, sdim.V3), []byte(`{"formatVersion":1,"bogus":1}`), 0o600)
		}, "is damaged"},
		{"another version", func(t *testing.T, dir string) {
			os.WriteFile(ledger.Path(dir, tenantURL, sdim.V3), []byte(`{"formatVersion":9,"tenantURL":"`+tenantURL+`","apiVersion":"v3","key":"AAAAAAAAAAAAAAAAAAAAAA==","entries":[]}`), 0o600)
		}, "formatVersion 9"},
		{"another tenant's file under this name", func(t *testing.T, dir string) {
			l := open(t, dir, "https://other.api.identitynow.com")
			l.Record(ledger.Entry{Kind: sdim.KindServiceDesk, ID: "x", Name: "x"}, "r")
			if err := l.Save(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			data, _ := os.ReadFile(l.File())
			os.WriteFile(ledger.Path(dir, tenantURL, sdim.V3), data, 0o600)
		}, "not used for another tenant"},
		{"unreadable", func(t *testing.T, dir string) {
			os.Mkdir(ledger.Path(dir, tenantURL, sdim.V3), 0o700) // a directory where the file should be
		}, "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := ledger.Open(context.Background(), dir, tenantURL, sdim.V3, ledger.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	// Each tenant and API version has its own file.
	dir := t.TempDir()
	if ledger.Path(dir, tenantURL, sdim.V3) == ledger.Path(dir, tenantURL, sdim.V2024) ||
		ledger.Path(dir, tenantURL, sdim.V3) == ledger.Path(dir, "https://other.api.identitynow.com", sdim.V3) {
		t.Error("two tenants share a ledger file")
	}
}

// TestReadOnly: a plan reads the ledger without creating the directory or a lock, sees what
// a writer saved even while the writer holds the lock, still refuses a damaged ledger, and
// cannot save.
func TestReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	empty, err := ledger.OpenReadOnly(dir, tenantURL, sdim.V3, ledger.Options{})
	if err != nil || len(empty.Entries()) != 0 {
		t.Fatalf("missing ledger: %v %v", empty, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read-only open created the state directory: %v", err)
	}
	w := open(t, dir, tenantURL)
	s := sdim.NewSecret("planted-secret-value", "env:X")
	w.Record(ledger.Entry{Kind: sdim.KindServiceDesk, ID: "id-1", Name: "A", Secrets: map[string]string{"/attributes/password": w.SecretFingerprint(s)}}, "r")
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	if w.SecretFingerprint(s) != w.Fingerprint("planted-secret-value") {
		t.Error("SecretFingerprint and Fingerprint disagree")
	}
	r, err := ledger.OpenReadOnly(dir, tenantURL, sdim.V3, ledger.Options{}) // the writer still holds the lock
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := r.Lookup(sdim.KindServiceDesk, "id-1", ""); !ok || e.Secrets["/attributes/password"] != r.SecretFingerprint(s) {
		t.Errorf("read-only view: %+v %v", e, ok)
	}
	r.Forget(sdim.KindServiceDesk, "id-1", "")
	if err := r.Save(); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("save of a read-only ledger: %v", err)
	}
	os.WriteFile(ledger.Path(dir, tenantURL, sdim.V3), []byte("{not json"), 0o600)
	if _, err := ledger.OpenReadOnly(dir, tenantURL, sdim.V3, ledger.Options{}); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("damaged ledger, read-only: %v", err)
	}
	if _, err := ledger.OpenReadOnly(dir, "https://other.api.identitynow.com", sdim.V3, ledger.Options{}); err != nil {
		t.Errorf("another tenant's ledger is its own file: %v", err)
	}
}
