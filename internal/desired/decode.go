package desired

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// fileDecoder decodes the documents of one file from yaml.Node trees, so that every
// problem has the position of the node it is about.
type fileDecoder struct {
	l       *loader
	file    string // relative to the loaded directory, slash-separated
	fileDir string // the directory of the file as opened: the base of ${file:...}
	res     *fileResult

	sizes    map[*yaml.Node]int   // subtree sizes of anchored nodes
	bytes    map[*yaml.Node]int64 // bytes of text in the subtrees of anchored nodes
	expanded int                  // nodes reached through aliases so far
	// expandedBytes is the text (scalar values and keys) reached through aliases so far:
	// a few aliases of one large string expand to little structure but much text.
	expandedBytes int64
	stopped       bool // an alias bomb: no further decoding of this file
	// outerAlias is the alias whose expansion is being decoded, where an alias bomb is
	// reported.
	outerAlias *yaml.Node
	dropped    int // problems beyond maxProblemsPerFile
	// lastLine and lastCol are the last position of the dropped problems, where their
	// count is reported.
	lastLine, lastCol int
	// pairStack holds the pairs of the mappings being decoded, the innermost last (see
	// mapping): the mappings of a file take turns with one array instead of allocating a
	// list each, which was a third of what decoding allocated.
	pairStack []pair
	// depSeen holds the dependencies already in res.deps.
	depSeen map[dep]struct{}
}

// errorf records a problem at node n.
func (d *fileDecoder) errorf(n *yaml.Node, format string, args ...any) {
	if d.stopped {
		return
	}
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	d.problemAt(line, col, fmt.Sprintf(format, args...))
}

func (d *fileDecoder) problemAt(line, col int, msg string) {
	if len(d.res.problems) >= maxProblemsPerFile {
		d.dropped++
		if line > d.lastLine || line == d.lastLine && col > d.lastCol {
			d.lastLine, d.lastCol = line, col
		}
		return
	}
	d.res.problems = append(d.res.problems, Problem{File: d.file, Line: line, Column: col, Msg: msg})
}

func (d *fileDecoder) source(n *yaml.Node) Source {
	return Source{File: d.file, Line: n.Line, Column: n.Column}
}

// nullNode stands in for what an alias bomb would have expanded to.
func nullNode(at *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: at.Line, Column: at.Column}
}

// deref follows aliases, counting the nodes they expand to against the file's budget.
func (d *fileDecoder) deref(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if d.stopped || n.Alias == nil || hops > maxDepth {
			return nullNode(n)
		}
		d.expanded += d.size(n.Alias)
		d.expandedBytes += d.textSize(n.Alias)
		limit := d.l.cfg.aliasSizeLimit()
		if d.expanded > d.l.cfg.maxAliasNodes || d.expandedBytes > limit {
			at := n
			if d.outerAlias != nil {
				at = d.outerAlias
			}
			if d.expanded > d.l.cfg.maxAliasNodes {
				d.errorf(at, "the aliases of this file expand to more than %d nodes (an alias bomb?): use fewer or smaller aliases", d.l.cfg.maxAliasNodes)
			} else {
				d.errorf(at, "the aliases of this file expand to more than %s of text (an alias bomb?): use fewer or smaller aliases", sizeText(limit))
			}
			d.stopped = true
			return nullNode(n)
		}
		n = n.Alias
	}
	return n
}

// size counts the nodes of a subtree without following aliases.
func (d *fileDecoder) size(n *yaml.Node) int {
	if s, ok := d.sizes[n]; ok {
		return s
	}
	s := 1
	for _, c := range n.Content {
		s += d.size(c)
	}
	d.sizes[n] = s
	return s
}

// textSize counts the bytes of the scalars (values and keys) of a subtree without
// following aliases.
func (d *fileDecoder) textSize(n *yaml.Node) int64 {
	if s, ok := d.bytes[n]; ok {
		return s
	}
	s := int64(len(n.Value))
	for _, c := range n.Content {
		s += d.textSize(c)
	}
	d.bytes[n] = s
	return s
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the YAML type of a node for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing (null)"
	case "!!bool":
		return "a boolean (" + n.Value + ")"
	case "!!int":
		return "an integer (" + n.Value + ")"
	case "!!float":
		return "a number (" + n.Value + ")"
	case "!!str", "!!timestamp":
		return "a string"
	case "!!binary":
		return "binary data"
	}
	return "a value tagged " + n.Tag
}

