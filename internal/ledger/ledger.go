// Package ledger is sdim-sync's memory of what it applied to a tenant: for each object it
// created, changed or was told to adopt, its kind, id and name, a digest of the canonical
// spec it last applied (secrets excluded), a keyed fingerprint of each secret value it
// sent, and when and in which run. Pruning deletes only what the ledger owns; drift is
// classed by comparing the desired state, the tenant and the ledger; a rotated secret is
// noticed by its fingerprint.
//
// One file per tenant (base URL and API version) in a state directory, written
// atomically (temporary file, fsync, rename, fsync of the directory) with mode 0600, and
// one writer at a time (an exclusive lock on a companion file). A missing ledger is an
// empty one, which owns nothing; a ledger that cannot be read is an error, never silently
// an empty one.
package ledger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// FormatVersion is the version of the ledger file this code writes and reads.
const FormatVersion = 1

// Entry is what the ledger remembers of one object.
type Entry struct {
	Kind sdim.Kind `json:"kind"`
	// ID is the tenant's id of the object ("" for the status-check configuration, a singleton).
	ID   string `json:"id"`
	Name string `json:"name"`
	// SpecDigest is the hex SHA-256 of the canonical spec last applied, secrets excluded
	// ("" for an adopted object nothing was applied to yet).
	SpecDigest string `json:"specDigest,omitempty"`
	// Secrets maps the JSON pointer of each secret value sent to its keyed fingerprint
	// (HMAC-SHA256 under the ledger's key): never the value, never an unkeyed hash.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Adopted says the object was recorded by adopt rather than by an apply.
	Adopted bool `json:"adopted,omitempty"`
	// At and Run say when and in which run the entry was last written.
	At  time.Time `json:"at"`
	Run string    `json:"run,omitempty"`
}

// file is the ledger file's layout.
type file struct {
	FormatVersion int    `json:"formatVersion"`
	TenantURL     string `json:"tenantURL"`
	APIVersion    string `json:"apiVersion"`
	// Key is the random HMAC key of the secret fingerprints, base64. It is what makes a
	// fingerprint useless to anyone without the file, and it never leaves the file.
	Key     string  `json:"key"`
	Entries []Entry `json:"entries"`
}

// Options tune Open.
type Options struct {
	// LockWait is how long Open waits for another process's lock before refusing
	// (default 0: refuse at once).
	LockWait time.Duration
	Clock    clock.Clock
}

// Ledger is one tenant's ledger, open and locked by this process until Close.
type Ledger struct {
	path string
	lock *os.File
	// readOnly marks a ledger opened by OpenReadOnly: Save refuses.
	readOnly bool
	clock    clock.Clock
	key      []byte
	data     file
	dirty    bool
}

// Path returns the file a tenant's ledger lives in below dir.
func Path(dir, tenantURL string, v sdim.APIVersion) string {
	sum := sha256.Sum256([]byte(strings.TrimRight(tenantURL, "/") + "\n" + string(v)))
	host := tenantURL
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, host)
	if len(host) > 60 {
		host = host[:60]
	}
	return filepath.Join(dir, fmt.Sprintf("ledger-%s-%s-%s.json", host, v, hex.EncodeToString(sum[:6])))
}

// LockedError is Open's refusal when another process holds the ledger.
type LockedError struct {
	Path   string
	Holder string // what the holder wrote into the lock file: its pid and command
}

func (e *LockedError) Error() string {
	holder := ""
	if e.Holder != "" {
		holder = " (" + e.Holder + ")"
	}
	return fmt.Sprintf("the ledger %s is in use by another sdim-sync%s: one writer at a time; wait for it to end, or give this one another --state-dir if it manages another tenant", e.Path, holder)
}

// Open opens (or starts) the ledger of the tenant at tenantURL, API version v, in dir,
// creating dir (mode 0700) when missing, and locks it against other processes.
func Open(ctx context.Context, dir, tenantURL string, v sdim.APIVersion, o Options) (*Ledger, error) {
	if dir == "" {
		return nil, errors.New("ledger: no state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: state directory %s: %w", dir, err)
	}
	path := Path(dir, tenantURL, v)
	lock, err := acquire(ctx, path+".lock", o.LockWait)
	if err != nil {
		return nil, err
	}
	l := &Ledger{path: path, lock: lock, clock: clock.Or(o.Clock)}
	if err := l.read(tenantURL, v); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// OpenReadOnly reads the ledger of the tenant at tenantURL, API version v, in dir, without
// creating anything and without a lock, for a run that only plans: a plan must not need
// write access to the state directory. The ledger is written by atomic renames, so a read
// sees one whole version. A missing ledger (or state directory) is an empty one; a
// damaged, unreadable or foreign one is the same error as Open's. Save refuses.
func OpenReadOnly(dir, tenantURL string, v sdim.APIVersion, o Options) (*Ledger, error) {
	if dir == "" {
		return nil, errors.New("ledger: no state directory")
	}
	l := &Ledger{path: Path(dir, tenantURL, v), clock: clock.Or(o.Clock), readOnly: true}
	if err := l.read(tenantURL, v); err != nil {
		return nil, err
	}
	return l, nil
}

// ReadOnly reports whether the ledger was opened by OpenReadOnly.
func (l *Ledger) ReadOnly() bool { return l.readOnly }

// acquire takes an exclusive lock on path, waiting up to wait for another holder.
func acquire(ctx context.Context, path string, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: lock file: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("ledger: lock %s: %w", path, err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			holder, _ := os.ReadFile(path)
			f.Close()
			return nil, &LockedError{Path: strings.TrimSuffix(path, ".lock"), Holder: strings.TrimSpace(string(holder))}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	exe, _ := os.Executable()
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+" "+filepath.Base(exe)+"\n"), 0)
	return f, nil
}

