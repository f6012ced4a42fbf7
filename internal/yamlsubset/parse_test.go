package yamlsubset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// fast parses every document of src with the Parser, copying each tree (the parser
// reuses its nodes).
func fast(src string) ([]*yaml.Node, error) {
	p := NewParser(src)
	var docs []*yaml.Node
	for {
		doc, err := p.Next()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, clone(doc))
	}
}

func clone(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = nil
	for _, k := range n.Content {
		c.Content = append(c.Content, clone(k))
	}
	return &c
}

// general parses every document of src with yaml.v3.
func general(src string) (docs []*yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml.v3 panicked: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, &doc)
	}
}

// diff says where two trees differ in what yaml.v3's users read (comments aside), or "".
func diff(a, b *yaml.Node, path string) string {
	if a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value || a.Line != b.Line || a.Column != b.Column || len(a.Content) != len(b.Content) {
		return fmt.Sprintf("%s: got kind %d style %d tag %q value %q at %d:%d with %d children, yaml.v3 has kind %d style %d tag %q value %q at %d:%d with %d children",
			path, a.Kind, a.Style, a.Tag, a.Value, a.Line, a.Column, len(a.Content), b.Kind, b.Style, b.Tag, b.Value, b.Line, b.Column, len(b.Content))
	}
	for i := range a.Content {
		if d := diff(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// compare checks the parser against yaml.v3 on src: where the parser reads it, the trees
// must be equal and yaml.v3 must read it too. It reports whether the parser read it all.
func compare(t *testing.T, src string) bool {
	t.Helper()
	got, err := fast(src)
	want, werr := general(src)
	if err != nil {
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%q: want ErrUnsupported or success, got %v", src, err)
		}
		// The documents returned before the parser gave up must still be yaml.v3's, where
		// yaml.v3 returns them (its look-ahead may fail on a document's successor first).
		for i := range min(len(got), len(want)) {
			if d := diff(got[i], want[i], fmt.Sprintf("document %d", i+1)); d != "" {
				t.Fatalf("%q: %s", src, d)
			}
		}
		return false
	}
	if werr != nil {
		t.Fatalf("%q: the parser read it, yaml.v3 says %v", src, werr)
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d documents, yaml.v3 reads %d", src, len(got), len(want))
	}
	for i := range got {
		if d := diff(got[i], want[i], fmt.Sprintf("document %d", i+1)); d != "" {
			t.Fatalf("%q: %s", src, d)
		}
	}
	return true
}

// inSubset are texts the parser must read itself, each giving yaml.v3's tree.
var inSubset = []string{
	"",
	"\n\n",
	"# only a comment\n",
	"---\n",
	"---\n---\n",
	"a: 1\n---",
	"a: 1\n---\n",
	"a: 1\n---\nb: 2\n",
	"--- # a comment\na: 1\n",
	"# c\n\na: 1\n",
	"a: b\nc:\n  d: 1\n",
	"  a: 1\n  b: 2\n",
	"a:\n- x\n- y\nb: {c: d, e: [1, 2]}\n",
	"a:\n  - x\n  - y\n",
	"- a: 1\n  b: 2\n-\n  c: 3\n- 'q'\n",
	"-\n- x\n",
	"- a:\n  - x\n  b: 2\n",
	"k:\nz: \"x\\ty\"\n",
	"a: [ ]\nb: {}\nc: ~\nd: null\ne: true\nf: FALSE\n",
	"a:   # c\nb: 1\n",
	"a: [http://x, a:b, c]\n",
	"a: x #y\nb: 'c'\n",
	"a:\n\n  b: 1\n",
	"a : 1\n",
	"\"a\" : 1\n'b': 2\n",
	"ñá: x\né: [ü, {ö: ß}]\n",
	"a: 'it''s'\nb: \"\\\"q\\\" \\\\ \\u00e9 \\x41 \\n\"\n",
	"a: -1\nb: +2\nc: 0x1F\nd: 0o17\ne: 0b101\nf: 1_000\ng: 1.5e3\nh: .5\ni: .inf\nj: -.Inf\nk: .NaN\nl: 2001-12-14\nm: 2001-12-14T21:59:43.10-05:00\nn: 0777\no: 9223372036854775808\np: 007\nq: 1e\nr: 12:30\n",
	"id: 2c9180a46faadee4016fb4e018c20001\nother: 2001-12-14x\nv: 1.2.3\n",
	"a: y\nb: yes\nc: on\nd: No\ne: <<\nf: <x\n",
	"<<: {a: 1}\nb: 2\n",
	"a: b  c  \nd: e # f\n",
	"a: ${env:SNOW_PASSWORD}\nb: ${file:../secrets/x}\n",
	"a:\r\n  b: 1\r\n",
	"a: [[1, 2], {b: [c]}]\n",
	"---\nkind: ServiceDeskIntegration\nname: Integration 00001\nspec:\n  description: Tickets, team 1\n  ownerRef: {type: IDENTITY, id: 2c9180a46faadee4016fb4e018c20001}\n  provisioningConfig:\n    managedResourceRefs:\n      - {type: SOURCE, id: 2c9180855d191c59015d291ceb050001}\n    noProvisioningRequests: false\n    provisioningRequestExpiration: 7\noptions:\n  ignore: [/attributes/lastSyncDate]\n",
	"---x: 1\n",
	"a: \"\"\nb: ''\n\"\": c\n",
	"a: 0_x1F\nb: -_0b1\nc: +0_o17\nd: 1_0_0\ne: 2001-12-14 21:59:43,5\nf: 2001-12-14T21:59:43,10Z\n",
	"\"" + strings.Repeat("k", 990) + "\": 1\nb: {" + strings.Repeat("k", 990) + ": 1}\n",
}

// outside are texts the parser must leave to yaml.v3 (valid YAML or not).
var outside = []string{
	"a: &x 1\nb: *x\n",
	"a: !!str 1\n",
	"a: |\n  text\n",
	"a: >\n  text\n",
	"a: long\n  text\n",
	"a: 'two\n  lines'\n",
	"a: [1,\n  2]\n",
	"%YAML 1.2\n---\na: 1\n",
	"a: 1\n...\n",
	"a:\t1\n",
	"\ufeffa: 1\n",
	"a: b: c\n",
	"a: 1\n b: 2\n",
	"a:\n    b: 1\n  c: 2\n",
	"- - a\n",
	"? a\n: b\n",
	"a: [a, ]\n",
	"a: {b}\n",
	"a: 1\nb\n",
	"a\nb: 1\n",
	"--- a\n",
	"a: \"\\q\"\n",
	"a: \"\\ud800\"\n",
	"[a]: b\n",
	"a: x\rb: y\n",
	"a: \u0085\n",
	"a: 'x'y\n",
	// Keys longer than yaml.v3's 1024 characters to their ':', which it refuses.
	"\"" + strings.Repeat("k", 1100) + "\": 1\n",
	"'" + strings.Repeat("k", 1100) + "': 1\n",
	"\"a\"" + strings.Repeat(" ", 1100) + ": 1\n",
	"- \"" + strings.Repeat("k", 1100) + "\": 1\n",
	"a: {" + strings.Repeat("k", 1100) + ": 1}\n",
	"a: {\"" + strings.Repeat("k", 1100) + "\": 1}\n",
	strings.Repeat("k", 1100) + ": 1\n",
}

func TestParserMatchesYAMLv3(t *testing.T) {
	for _, src := range inSubset {
		if !compare(t, src) {
			t.Errorf("%q: left to yaml.v3, want it read here", src)
		}
	}
	for _, src := range outside {
		if compare(t, src) {
			t.Errorf("%q: read here, want it left to yaml.v3", src)
		}
	}
}

// TestNodesAreReused pins the contract callers rely on: a document's nodes are reused by
// the next, its strings are not.
func TestNodesAreReused(t *testing.T) {
	p := NewParser("a: one\n---\nb: two\n")
	first, err := p.Next()
	if err != nil {
		t.Fatal(err)
	}
	key := first.Content[0].Content[0]
	value := key.Value
	if _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	if key.Value != "b" || value != "a" {
		t.Errorf("after the second document, the first's key node holds %q (want the reused %q) and its string %q (want %q)", key.Value, "b", value, "a")
	}
	if _, err := p.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last document: %v, want io.EOF", err)
	}
}

// TestUnsupportedSticks: once out of the subset, every call says so.
func TestUnsupportedSticks(t *testing.T) {
	p := NewParser("a: 1\n---\nb: &x 2\n---\nc: 3\n")
	if _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.Next(); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("got %v, want ErrUnsupported", err)
		}
	}
}