// pair is one key and value of a mapping.
type pair struct {
	key  string
	k, v *yaml.Node // v is dereferenced
}

// mapping returns the pairs of a mapping node in file order, with merge keys (<<)
// expanded (keys written in the mapping win over merged ones) and repeated keys reported.
// It reports a problem and returns false when n is not a mapping.
//
// The pairs are the top of the decoder's pair stack: the caller reads them (and decodes
// what they hold, whose mappings take the stack above them and give it back) and then
// gives them back with free, before anything else takes from the stack, usually with
// defer d.free(pairs).
func (d *fileDecoder) mapping(n *yaml.Node, at path) ([]pair, bool) {
	return d.mappingDepth(n, at, 0)
}

// free gives back the pairs mapping returned, the top of the pair stack (or a copy of
// them, when the stack moved to a larger array since). Pairs that are not its top (a
// mapping decoded since did not give its own back) are left where they are, so that a
// mistake costs memory, never another mapping's pairs.
func (d *fileDecoder) free(pairs []pair) {
	if top := len(d.pairStack) - len(pairs); top >= 0 && slices.Equal(d.pairStack[top:], pairs) {
		d.pairStack = d.pairStack[:top]
	}
}

func (d *fileDecoder) mappingDepth(n *yaml.Node, at path, depth int) ([]pair, bool) {
	n = d.deref(n)
	if n.Kind != yaml.MappingNode {
		if !d.stopped {
			d.errorf(n, "%s: want a mapping, got %s", at.String(), describe(n))
		}
		return nil, false
	}
	if depth > maxDepth {
		d.errorf(n, "%s: merge keys nested more than %d deep (a recursive alias?)", at.String(), maxDepth)
		return nil, false
	}
	if d.pairStack == nil {
		d.pairStack = make([]pair, 0, 64) // the mappings of a usual document, nested
	}
	// Room for this mapping's own pairs at once: appending them one by one into a stack
	// that doubles as it goes allocated three times what a large mapping needs.
	d.pairStack = slices.Grow(d.pairStack, len(n.Content)/2)
	// This mapping's pairs are pushed from base on, and are d.pairStack[base:] until its
	// merges are expanded: a merged mapping's pairs are pushed above them.
	base := len(d.pairStack)
	var index map[string]int // for large mappings, where a linear search would be slow
	if len(n.Content) > 32 {
		index = make(map[string]int, len(n.Content)/2)
	}
	lookup := func(key string) *pair {
		if index == nil {
			return findPair(d.pairStack[base:], key)
		}
		if i, ok := index[key]; ok {
			return &d.pairStack[base+i]
		}
		return nil
	}
	add := func(p pair) {
		if index == nil && len(d.pairStack)-base >= 32 {
			// Grown large by its merges (a small mapping merging a large one): searching
			// its pairs for each key merged would be quadratic.
			index = make(map[string]int, 64)
			for i, q := range d.pairStack[base:] {
				index[q.key] = i
			}
		}
		if index != nil {
			index[p.key] = len(d.pairStack) - base
		}
		d.pairStack = append(d.pairStack, p)
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kd := d.deref(k)
		if kd.Kind == yaml.ScalarNode && kd.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if kd.Kind != yaml.ScalarNode || isNull(kd) {
			d.errorf(k, "%s: a key must be text, not %s", at.String(), describe(kd))
			continue
		}
		key := kd.Value
		if prev := lookup(key); prev != nil {
			d.errorf(k, "%s: key %q appears twice (first at line %d): keep one", at.String(), key, prev.k.Line)
			continue
		}
		add(pair{key: key, k: k, v: d.deref(v)})
	}
	for _, m := range merges {
		m = d.deref(m)
		var sources []*yaml.Node
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		} else {
			sources = []*yaml.Node{m}
		}
		for _, src := range sources {
			top := len(d.pairStack)
			merged, ok := d.mappingDepth(src, at.suffix(" (merged with <<)"), depth+1)
			// merged lies just above this mapping's pairs: the merged pairs this mapping
			// does not hold move down to follow them (never past one not yet read), and
			// the rest is dropped.
			d.pairStack = d.pairStack[:top]
			if !ok {
				continue
			}
			for _, p := range merged {
				if lookup(p.key) == nil {
					add(p)
				}
			}
		}
	}
	top := len(d.pairStack)
	return d.pairStack[base:top:top], true
}

