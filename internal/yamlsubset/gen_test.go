package yamlsubset

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// scalars are plain and quoted texts chosen to sit on the edges yaml.v3 resolves or
// scans differently: numbers in every base, timestamps, booleans, nulls, indicators
// inside plain text, escapes, colons, hashes and non-ASCII text. risky are texts that are
// invalid in some places or outside the subset (indicators at the start, "a: b" as a
// value, unknown escapes); they are picked one time in 64, so that most generated
// texts are valid YAML and the comparison covers whole trees.
var scalars = []string{
	"a", "value", "Tickets for manual provisioning, team 3", "x y  z", "ü", "日本語", "é:x",
	"0", "7", "-1", "+2", "007", "0777", "08", "1_000", "0x1F", "0xG", "0o17", "0b101", "-0b1", "-0o7", "0_x1F", "-_0b1", "_1",
	"1.5", ".5", "1e3", "1e", "1.5e+3", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1.2.3",
	"9223372036854775807", "9223372036854775808", "18446744073709551616", "-9223372036854775809",
	"2001-12-14", "2001-12-14T21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2001-12-14t21:59:43Z", "2001-12-14 21:59:43,5", "2001-1-2", "12:30", "1:2:3",
	"true", "True", "TRUE", "tRue", "false", "no", "yes", "on", "off", "y", "n", "null", "Null", "NULL", "~", "nul",
	"<<", "<", "<x", "2c9180a46faadee4016fb4e018c20001", "0e5", "1E5", "e5", "-x", "--", "---x", "...x",
	"http://x/y?z=1#f", "a:b", "a#b", "${env:SNOW_PASSWORD}", "${file:../s/x}", "/attributes/lastSyncDate",
	"'q'", "'it''s'", "''", `""`, `"a\"b"`, `"\u00e9\x41\n\t\\"`, `"\U0001F600"`, `"é"`, "'#'", `"a: b"`,
}

var risky = []string{
	"a #c", "a  #c", `"\/"`, `"\q"`, `"\ud800"`, "-", "a: b", "a,b", "[a]", "{a}", "&x", "*x", "!t", "|", ">", "%", "@", "`", "?x", ":x", "a:", "#",
}

var keys = []string{"a", "kind", "name", "spec", "ownerRef", "id", "type", "url", "k k", "é", "<<", "'q'", `"d"`, `""`, "1", "true", "~", "a:b", "http://x", "-k"}

type gen struct {
	r *rand.Rand
	b strings.Builder
}

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }

// scalar picks a scalar, a risky one one time in 64.
func (g *gen) scalar() string {
	if g.r.IntN(64) == 0 {
		return g.pick(risky)
	}
	return g.pick(scalars)
}

func (g *gen) ws() string {
	return [...]string{"", "", "", " ", "  "}[g.r.IntN(5)]
}

func (g *gen) comment() string {
	if g.r.IntN(6) == 0 {
		return " # " + g.scalar()
	}
	return ""
}

// flow writes a flow collection or scalar.
func (g *gen) flow(depth int) string {
	switch n := g.r.IntN(6); {
	case depth > 2 || n < 3:
		return g.scalar()
	case n == 3:
		items := make([]string, g.r.IntN(4))
		for i := range items {
			items[i] = g.flow(depth + 1)
		}
		return "[" + g.ws() + strings.Join(items, ","+g.ws()+" ") + g.ws() + "]"
	default:
		items := make([]string, g.r.IntN(4))
		for i := range items {
			items[i] = g.pick(keys) + ":" + " " + g.ws() + g.flow(depth+1)
		}
		return "{" + g.ws() + strings.Join(items, ", ") + g.ws() + "}"
	}
}

// block writes a node at indent, as the value of a key (inKey) or an item.
func (g *gen) block(indent, depth int) {
	pad := strings.Repeat(" ", indent)
	switch n := g.r.IntN(5); {
	case depth > 3 || n < 2:
		g.b.WriteString(" " + g.flow(0) + g.comment() + "\n")
	case n == 2:
		g.b.WriteString(g.comment() + "\n")
		for range 1 + g.r.IntN(3) {
			g.b.WriteString(pad + "-")
			if g.r.IntN(3) == 0 {
				// a compact mapping in the item
				g.b.WriteString(" " + g.pick(keys) + ":")
				g.block(indent+4, depth+1)
				for range g.r.IntN(2) {
					g.b.WriteString(pad + "  " + g.pick(keys) + ":")
					g.block(indent+4, depth+1)
				}
				continue
			}
			g.block(indent+2, depth+1)
		}
	default:
		g.b.WriteString(g.comment() + "\n")
		if g.r.IntN(8) == 0 {
			g.b.WriteString("\n" + pad + "# between\n")
		}
		for range 1 + g.r.IntN(4) {
			g.b.WriteString(pad + g.pick(keys) + g.ws() + ":")
			g.block(indent+2, depth+1)
		}
	}
}

func (g *gen) stream() string {
	g.b.Reset()
	for d := range 1 + g.r.IntN(3) {
		if d > 0 || g.r.IntN(2) == 0 {
			g.b.WriteString("---" + g.comment() + "\n")
		}
		if g.r.IntN(10) == 0 {
			continue // an empty document
		}
		for range 1 + g.r.IntN(4) {
			g.b.WriteString(g.pick(keys) + ":")
			g.block(2, 0)
		}
	}
	s := g.b.String()
	if g.r.IntN(4) == 0 && len(s) > 0 {
		// A small mutation: the edges of the subset are where mistakes hide.
		i := g.r.IntN(len(s))
		m := [...]string{" ", "", "\n", ":", "-", "#", "'", "[", "  ", "\r\n"}
		s = s[:i] + m[g.r.IntN(len(m))] + s[i+1:]
	}
	return s
}

// TestGeneratedTexts compares the parser with yaml.v3 on many generated texts, and checks
// that most of the unmutated ones are read here (else the comparison proves little).
func TestGeneratedTexts(t *testing.T) {
	n := 4000 // about 3 s; 20 s under -race
	if testing.Short() {
		n = 1000
	}
	g := &gen{r: rand.New(rand.NewPCG(1, 2))}
	read, valid := 0, 0
	for range n {
		src := g.stream()
		if compare(t, src) {
			read++
		}
		if _, err := general(src); err == nil {
			valid++
		}
	}
	t.Logf("%d of %d generated texts read by the parser; yaml.v3 reads %d", read, n, valid)
	if read < valid/2 {
		t.Errorf("only %d of the %d generated texts yaml.v3 reads are read by the parser", read, valid)
	}
}
