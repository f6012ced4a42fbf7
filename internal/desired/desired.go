// Package desired reads a directory of YAML files into the desired state: the service desk
// integrations, SIM integrations and status-check configuration a tenant should hold.
//
// Reading is strict. Unknown keys, wrong types, missing required fields, duplicate names,
// invalid references and unresolved secret references are all problems with a
// file:line:column; every problem of every file is gathered into one *LoadError, and a
// directory with any problem yields no State at all, so nothing is ever planned from a
// partial state.
package desired

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// Limits applied unless an Option changes them.
const (
	// DefaultMaxFileSize is the largest YAML file read, in bytes.
	DefaultMaxFileSize = 4 << 20
	// DefaultMaxAliasNodes is how many nodes the aliases of one file may expand to, in all.
	DefaultMaxAliasNodes = 100_000
	// AliasSizeFactor bounds the text that the aliases (and merge keys) of one file may
	// expand to: this many times the largest file read (16 MiB by default), unless
	// WithMaxAliasSize sets it.
	AliasSizeFactor = 4
	// MaxSecretFileSize is the largest file a ${file:PATH} reference may name, in bytes.
	MaxSecretFileSize = 1 << 20
	// maxDepth is how deeply values (attributes and the like) may nest.
	maxDepth = 64
	// maxProblemsPerFile bounds the report of one file; the rest are counted.
	maxProblemsPerFile = 50
)

// State is a loaded desired state. Each list is sorted by name; a directory without YAML
// files, or whose files hold no documents, loads as an empty State (the planner decides
// what an empty desired state may do).
type State struct {
	// Dir is the directory as it was given to Load.
	Dir string
	// Files is the number of YAML files read.
	Files int
	// Paths are the YAML files read, relative to Dir with forward slashes, in lexical order.
	Paths []string
	// Digest is the hex SHA-256 of those files, by path and content: it names the desired
	// state by what was loaded (Scan gives the same value for the same files; it holds no
	// secret, since secret files are not part of it).
	Digest      string
	ServiceDesk []ServiceDeskResource
	SIM         []SIMResource
	// StatusCheck is nil when no file declares one.
	StatusCheck *StatusCheckResource
	// Absent are the objects documents declare absent (state: absent): each is deleted
	// when the tenant holds it, without pruning. Sorted by kind, then name; never a
	// StatusCheckConfiguration.
	Absent []Resource
	// SecretFiles are the files ${file:...} references were read from: absolute paths with
	// symbolic links resolved, sorted. A watcher watches them besides the directory.
	SecretFiles []string
	// Inputs is the Digest of what this load read (YAML files and secret files): equal to
	// what Scan(Dir, SecretFiles) gives while nothing changes, so a watcher compares its
	// scans with it and needs no scan of its own before a load.
	Inputs Digest
}

// Resource is what every kind of resource carries besides its spec.
type Resource struct {
	Kind sdim.Kind
	// Name identifies the object in the tenant. It is "" only for a StatusCheckConfiguration
	// that does not label itself.
	Name    string
	Options Options
	// Source is where the document starts.
	Source Source
}

// ServiceDeskResource is one ServiceDeskIntegration document. Spec.Name equals Name.
type ServiceDeskResource struct {
	Resource
	Spec sdim.ServiceDeskIntegration
}

// SIMResource is one SIMIntegration document. Spec.Name equals Name.
type SIMResource struct {
	Resource
	Spec sdim.SIMIntegration
}

// StatusCheckResource is the StatusCheckConfiguration document. Both values of Spec hold
// positive integers in decimal, without leading zeros.
type StatusCheckResource struct {
	Resource
	Spec sdim.StatusCheckConfiguration
}

// Mode says whether a resource may be written.
type Mode string

// The modes. ModeUnset follows the mode of the run (the command or the daemon).
const (
	ModeUnset   Mode = ""
	ModeEnforce Mode = "enforce"
	ModeObserve Mode = "observe"
)

// Options are the per-resource settings of a document's `options`.
type Options struct {
	// PreviousNames are names the object had before: a live object with one of them is the
	// same object, renamed (an update, not a delete and a create). Never set on a
	// StatusCheckConfiguration.
	PreviousNames []string
	// Ignore lists JSON pointers into the spec (such as /attributes/lastSyncDate) that are
	// never compared. Each starts with "/" and names a field of the kind's spec.
	Ignore []string
	Mode   Mode
	// AllowSecretClear lists the secret attribute keys (any case) a put of this object may
	// leave out, and so clear in the tenant, although the type's template declares them;
	// "*" (written allowSecretClear: true) allows every key. nil: a put that would clear one
	// is blocked.
	AllowSecretClear []string
}