func findPair(ps []pair, key string) *pair {
	for i := range ps {
		if ps[i].key == key {
			return &ps[i]
		}
	}
	return nil
}

// fields checks the keys of a mapping at a path against the known keys, reporting
// unknown ones with a suggestion, and calls fn for each known one. refuse, when not nil,
// gives the message for a key that must not appear here ("" for the others). It returns
// the keys present. fn makes the path of the field itself (at.key(p.key)): a path
// handed to a function value would have to live on the heap, which is what paths avoid.
func (d *fileDecoder) fields(pairs []pair, at path, known []string, refuse func(string) string, fn func(p pair)) keySet {
	seen := keySet{known: known}
	for _, p := range pairs {
		if refuse != nil {
			if msg := refuse(p.key); msg != "" {
				d.errorf(p.k, "%s: %s %s", at.String(), p.key, msg)
				continue
			}
		}
		i := slices.Index(known, p.key)
		if i < 0 {
			d.unknownKey(p, at, known)
			continue
		}
		seen.bits |= 1 << i
		fn(p)
	}
	return seen
}

// keySet is the set of known keys a mapping holds.
type keySet struct {
	known []string
	bits  uint64
}

func (k keySet) has(key string) bool {
	i := slices.Index(k.known, key)
	return i >= 0 && k.bits&(1<<i) != 0
}

func (d *fileDecoder) unknownKey(p pair, at path, known []string) {
	where := at.String()
	if where == "" {
		where = "document"
	}
	if s := suggest(p.key, known); s != "" {
		d.errorf(p.k, "%s: unknown key %q; did you mean %q?", where, p.key, s)
		return
	}
	d.errorf(p.k, "%s: unknown key %q; the keys here are %s", where, p.key, strings.Join(known, ", "))
}

// path names a place in a document as problems show it: spec.attributes.url,
// options.ignore[2], spec (merged with <<). It is a chain of segments, each held by the
// function decoding that place (on its stack), and is spelled out only when a problem is
// reported: joining the names of every field decoded, as strings, cost about 30
// allocations per document that reported nothing.
type path struct {
	up    *path  // nil for the first segment
	text  string // a key, or the first segment as a whole, or a suffix
	index int    // of an item
	kind  segment
}

type segment uint8

const (
	keySegment    segment = iota // .text after the path above, or text alone after an empty one
	itemSegment                  // [index]
	suffixSegment                // text as it is
)

// pathOf is a path of one segment, such as "spec", "options.allowSecretClear", or "" for
// the top of a document.
func pathOf(s string) path { return path{text: s} }

// key is the path of the value under key k of the mapping at p.
func (p *path) key(k string) path { return path{up: p, text: k} }

// item is the path of item i of the list at p.
func (p *path) item(i int) path { return path{up: p, index: i, kind: itemSegment} }

// suffix is p with s appended as it is.
func (p *path) suffix(s string) path { return path{up: p, text: s, kind: suffixSegment} }

func (p *path) String() string { return string(p.appendTo(nil)) }

func (p *path) appendTo(b []byte) []byte {
	if p.up != nil {
		b = p.up.appendTo(b)
	}
	switch p.kind {
	case itemSegment:
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(p.index), 10)
		return append(b, ']')
	case keySegment:
		if len(b) > 0 {
			b = append(b, '.')
		}
	}
	return append(b, p.text...)
}

// requireKeys reports each required key missing from a mapping at node n.
func (d *fileDecoder) requireKeys(n *yaml.Node, at path, seen keySet, required ...string) {
	for _, k := range required {
		if !seen.has(k) {
			d.errorf(n, "%s: %s is required", at.String(), k)
		}
	}
}

// scalarText returns the text of a string scalar (timestamps, which YAML 1.1 readers
// would parse, count as text), reporting other types.
func (d *fileDecoder) scalarText(n *yaml.Node, at path) (string, bool) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str", "!!timestamp":
			return n.Value, true
		case "!!int", "!!float", "!!bool":
			d.errorf(n, "%s: want a string, got %s; quote it if it is meant as text: %q", at.String(), describe(n), n.Value)
			return "", false
		}
	}
	if !d.stopped {
		d.errorf(n, "%s: want a string, got %s", at.String(), describe(n))
	}
	return "", false
}

