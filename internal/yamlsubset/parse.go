// Package yamlsubset parses the plain subset of YAML that desired-state files are written
// in into the same yaml.Node trees gopkg.in/yaml.v3 builds, without the cost of its
// general parser: nodes and their child lists come from arenas reused from one document
// to the next, and scalar values are substrings of the text.
//
// The subset is what people and `sdim-sync export` write: block mappings and sequences
// indented with spaces, single-line plain and quoted scalars, single-line flow
// collections, comments and `---` document markers. Anything else (anchors, aliases, tags,
// block scalars, multi-line scalars or flow collections, directives, tabs, a byte order
// mark, and every construct this package is unsure of, invalid YAML included) makes Next
// return ErrUnsupported, and the caller reads the text with yaml.v3 instead, which gives
// the same tree or the error to report. Nothing is ever guessed: for every text the
// parser accepts, the tree equals yaml.v3's in kind, style, tag, value, line and column;
// the differential fuzz test holds it to that.
package yamlsubset

import (
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ErrUnsupported says the text is outside the subset (or is not valid YAML): read it with
// yaml.v3.
var ErrUnsupported = errors.New("yamlsubset: the text is outside the subset this parser reads")

// maxDepth bounds how deeply collections may nest before the parser leaves the text to
// yaml.v3, which keeps the recursion shallow on hostile input.
const maxDepth = 100

// maxKey is the longest implicit key in bytes, from its start to its ':' (quotes and
// spaces included): yaml.v3 allows 1024 characters there, and leaving the edge to it
// keeps its error for a longer one.
const maxKey = 1000

// Parser reads the documents of one text, one at a time.
type Parser struct {
	src string
	off int // where the next unread line starts
	no  int // the number of the line starting at off

	cur  line // the current content line (neither blank nor a comment)
	have bool // whether cur holds a line; false at the end of the text
	// colAt and colRunes are where col last counted on a non-ASCII current line, and the
	// characters before it: columns are asked for left to right, so counting on from
	// there keeps a long line linear.
	colAt, colRunes int

	nodes nodeArena
	ptrs  ptrArena
	stack []*yaml.Node // children of the collections being built
	depth int

	started bool
	err     error
}

// line is one line of the text.
type line struct {
	start, end int // the bytes of src, without the line break (and a CR before it)
	indent     int // leading spaces
	no         int // 1-based
	ascii      bool
	docStart   bool // a document start marker, "---" (with nothing but a comment after it)
}

// NewParser returns a parser of src.
func NewParser(src string) *Parser {
	return &Parser{src: src, no: 1}
}

// Next parses the next document and returns its DocumentNode, io.EOF after the last one,
// or ErrUnsupported (and from then on only that) when the text leaves the subset; the
// documents returned before then are what yaml.v3 returns for them too.
//
// The tree is valid until the next call of Next, which reuses its nodes: keep strings
// (which stay valid, being substrings of the text) but no *yaml.Node.
func (p *Parser) Next() (*yaml.Node, error) {
	if p.err != nil {
		return nil, p.err
	}
	if !p.started {
		p.started = true
		p.advance()
	}
	p.nodes.reset()
	p.ptrs.reset()
	p.stack = p.stack[:0]
	p.depth = 0
	doc := p.document()
	if p.err != nil {
		return nil, p.err
	}
	if doc == nil {
		return nil, io.EOF
	}
	return doc, nil
}

// fail records that the text leaves the subset, and returns nil for the callers to pass up.
func (p *Parser) fail() *yaml.Node {
	if p.err == nil {
		p.err = ErrUnsupported
	}
	p.have = false
	return nil
}

// document parses one document: nil at the end of the text.
func (p *Parser) document() *yaml.Node {
	if !p.have {
		return nil
	}
	doc := p.nodes.new()
	*doc = yaml.Node{Kind: yaml.DocumentNode}
	var root *yaml.Node
	if p.docStart() {
		doc.Line, doc.Column = p.cur.no, 1
		p.advance()
		if !p.have || p.docStart() {
			line, col := p.next()
			root = p.null(line, col)
		}
	}
	if root == nil {
		if doc.Line == 0 {
			doc.Line, doc.Column = p.cur.no, p.cur.indent+1
		}
		root = p.block(-1)
		if root == nil {
			return p.fail()
		}
	}
	if p.have && !p.docStart() {
		return p.fail() // more content after the root: invalid, or something not read here
	}
	doc.Content = p.ptrs.alloc(1)
	doc.Content[0] = root
	return doc
}

// advance moves cur to the next line that is neither blank nor only a comment.
func (p *Parser) advance() {
	p.have = false
	for p.err == nil && p.off < len(p.src) {
		l, ok := p.readLine()
		if !ok {
			p.fail()
			return
		}
		s := p.src[l.start:l.end]
		if l.indent == len(s) || s[l.indent] == '#' {
			continue
		}
		if l.indent == 0 && (s[0] == '%' || marker(s, "...")) {
			p.fail() // a directive, or a document end marker
			return
		}
		if l.docStart = l.indent == 0 && marker(s, "---"); l.docStart {
			if rest := strings.TrimLeft(s[3:], " "); rest != "" && rest[0] != '#' {
				p.fail() // content on the marker's line
				return
			}
		}
		p.cur, p.have = l, true
		p.colAt, p.colRunes = l.start, 0
		return
	}
}

// readLine reads the line at off, checking its characters: a control character, a tab,
// invalid UTF-8, or a character YAML treats specially (a byte order mark, NEL, the line
// and paragraph separators) is left to yaml.v3.
func (p *Parser) readLine() (line, bool) {
	l := line{start: p.off, no: p.no, ascii: true}
	i := p.off
	for i < len(p.src) && p.src[i] == ' ' {
		i++
	}
	l.indent = i - p.off
	for ; i < len(p.src); i++ {
		c := p.src[i]
		if c >= 0x20 && c < 0x7F {
			continue
		}
		if c == '\n' {
			break
		}
		if c == '\r' {
			if i+1 < len(p.src) && p.src[i+1] == '\n' {
				break
			}
			return l, false
		}
		if c < 0x80 {
			return l, false
		}
		r, size := utf8.DecodeRuneInString(p.src[i:])
		if r == utf8.RuneError && size <= 1 || r <= 0x9F || r == 0x2028 || r == 0x2029 || r == 0xFEFF || r == 0xFFFE || r == 0xFFFF {
			return l, false
		}
		l.ascii = false
		i += size - 1
	}
	l.end = i
	if i < len(p.src) && p.src[i] == '\r' {
		i++
	}
	if i < len(p.src) {
		i++ // the '\n'
	}
	p.off, p.no = i, p.no+1
	return l, true
}

// next is the position of what comes next: the current line's first character, or the
// end of the text (which yaml.v3 places at the start of the line after the last).
func (p *Parser) next() (int, int) {
	if p.have {
		return p.cur.no, p.cur.indent + 1
	}
	return p.no, 1
}

// marker reports whether the line s starts with the document marker m ("---" or "...")
// followed by a space or its end.
func marker(s, m string) bool {
	return strings.HasPrefix(s, m) && (len(s) == len(m) || s[len(m)] == ' ')
}

// docStart reports whether the current line is a document start marker.
func (p *Parser) docStart() bool { return p.cur.docStart }

// col is the 1-based column of byte i of the current line, in characters.
func (p *Parser) col(i int) int {
	if p.cur.ascii {
		return i - p.cur.start + 1
	}
	if i < p.colAt {
		p.colAt, p.colRunes = p.cur.start, 0
	}
	p.colRunes += utf8.RuneCountInString(p.src[p.colAt:i])
	p.colAt = i
	return p.colRunes + 1
}

// at is the byte at i on the current line, or 0 at its end.
func (p *Parser) at(i int) byte {
	if i < p.cur.end {
		return p.src[i]
	}
	return 0
}

// blank reports whether i is at the end of the current line or at a space.
func (p *Parser) blank(i int) bool {
	return i >= p.cur.end || p.src[i] == ' '
}

func (p *Parser) skipSpaces(i int) int {
	for i < p.cur.end && p.src[i] == ' ' {
		i++
	}
	return i
}

// restEmpty reports whether nothing but spaces and a comment follows i on the current line.
func (p *Parser) restEmpty(i int) bool {
	j := p.skipSpaces(i)
	return j >= p.cur.end || p.src[j] == '#' && (j == p.cur.start || p.src[j-1] == ' ')
}

// seqItem reports whether the current line is an item of a block sequence at indent.
func (p *Parser) seqItem(indent int) bool {
	i := p.cur.start + indent
	return p.cur.indent == indent && p.src[i] == '-' && p.blank(i+1)
}

// ended reports whether the current line ends a node whose enclosing collection is at
// parent: the end of the text, a document marker, or a line indented no more than parent.
func (p *Parser) ended(parent int) bool {
	return !p.have || p.cur.indent <= parent || p.docStart()
}

// enter and leave bound the nesting.
func (p *Parser) enter() bool {
	p.depth++
	return p.depth <= maxDepth
}

func (p *Parser) leave() { p.depth-- }

// block parses the node that starts the current line, in a collection indented parent.
func (p *Parser) block(parent int) *yaml.Node {
	if !p.enter() {
		return p.fail()
	}
	defer p.leave()
	indent := p.cur.indent
	i := p.cur.start + indent
	if p.seqItem(indent) {
		return p.sequence(indent)
	}
	if k, after := p.key(i); k != nil {
		return p.mapping(k, after, indent)
	}
	if p.err != nil {
		return nil
	}
	n := p.inline(i)
	if n == nil || !p.ended(parent) {
		return p.fail()
	}
	return n
}

// mapping parses a block mapping at indent whose first key k has been read; after is
// where the first value starts, just past the ':'.
func (p *Parser) mapping(k *yaml.Node, after, indent int) *yaml.Node {
	n := p.nodes.new()
	*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column}
	mark := len(p.stack)
	for {
		v := p.entryValue(after, indent)
		if v == nil {
			return p.fail()
		}
		p.stack = append(p.stack, k, v)
		if !p.have || p.cur.indent < indent || p.docStart() {
			break
		}
		if p.cur.indent > indent {
			return p.fail()
		}
		if k, after = p.key(p.cur.start + indent); k == nil {
			return p.fail()
		}
	}
	n.Content = p.collect(mark)
	return n
}

