package export

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// MaxSlug is the longest slug a file name is made from, in bytes.
const MaxSlug = 64

// StatusCheckFile is the file of the status-check configuration, at the top of the
// directory.
const StatusCheckFile = "status-check.yaml"

// KindDir is the sub-directory of each kind's files.
func KindDir(k sdim.Kind) string {
	switch k {
	case sdim.KindServiceDesk:
		return "service-desk"
	case sdim.KindSIM:
		return "sim"
	}
	return ""
}

// Slug folds a name into the base of a file name: lower case, every run of characters
// outside [a-z0-9] one "-", no "-" at either end, at most MaxSlug bytes. It may be empty
// (a name of punctuation or of letters outside ASCII only). A slug never holds "--" or
// "_", which the hashed form of a file name uses, so the two never collide.
func Slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				if b.Len()+2 > MaxSlug {
					break
				}
				b.WriteByte('-')
			}
			dash = false
			if b.Len() >= MaxSlug {
				break
			}
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return strings.TrimRight(b.String(), "-")
}

// shortHash is the first n hex digits of the SHA-256 of a name.
func shortHash(name string, n int) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])[:n]
}

// reserved are names some file systems refuse as a file's base name.
var reserved = map[string]bool{"con": true, "prn": true, "aux": true, "nul": true,
	"com1": true, "com2": true, "com3": true, "com4": true, "com5": true, "com6": true, "com7": true, "com8": true, "com9": true,
	"lpt1": true, "lpt2": true, "lpt3": true, "lpt4": true, "lpt5": true, "lpt6": true, "lpt7": true, "lpt8": true, "lpt9": true}

// namer gives each object of one kind a file name: its slug, or, when the slug is empty,
// reserved, or shared by several names, the slug and an "_" and 8 hex digits of the
// name's SHA-256 (more digits in the unlikely case that two names of one slug share
// those). A slug is plain exactly when one name of the export folds to it, whatever the
// order the names come in: when a second name arrives, the first one's file is renamed.
type namer struct {
	dir   string // the kind's sub-directory
	slugs map[string]*slugUse
	files map[string]bool // every file name given, to keep hashed names unique
}

type slugUse struct {
	first string // the name that holds the plain file, while only one does
	file  string // its file
	many  bool
}

func newNamer(dir string) *namer {
	return &namer{dir: dir, slugs: map[string]*slugUse{}, files: map[string]bool{}}
}

// rename is a file to move because its slug turned out to be shared.
type rename struct{ from, to string }

// name returns the file (slash-separated, relative to the export directory) for an
// object named name, and the file of an earlier object to rename, if any.
func (n *namer) name(name string) (string, *rename) {
	slug := Slug(name)
	u := n.slugs[slug]
	if u == nil && slug != "" && !reserved[slug] {
		f := path.Join(n.dir, slug+".yaml")
		n.slugs[slug] = &slugUse{first: name, file: f}
		n.files[f] = true
		return f, nil
	}
	var mv *rename
	if u == nil {
		u = &slugUse{many: true}
		n.slugs[slug] = u
	}
	if !u.many {
		delete(n.files, u.file)
		mv = &rename{from: u.file, to: n.hashed(slug, u.first)}
		u.many, u.first, u.file = true, "", ""
	}
	return n.hashed(slug, name), mv
}

func (n *namer) hashed(slug, name string) string {
	for digits := 8; ; digits += 8 {
		f := path.Join(n.dir, slug+"_"+shortHash(name, min(digits, 64))+".yaml")
		if !n.files[f] || digits >= 64 {
			n.files[f] = true
			return f
		}
	}
}