// str decodes a typed string field: shown in plans, so no secret references. The string
// is one the State may hold (see keep).
func (d *fileDecoder) str(n *yaml.Node, at path) (string, bool) {
	s, ok := d.scalarText(n, at)
	if !ok {
		return "", false
	}
	s, ok = d.literal(n, s, at)
	return d.l.keep(s), ok
}

// nonEmpty decodes a typed string field that must not be empty.
func (d *fileDecoder) nonEmpty(n *yaml.Node, at path) (string, bool) {
	s, ok := d.str(n, at)
	if ok && strings.TrimSpace(s) == "" {
		d.errorf(n, "%s: must not be empty", at.String())
		return "", false
	}
	return s, ok
}

func (d *fileDecoder) boolean(n *yaml.Node, at path) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		if b, ok := yamlBool(n); ok {
			return b, true
		}
		d.errorf(n, "%s: %s is tagged !!bool but is neither true nor false: write true or false", at.String(), n.Value)
		return false, false
	}
	if !d.stopped {
		d.errorf(n, "%s: want true or false, got %s", at.String(), describe(n))
	}
	return false, false
}

// integer decodes a YAML integer.
func (d *fileDecoder) integer(n *yaml.Node, at path) (int64, bool) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float" && leadingZero(n.Value)) {
		v, msg := number(n)
		if i, ok := v.(int64); ok && msg == "" {
			return i, true
		}
		if msg == "" {
			msg = n.Value + " is out of range"
		}
		d.errorf(n, "%s: %s", at.String(), msg)
		return 0, false
	}
	if !d.stopped {
		d.errorf(n, "%s: want a whole number, got %s", at.String(), describe(n))
	}
	return 0, false
}

func (d *fileDecoder) int32Field(n *yaml.Node, at path, minimum int64) (int32, bool) {
	i, ok := d.integer(n, at)
	if !ok {
		return 0, false
	}
	if i < minimum || i > math.MaxInt32 {
		d.errorf(n, "%s: %d is out of range: want %d to %d", at.String(), i, minimum, math.MaxInt32)
		return 0, false
	}
	return int32(i), true
}

// sequence returns the dereferenced items of a list.
func (d *fileDecoder) sequence(n *yaml.Node, at path) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		if !d.stopped {
			d.errorf(n, "%s: want a list, got %s", at.String(), describe(n))
		}
		return nil, false
	}
	// The items are n's own unless one is an alias: the callers only read them.
	if !slices.ContainsFunc(n.Content, func(c *yaml.Node) bool { return c.Kind == yaml.AliasNode }) {
		return n.Content, true
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = d.deref(c)
	}
	return items, true
}