// AllowsSecretClear reports whether options.allowSecretClear lets a put clear the secret
// attribute key.
func (o Options) AllowsSecretClear(key string) bool {
	for _, k := range o.AllowSecretClear {
		if k == "*" || strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// State values of a document's state key.
const (
	StatePresent = "present"
	StateAbsent  = "absent"
)

// Source is a position in the desired directory.
type Source struct {
	// File is the path relative to the loaded directory, with forward slashes.
	File   string
	Line   int
	Column int
}

// String renders the position as file:line:column (file:line without a column, file
// alone without a line).
func (s Source) String() string {
	switch {
	case s.Line <= 0:
		return s.File
	case s.Column <= 0:
		return s.File + ":" + strconv.Itoa(s.Line)
	}
	return s.File + ":" + strconv.Itoa(s.Line) + ":" + strconv.Itoa(s.Column)
}

// Resources lists the Resource part of every resource: service desk integrations, then
// the status check, then SIM integrations, each by name.
func (s *State) Resources() []Resource {
	out := make([]Resource, 0, len(s.ServiceDesk)+len(s.SIM)+1)
	for _, r := range s.ServiceDesk {
		out = append(out, r.Resource)
	}
	if s.StatusCheck != nil {
		out = append(out, s.StatusCheck.Resource)
	}
	for _, r := range s.SIM {
		out = append(out, r.Resource)
	}
	return out
}

// Summary counts the resources in words, such as "3 service desk integrations, 1 status
// check configuration, 0 SIM integrations in 2 files".
func (s *State) Summary() string {
	sc := 0
	if s.StatusCheck != nil {
		sc = 1
	}
	absent := ""
	if len(s.Absent) > 0 {
		absent = ", " + plural(len(s.Absent), "object", "objects") + " declared absent"
	}
	return fmt.Sprintf("%s, %s, %s%s in %s",
		plural(len(s.ServiceDesk), "service desk integration", "service desk integrations"),
		plural(sc, "status check configuration", "status check configurations"),
		plural(len(s.SIM), "SIM integration", "SIM integrations"), absent,
		plural(s.Files, "file", "files"))
}

func plural(n int, one, many string) string { return sdim.Count(n, one, many) }

// Option changes how Load reads.
type Option func(*config)

type config struct {
	lookupEnv     func(string) (string, bool)
	maxFileSize   int64
	maxAliasNodes int
	maxAliasSize  int64 // 0: AliasSizeFactor times maxFileSize
	allowOutside  bool
	secretKeys    sdim.SecretKeySet
	cache         *Cache
	// generalOnly reads every file with yaml.v3, never with yamlsubset: the tests compare
	// the two ways.
	generalOnly bool
}

// WithLookupEnv replaces os.LookupEnv for ${env:NAME} references. Load may call it from
// several goroutines at once.
func WithLookupEnv(lookup func(name string) (string, bool)) Option {
	return func(c *config) {
		if lookup != nil {
			c.lookupEnv = lookup
		}
	}
}

// WithMaxFileSize sets the largest YAML file read, in bytes (default DefaultMaxFileSize).
func WithMaxFileSize(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxFileSize = n
		}
	}
}

// WithMaxAliasNodes sets how many nodes the aliases of one file may expand to (default
// DefaultMaxAliasNodes).
func WithMaxAliasNodes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxAliasNodes = n
		}
	}
}

// WithMaxAliasSize sets how many bytes of text (scalar values and keys) the aliases and
// merge keys of one file may expand to, in all (default AliasSizeFactor times the file
// size limit).
func WithMaxAliasSize(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxAliasSize = n
		}
	}
}

func (c config) aliasSizeLimit() int64 {
	if c.maxAliasSize > 0 {
		return c.maxAliasSize
	}
	return AliasSizeFactor * c.maxFileSize
}

// WithSecretFilesOutside lets ${file:PATH} name files outside the desired directory
// (such as /run/secrets/...). Off by default.
func WithSecretFilesOutside(allow bool) Option {
	return func(c *config) { c.allowOutside = allow }
}

// WithSecretKeys sets the attribute keys whose literal values are held as secrets
// (default sdim.DefaultSecretAttributeKeys).
func WithSecretKeys(keys []string) Option {
	return func(c *config) { c.secretKeys = sdim.NewSecretKeySet(keys) }
}

func newConfig(opts []Option) config {
	c := config{
		lookupEnv:     os.LookupEnv,
		maxFileSize:   DefaultMaxFileSize,
		maxAliasNodes: DefaultMaxAliasNodes,
		secretKeys:    sdim.NewSecretKeySet(sdim.DefaultSecretAttributeKeys()),
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// sortState puts every list in name order.
func sortState(s *State) {
	slices.SortStableFunc(s.ServiceDesk, func(a, b ServiceDeskResource) int { return byName(a.Resource, b.Resource) })
	slices.SortStableFunc(s.SIM, func(a, b SIMResource) int { return byName(a.Resource, b.Resource) })
	slices.SortStableFunc(s.Absent, func(a, b Resource) int {
		return cmp.Or(cmp.Compare(slices.Index(sdim.Kinds(), a.Kind), slices.Index(sdim.Kinds(), b.Kind)), byName(a, b))
	})
}

func byName(a, b Resource) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Or(strings.Compare(a.Source.File, b.Source.File), cmp.Compare(a.Source.Line, b.Source.Line))
}