// entryValue parses the value of a mapping entry at indent, from just past its ':'.
func (p *Parser) entryValue(after, indent int) *yaml.Node {
	i := p.skipSpaces(after)
	if p.restEmpty(after) {
		line, col := p.cur.no, p.col(after)
		p.advance()
		switch {
		case p.err != nil:
			return nil
		case p.have && !p.docStart() && p.cur.indent > indent:
			return p.block(indent)
		case p.have && p.seqItem(indent):
			return p.sequence(indent)
		}
		return p.null(line, col)
	}
	if p.at(i) == '-' && p.blank(i+1) {
		return p.fail() // a sequence on the line of its key is invalid
	}
	if k, _ := p.key(i); k != nil {
		return p.fail() // "a: b: c" is invalid
	}
	n := p.inline(i)
	if n == nil || !p.ended(indent) {
		return p.fail()
	}
	return n
}

// sequence parses a block sequence whose items are at indent, starting at the current
// line, its first item.
func (p *Parser) sequence(indent int) *yaml.Node {
	n := p.nodes.new()
	*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: p.cur.no, Column: indent + 1}
	mark := len(p.stack)
	for {
		dash := p.cur.start + indent
		i := p.skipSpaces(dash + 1)
		var v *yaml.Node
		switch {
		case p.restEmpty(dash + 1):
			line, col := p.cur.no, p.col(dash+1)
			p.advance()
			if p.err != nil {
				return nil
			}
			if p.have && !p.docStart() && p.cur.indent > indent {
				v = p.block(indent)
			} else {
				v = p.null(line, col)
			}
		case p.at(i) == '-' && p.blank(i+1):
			return p.fail() // "- - a": a compact nested sequence
		default:
			if k, after := p.key(i); k != nil {
				v = p.mapping(k, after, i-p.cur.start) // only spaces and '-' precede: bytes are characters
				break
			}
			if p.err != nil {
				return nil
			}
			if v = p.inline(i); v != nil && !p.ended(indent) {
				return p.fail()
			}
		}
		if v == nil {
			return p.fail()
		}
		p.stack = append(p.stack, v)
		if !p.have || p.cur.indent < indent || p.docStart() || !p.seqItem(indent) {
			break
		}
	}
	if p.have && p.cur.indent > indent {
		return p.fail()
	}
	n.Content = p.collect(mark)
	return n
}