// yamlBool decodes a scalar tagged !!bool as yaml.v3's Node.Decode into a bool does,
// without the decoder Decode allocates for each call: the spellings of true and false
// YAML 1.2 knows succeed; anything else (an explicit !!bool yes) fails.
func yamlBool(n *yaml.Node) (bool, bool) {
	switch n.Value {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// stringList decodes a list of non-empty typed strings.
func (d *fileDecoder) stringList(n *yaml.Node, at path) ([]string, bool) {
	items, ok := d.sequence(n, at)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	good := true
	for i, it := range items {
		s, ok := d.nonEmpty(it, at.item(i))
		good = good && ok
		out = append(out, s)
	}
	return out, good
}

// value decodes an open JSON value (attributes and the like). secrets says whether
// secret references may appear in its strings; secretKey whether the value sits under a
// key whose value is a secret (a password), so that even a literal is held as one.
func (d *fileDecoder) value(n *yaml.Node, at path, depth int, secrets, secretKey bool) (any, bool) {
	if n.Kind == yaml.AliasNode && d.outerAlias == nil {
		d.outerAlias = n
		defer func() { d.outerAlias = nil }()
	}
	n = d.deref(n)
	if depth > maxDepth {
		d.errorf(n, "%s: nested more than %d levels deep (a recursive alias?)", at.String(), maxDepth)
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.object(n, at, depth, secrets)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		good := true
		for i, c := range n.Content {
			v, ok := d.value(c, at.item(i), depth+1, secrets, secretKey)
			good = good && ok
			out[i] = v
		}
		return out, good
	case yaml.ScalarNode:
	default:
		d.errorf(n, "%s: unexpected %s", at.String(), describe(n))
		return nil, false
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, true
	case "!!bool":
		if b, ok := yamlBool(n); ok {
			return b, true
		}
		// !!bool "yes": a tag on text that is neither true nor false.
		d.errorf(n, "%s: %s is tagged !!bool but is neither true nor false: write true or false, or remove the tag to keep it as text", at.String(), n.Value)
		return nil, false
	case "!!int", "!!float":
		v, msg := number(n)
		if msg != "" {
			d.errorf(n, "%s: %s", at.String(), msg)
			return nil, false
		}
		return d.keepNumber(v), true
	case "!!str", "!!timestamp":
		if plainNumber(n) {
			// A number too large for a float64 (a 400-digit integer, 1e999), which the
			// parser leaves as text: kept as the number it is.
			v, msg := number(n)
			if msg != "" {
				d.errorf(n, "%s: %s", at.String(), msg)
				return nil, false
			}
			return d.keepNumber(v), true
		}
		return d.text(n, n.Value, at, secrets, secretKey)
	case "!!binary":
		d.errorf(n, "%s: binary (!!binary) values are not supported: write the text itself", at.String())
		return nil, false
	}
	d.errorf(n, "%s: the tag %s is not supported: remove it", at.String(), n.Tag)
	return nil, false
}

// object decodes a mapping of open values.
func (d *fileDecoder) object(n *yaml.Node, at path, depth int, secrets bool) (map[string]any, bool) {
	pairs, ok := d.mappingDepth(n, at, depth)
	if !ok {
		return nil, false
	}
	defer d.free(pairs)
	out := make(map[string]any, len(pairs))
	good := true
	for _, p := range pairs {
		key, ok := d.literalWhy(p.k, p.key, at, "is not allowed in a key, because keys are shown in plans")
		if !ok {
			good = false
			continue
		}
		v, ok := d.value(p.v, at.key(key), depth+1, secrets, d.l.cfg.secretKeys.Has(key))
		good = good && ok
		out[d.l.keep(key)] = v
	}
	return out, good
}

// The keys a document's envelope adds to what document (spec.go) decodes: the top-level
// state, and options.allowSecretClear. envelope takes them out before document decodes
// the rest, so the two stay apart.
func envelopeKeys() []string { return []string{"state"} }

func envelopeOptionKeys() []string { return []string{"allowSecretClear"} }

// absentKeys are the keys a document with state: absent may hold.
func absentKeys() []string { return []string{"kind", "name", "state"} }

// plain follows aliases without counting them: envelope only looks, and document
// counts what it decodes.
func plain(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && hops <= maxDepth; hops++ {
		n = n.Alias
	}
	return n
}

// without returns the mapping node m without its first pair whose key is key, and that
// pair's key and value nodes (nil when there is none). m itself is never changed (an
// alias elsewhere may lead to it): without returns a copy when it takes a pair out, and
// m when there is nothing to take, as in most documents.
func without(m *yaml.Node, key string) (stripped, k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := plain(m.Content[i])
		if kn != nil && kn.Kind == yaml.ScalarNode && kn.Value == key {
			c := *m
			c.Content = make([]*yaml.Node, 0, len(m.Content)-2)
			c.Content = append(c.Content, m.Content[:i]...)
			c.Content = append(c.Content, m.Content[i+2:]...)
			return &c, m.Content[i], m.Content[i+1]
		}
	}
	return m, nil, nil
}

// envelope decodes one YAML document: a document with state: absent here, any other by
// document, with options.allowSecretClear applied to the resource it yields.
func (d *fileDecoder) envelope(doc *yaml.Node) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.document(doc)
		return
	}
	root := plain(doc.Content[0])
	if root == nil || root.Kind != yaml.MappingNode {
		d.document(doc)
		return
	}
	stripped, _, stateV := without(root, "state")
	state := StatePresent
	if stateV != nil {
		v := d.deref(stateV)
		s, ok := d.str(v, pathOf("state"))
		if !ok {
			return
		}
		switch s {
		case StatePresent, StateAbsent:
			state = s
		default:
			if sg := suggest(s, []string{StatePresent, StateAbsent}); sg != "" {
				d.errorf(v, "state: %q is neither present nor absent; did you mean %q?", s, sg)
			} else {
				d.errorf(v, "state: %q is neither present nor absent: write state: absent to delete the object, or leave state out", s)
			}
			return
		}
	}
	if state == StateAbsent {
		d.absent(root)
		return
	}
	// options.allowSecretClear, taken out of a copy of options.
	var allowK, allowV *yaml.Node
	for i := 0; i+1 < len(stripped.Content); i += 2 {
		k, v := plain(stripped.Content[i]), plain(stripped.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode || k.Value != "options" || v == nil || v.Kind != yaml.MappingNode {
			continue
		}
		var opts *yaml.Node
		opts, allowK, allowV = without(v, "allowSecretClear")
		if allowK != nil {
			if stripped == root {
				c := *root
				stripped = &c
			}
			content := slices.Clone(stripped.Content)
			content[i+1] = opts
			stripped.Content = content
		}
		break
	}
	sd, sim, sc := len(d.res.serviceDesk), len(d.res.sim), len(d.res.statusChecks)
	d.documentRoot(stripped)
	if allowK == nil {
		return
	}
	keys, ok := d.allowSecretClear(d.deref(allowV), pathOf("options.allowSecretClear"))
	switch {
	case len(d.res.statusChecks) > sc:
		d.errorf(allowK, "options.allowSecretClear: a StatusCheckConfiguration holds no secrets: remove it")
	case !ok:
	case len(d.res.serviceDesk) > sd:
		d.res.serviceDesk[len(d.res.serviceDesk)-1].Options.AllowSecretClear = keys
	case len(d.res.sim) > sim:
		d.res.sim[len(d.res.sim)-1].Options.AllowSecretClear = keys
	}
}