// read loads the file, or starts an empty ledger with a new key when there is none.
func (l *Ledger) read(tenantURL string, v sdim.APIVersion) error {
	data, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		l.key = make([]byte, 32)
		if _, err := rand.Read(l.key); err != nil {
			return fmt.Errorf("ledger: a new key: %w", err)
		}
		l.data = file{FormatVersion: FormatVersion, TenantURL: tenantURL, APIVersion: string(v),
			Key: base64.StdEncoding.EncodeToString(l.key), Entries: []Entry{}}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger %s cannot be read: %w (sdim-sync will not treat it as empty: that would disown every object)", l.path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l.data); err != nil {
		return fmt.Errorf("ledger %s is damaged: %w; move it aside to start an empty ledger (which owns nothing: see docs/ledger.md, recovery)", l.path, err)
	}
	switch {
	case l.data.FormatVersion != FormatVersion:
		return fmt.Errorf("ledger %s has formatVersion %d; this sdim-sync reads %d", l.path, l.data.FormatVersion, FormatVersion)
	case l.data.TenantURL != tenantURL || l.data.APIVersion != string(v):
		return fmt.Errorf("ledger %s belongs to %s (%s), not %s (%s): it is not used for another tenant", l.path, l.data.TenantURL, l.data.APIVersion, tenantURL, v)
	}
	l.key, err = base64.StdEncoding.DecodeString(l.data.Key)
	if err != nil || len(l.key) < 16 {
		return fmt.Errorf("ledger %s is damaged: its key is not a base64 key of 16 bytes or more", l.path)
	}
	if l.data.Entries == nil {
		l.data.Entries = []Entry{}
	}
	return nil
}

// File is the path of the ledger's file.
func (l *Ledger) File() string { return l.path }

// Fingerprint is the keyed fingerprint of a secret value: HMAC-SHA256 under the ledger's
// key, hex. Equal values give equal fingerprints within one ledger; without the key the
// fingerprint says nothing about the value.
func (l *Ledger) Fingerprint(value string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// SecretFingerprint is the keyed fingerprint of a secret value under the ledger's key
// (sdim.Secret.Fingerprint): equal to Fingerprint of its value, computed without the value
// leaving internal/sdim.
func (l *Ledger) SecretFingerprint(s sdim.Secret) string { return s.Fingerprint(l.key) }

// Entries returns a copy of every entry, by kind then name.
func (l *Ledger) Entries() []Entry {
	out := slices.Clone(l.data.Entries)
	sortEntries(out)
	return out
}

// Lookup finds the entry of an object by kind and id, or, when id is "", by kind and name.
func (l *Ledger) Lookup(kind sdim.Kind, id, name string) (Entry, bool) {
	for _, e := range l.data.Entries {
		if e.Kind != kind {
			continue
		}
		if id != "" && e.ID == id || id == "" && e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// Record adds or replaces the entry of e's object (matched by kind and id, or by kind
// and name for an object without an id), stamping it with the time and run.
func (l *Ledger) Record(e Entry, run string) {
	e.At, e.Run = l.clock.Now().UTC(), run
	for i, old := range l.data.Entries {
		if old.Kind == e.Kind && (e.ID != "" && old.ID == e.ID || e.ID == "" && old.Name == e.Name) {
			l.data.Entries[i] = e
			l.dirty = true
			return
		}
	}
	l.data.Entries = append(l.data.Entries, e)
	l.dirty = true
}

// Forget removes the entry of an object (after its delete).
func (l *Ledger) Forget(kind sdim.Kind, id, name string) {
	l.data.Entries = slices.DeleteFunc(l.data.Entries, func(e Entry) bool {
		return e.Kind == kind && (id != "" && e.ID == id || id == "" && e.Name == name)
	})
	l.dirty = true
}

// Save writes the ledger atomically when it changed: a temporary file in the same
// directory (mode 0600), fsync, rename over the ledger, fsync of the directory.
func (l *Ledger) Save() error {
	if !l.dirty {
		return nil
	}
	if l.readOnly {
		return fmt.Errorf("ledger %s was opened read-only (by a plan): it cannot be saved", l.path)
	}
	sortEntries(l.data.Entries)
	data, err := json.MarshalIndent(l.data, "", "  ")
	if err != nil {
		return fmt.Errorf("ledger: encode: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(l.path)
	tmp, err := os.CreateTemp(dir, ".ledger-*.tmp")
	if err != nil {
		return fmt.Errorf("ledger: write %s: %w", l.path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), l.path)
		}
		if err != nil {
			return fmt.Errorf("ledger: write %s: %w", l.path, err)
		}
	} else {
		tmp.Close()
		return fmt.Errorf("ledger: write %s: %w", l.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	l.dirty = false
	return nil
}

// Close releases the lock. It does not save.
func (l *Ledger) Close() error {
	if l.lock == nil {
		return nil
	}
	err := l.lock.Close() // closing the descriptor releases the flock
	l.lock = nil
	return err
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
}