// collect moves the children pushed since mark into the node arena's lists.
func (p *Parser) collect(mark int) []*yaml.Node {
	kids := p.ptrs.alloc(len(p.stack) - mark)
	copy(kids, p.stack[mark:])
	p.stack = p.stack[:mark]
	return kids
}

// key reads an implicit key of a block mapping at byte i of the current line: a plain or
// quoted scalar followed by ':' and a space or the end of the line. It returns the key
// and where its value starts, or nil when no key is there.
func (p *Parser) key(i int) (*yaml.Node, int) {
	c := p.at(i)
	if c == '"' || c == '\'' {
		k, j := p.quoted(i)
		if k == nil {
			return nil, 0
		}
		j = p.skipSpaces(j)
		if p.at(j) != ':' || !p.blank(j+1) {
			return nil, 0
		}
		if j-i > maxKey {
			p.fail()
			return nil, 0
		}
		return k, j + 1
	}
	if !plainStart(c, p.at(i+1)) {
		return nil, 0
	}
	for j := i; j < p.cur.end; j++ {
		switch p.src[j] {
		case ':':
			if !p.blank(j + 1) {
				continue
			}
			if j-i > maxKey {
				p.fail()
				return nil, 0
			}
			return p.plain(strings.TrimRight(p.src[i:j], " "), i), j + 1
		case '#':
			if p.src[j-1] == ' ' {
				return nil, 0 // a comment starts before any ':'
			}
		}
	}
	return nil, 0
}