// allowSecretClear decodes options.allowSecretClear: true (every key: ["*"]), false
// (none), or a list of attribute keys.
func (d *fileDecoder) allowSecretClear(n *yaml.Node, at path) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		b, ok := d.boolean(n, at)
		if b {
			return []string{"*"}, ok
		}
		return nil, ok
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: want true (any secret key), false, or a list of attribute keys such as [password], got %s", at.String(), describe(n))
		return nil, false
	}
	keys, ok := d.stringList(n, at)
	if !ok {
		return nil, false
	}
	for i, k := range keys {
		if slices.ContainsFunc(keys[:i], func(o string) bool { return strings.EqualFold(o, k) }) {
			d.errorf(n.Content[i], "%s[%d]: %q is listed twice", at.String(), i, k)
			return nil, false
		}
	}
	return keys, true
}

// absent decodes a document with state: absent: kind and name of an object to delete,
// nothing else.
func (d *fileDecoder) absent(n *yaml.Node) {
	pairs, ok := d.mapping(n, pathOf("document"))
	if !ok {
		return
	}
	defer d.free(pairs)
	refuse := func(key string) string {
		switch key {
		case "spec":
			return "is not allowed with state: absent, which declares an object to delete: remove spec, or remove state: absent to keep the object"
		case "options":
			return "are not allowed with state: absent: remove them"
		}
		return ""
	}
	var kindN, nameN *yaml.Node
	d.fields(pairs, pathOf("document"), absentKeys(), refuse, func(p pair) {
		switch p.key {
		case "kind":
			kindN = p.v
		case "name":
			nameN = p.v
		}
	})
	if kindN == nil {
		d.errorf(n, "kind is required: the kind of the object to delete (%s or %s)", sdim.KindServiceDesk, sdim.KindSIM)
		return
	}
	kindText, ok := d.str(kindN, pathOf("kind"))
	if !ok {
		return
	}
	kind := sdim.Kind(kindText)
	switch {
	case kind == sdim.KindStatusCheck:
		d.errorf(kindN, "state: absent: the StatusCheckConfiguration cannot be deleted (a tenant always has exactly one): remove this document to leave it alone")
		return
	case !slices.Contains(sdim.Kinds(), kind):
		if s := suggest(kindText, kindNames()); s != "" {
			d.errorf(kindN, "kind: unknown kind %q; did you mean %q?", kindText, s)
		} else {
			d.errorf(kindN, "kind: unknown kind %q; want %s or %s", kindText, sdim.KindServiceDesk, sdim.KindSIM)
		}
		return
	}
	if nameN == nil {
		d.errorf(n, "name is required: the name of the %s to delete", kind)
		return
	}
	name, ok := d.nonEmpty(nameN, pathOf("name"))
	if !ok {
		return
	}
	if strings.TrimSpace(name) != name {
		d.errorf(nameN, "name: %q starts or ends with spaces: remove them", name)
		return
	}
	d.res.absent = append(d.res.absent, Resource{Kind: kind, Name: name, Source: d.source(n)})
}
