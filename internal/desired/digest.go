package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strconv"
)

// Digest identifies the content of a desired state's inputs: every YAML file Load would
// read (by its path relative to the directory, and its bytes) and every secret file the
// last load read (by the value it yields). Scan computes it without parsing; a State that
// loaded carries the one of what it loaded (State.Inputs). Two scans of unchanged inputs give equal digests, whatever the files'
// times; a file added, removed, renamed or edited changes it.
type Digest struct {
	// Files is the number of YAML files scanned.
	Files int
	// State is the hex SHA-256 of the YAML files alone: it names a desired state by content
	// and may be shown (it holds no secret).
	State string
	// all also covers the secret files' content. It is compared, never shown: an unkeyed
	// hash of a short secret could be guessed from it.
	all [sha256.Size]byte
}

// Equal reports whether d and o were scanned from the same content, secret files included.
func (d Digest) Equal(o Digest) bool { return d.all == o.all }

// IsZero reports whether d was never scanned.
func (d Digest) IsZero() bool { return d.all == [sha256.Size]byte{} }

// Scan computes the Digest of the directory's YAML files, found by the rules Load follows,
// and of secretFiles (as State.SecretFiles lists them). It parses nothing. A file that
// cannot be read, or that is not a regular file, is recorded as such rather than opened
// blindly (a FIFO would block), so that Load reports it; Scan fails only when dir itself
// cannot be read.
func Scan(dir string, secretFiles []string) (Digest, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return Digest{}, fmt.Errorf("desired state directory: %w", err)
	}
	if !info.IsDir() {
		return Digest{}, fmt.Errorf("desired state directory %s: not a directory", dir)
	}
	root, err := resolvedRoot(dir)
	if err != nil {
		return Digest{}, fmt.Errorf("desired state directory %s: %w", dir, err)
	}
	l := &loader{cfg: newConfig(nil), dir: dir, root: root}
	files, problems := l.find()
	state := sha256.New()
	for _, f := range files {
		entry(state, "file", f.rel)
		hashFile(state, f.path, DefaultMaxFileSize)
	}
	// A problem finding the files (an unreadable directory) changes the digest too; a
	// state that loads has none.
	for _, p := range problems {
		entry(state, "problem", p.File+": "+p.Msg)
	}
	secrets := map[string]fileSecret{}
	for _, path := range secretFiles {
		secrets[path] = readSecret(path)
	}
	return inputsDigest(hex.EncodeToString(state.Sum(nil)), len(files), secrets), nil
}

// inputsDigest completes a Digest from the YAML files' digest and the secret files as read
// (Scan reads them; Load has them from resolving the references): the same content gives
// the same Digest either way.
func inputsDigest(state string, files int, secrets map[string]fileSecret) Digest {
	d := Digest{Files: files, State: state}
	all := sha256.New()
	all.Write([]byte(state))
	paths := make([]string, 0, len(secrets))
	for p := range secrets {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		entry(all, "secret", p)
		sum := depSum(secrets[p].value, secrets[p].err)
		entry(all, "value", hex.EncodeToString(sum[:]))
	}
	copy(d.all[:], all.Sum(nil))
	return d
}

// entry writes a length-prefixed record, so that no two sequences of records hash alike.
func entry(h hash.Hash, kind, s string) {
	h.Write([]byte(kind + " " + strconv.Itoa(len(s)) + " " + s + "\n"))
}

// hashFile adds a regular file's content, up to limit+1 bytes, or a marker saying why it
// was not read.
func hashFile(h hash.Hash, path string, limit int64) {
	// openRegular stats first and opens without blocking: a FIFO is recorded, not waited on.
	f, info, err := openRegular(path)
	switch {
	case info != nil && err != nil:
		entry(h, "not-regular", info.Mode().Type().String())
		return
	case err != nil:
		entry(h, "unreadable", err.Error())
		return
	}
	defer f.Close()
	c := sha256.New()
	n, err := io.Copy(c, io.LimitReader(f, limit+1))
	if err != nil {
		entry(h, "unreadable", err.Error())
		return
	}
	entry(h, "content", strconv.FormatInt(n, 10)+" "+hex.EncodeToString(c.Sum(nil)))
}

// contentEntry is the digest entry of a file's content as hashFile writes it.
func contentEntry(data string) string {
	// Through a small buffer: []byte(data) would copy the whole file.
	c := sha256.New()
	var buf [4096]byte
	for rest := data; rest != ""; {
		n := copy(buf[:], rest)
		c.Write(buf[:n])
		rest = rest[n:]
	}
	return strconv.Itoa(len(data)) + " " + hex.EncodeToString(c.Sum(nil))
}