// inline parses the scalar or flow collection at byte i, which must be all that is left
// on the current line (but a comment), and moves to the next line.
func (p *Parser) inline(i int) *yaml.Node {
	var n *yaml.Node
	end := i
	switch c := p.at(i); {
	case c == '[' || c == '{':
		n, end = p.flow(i)
	case c == '"' || c == '\'':
		n, end = p.quoted(i)
	case plainStart(c, p.at(i+1)):
		end = i
		for end < p.cur.end && !(p.src[end] == '#' && p.src[end-1] == ' ') {
			if p.src[end] == ':' && p.blank(end+1) {
				return p.fail() // "a: b: c" and the like
			}
			end++
		}
		n = p.plain(strings.TrimRight(p.src[i:end], " "), i)
	}
	if n == nil || !p.restEmpty(end) {
		return p.fail()
	}
	p.advance()
	return n
}

// plainStart reports whether a plain scalar may start with c (followed by next). The
// indicators that may start one when followed by a non-space ('-', '?', ':') are left to
// yaml.v3 but for '-', which starts negative numbers.
func plainStart(c, next byte) bool {
	switch c {
	case 0, ' ', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	case '-':
		return next != 0 && next != ' '
	}
	return true
}

// flow parses a flow collection on one line starting at byte i ('[' or '{'); it returns
// the node and the byte after its closing bracket.
func (p *Parser) flow(i int) (*yaml.Node, int) {
	if !p.enter() {
		return p.fail(), 0
	}
	defer p.leave()
	n := p.nodes.new()
	*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle, Line: p.cur.no, Column: p.col(i)}
	closing := byte(']')
	if p.src[i] == '{' {
		n.Kind, n.Tag, closing = yaml.MappingNode, "!!map", '}'
	}
	mark := len(p.stack)
	j := p.skipSpaces(i + 1)
	if p.at(j) == closing {
		n.Content = p.collect(mark)
		return n, j + 1
	}
	for {
		if n.Kind == yaml.MappingNode {
			var k *yaml.Node
			start := j
			if k, j = p.flowItem(j, false); k == nil {
				return p.fail(), 0
			}
			j = p.skipSpaces(j)
			if p.at(j) != ':' || !p.blank(j+1) || j-start > maxKey {
				return p.fail(), 0 // a key without a value, "a:b" where yaml.v3 decides, or a key too long
			}
			p.stack = append(p.stack, k)
			j = p.skipSpaces(j + 1)
		}
		var v *yaml.Node
		if v, j = p.flowItem(j, true); v == nil {
			return p.fail(), 0
		}
		p.stack = append(p.stack, v)
		j = p.skipSpaces(j)
		switch p.at(j) {
		case ',':
			j = p.skipSpaces(j + 1)
			if c := p.at(j); c == ',' || c == ']' || c == '}' || c == 0 {
				return p.fail(), 0 // a trailing comma, or a collection that goes on on the next line
			}
			continue
		case closing:
			n.Content = p.collect(mark)
			return n, j + 1
		}
		return p.fail(), 0
	}
}