func TestDeepNestingIsLeftToYAMLv3(t *testing.T) {
	src := "a: " + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "\n"
	if _, err := fast(src); !errors.Is(err, ErrUnsupported) {
		t.Errorf("500 nested flow sequences: %v, want ErrUnsupported", err)
	}
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "%sk:\n", strings.Repeat(" ", i))
	}
	if _, err := fast(b.String()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("200 nested mappings: %v, want ErrUnsupported", err)
	}
}

// TestLongLinesStayLinear: columns are counted in characters, and counting each from the
// start of its line made a long non-ASCII line quadratic (400 KB took 34 s). Now a
// 4 MiB one, the loader's largest file, takes milliseconds; the guard is generous.
func TestLongLinesStayLinear(t *testing.T) {
	src := "a: [é" + strings.Repeat(", ü", (4<<20)/4) + "]\n"
	done := make(chan error, 1)
	go func() {
		docs, err := fast(src)
		if err == nil && len(docs[0].Content[0].Content[1].Content) != (4<<20)/4+1 {
			err = fmt.Errorf("read %d items", len(docs[0].Content[0].Content[1].Content))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a 4 MiB line of non-ASCII items took more than 30 s")
	}
}

// TestPlainTagIsYAMLv3s holds plainTag's shortcut to yaml.v3's resolver on random texts
// made of the characters numbers, timestamps and keywords are written with: where the
// shortcut says !!str without asking yaml.v3, yaml.v3 must say so too.
func TestPlainTagIsYAMLv3s(t *testing.T) {
	const alphabet = "0123456789+-._xobXOB:tTzZ, inafINAFeE<~lsru"
	r := rand.New(rand.NewPCG(3, 4))
	n := 300000
	if testing.Short() {
		n = 30000
	}
	for range n {
		b := make([]byte, 1+r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			continue
		}
		node := &yaml.Node{Kind: yaml.ScalarNode, Value: s}
		got, want := plainTag(node), node.ShortTag()
		if s == "<<" {
			want = "!!merge" // the parser tags the merge key; ShortTag's resolver does not know it
		}
		if got != want {
			t.Fatalf("%q: plainTag says %s, yaml.v3 %s", s, got, want)
		}
	}
}