// flowItem parses a scalar (or, when nested, a flow collection) inside a flow collection
// at byte i; it returns the node and the byte after it.
func (p *Parser) flowItem(i int, nested bool) (*yaml.Node, int) {
	c := p.at(i)
	switch {
	case c == '[' || c == '{':
		if !nested {
			return nil, 0
		}
		return p.flow(i)
	case c == '"' || c == '\'':
		return p.quoted(i)
	case !plainStart(c, p.at(i+1)):
		return nil, 0
	}
	j := i
scan:
	for ; j < p.cur.end; j++ {
		switch p.src[j] {
		case ',', '[', ']', '{', '}':
			break scan
		case '?':
			return nil, 0
		case '#':
			if p.src[j-1] == ' ' {
				return nil, 0 // a comment: the collection goes on on the next line
			}
		case ':':
			if p.blank(j + 1) {
				break scan
			}
			switch p.at(j + 1) {
			case ',', '[', ']', '{', '}':
				return nil, 0 // "a:," and the like, where yaml.v3 decides
			}
		}
	}
	value := strings.TrimRight(p.src[i:j], " ")
	return p.plain(value, i), j
}

// quoted parses a single-line quoted scalar at byte i; it returns it and the byte after
// its closing quote, or nil.
func (p *Parser) quoted(i int) (*yaml.Node, int) {
	q := p.src[i]
	start := i + 1
	var b *strings.Builder // only when the value differs from the text
	j := start
	for {
		if j >= p.cur.end {
			return nil, 0 // a quoted scalar that goes on on the next line
		}
		c := p.src[j]
		if q == '\'' && c == '\'' {
			if p.at(j+1) != '\'' {
				break
			}
			if b == nil {
				b = &strings.Builder{}
			}
			b.WriteString(p.src[start : j+1])
			j += 2
			start = j
			continue
		}
		if q == '"' && c == '"' {
			break
		}
		if q == '"' && c == '\\' {
			r, size := p.escape(j + 1)
			if size == 0 {
				return nil, 0
			}
			if b == nil {
				b = &strings.Builder{}
			}
			b.WriteString(p.src[start:j])
			b.WriteRune(r)
			j += 1 + size
			start = j
			continue
		}
		j++
	}
	value := p.src[start:j]
	if b != nil {
		b.WriteString(value)
		value = b.String()
	}
	style := yaml.DoubleQuotedStyle
	if q == '\'' {
		style = yaml.SingleQuotedStyle
	}
	n := p.nodes.new()
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: style, Value: value, Line: p.cur.no, Column: p.col(i)}
	return n, j + 1
}

// escape decodes the escape sequence after a backslash at byte i of a double-quoted
// scalar: the character and the bytes it takes, or size 0 for one left to yaml.v3.
func (p *Parser) escape(i int) (rune, int) {
	switch p.at(i) {
	case '0':
		return 0, 1
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 't':
		return '\t', 1
	case 'n':
		return '\n', 1
	case 'v':
		return '\v', 1
	case 'f':
		return '\f', 1
	case 'r':
		return '\r', 1
	case 'e':
		return 0x1B, 1
	case ' ', '"', '\\':
		return rune(p.src[i]), 1
	case 'N':
		return 0x85, 1
	case '_':
		return 0xA0, 1
	case 'L':
		return 0x2028, 1
	case 'P':
		return 0x2029, 1
	case 'x':
		return p.hexEscape(i+1, 2)
	case 'u':
		return p.hexEscape(i+1, 4)
	case 'U':
		return p.hexEscape(i+1, 8)
	}
	return 0, 0
}

func (p *Parser) hexEscape(i, digits int) (rune, int) {
	if i+digits > p.cur.end {
		return 0, 0
	}
	var r rune
	for _, c := range []byte(p.src[i : i+digits]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, 0
		}
		r = r<<4 | rune(d)
	}
	if r >= 0xD800 && r <= 0xDFFF || r > utf8.MaxRune {
		return 0, 0
	}
	return r, 1 + digits
}

// plain makes the node of a plain scalar starting at byte i of the current line.
func (p *Parser) plain(value string, i int) *yaml.Node {
	n := p.nodes.new()
	*n = yaml.Node{Kind: yaml.ScalarNode, Value: value, Line: p.cur.no, Column: p.col(i)}
	n.Tag = plainTag(n)
	return n
}

// null makes an empty scalar, which yaml.v3 tags !!null.
func (p *Parser) null(line, col int) *yaml.Node {
	n := p.nodes.new()
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: line, Column: col}
	return n
}
