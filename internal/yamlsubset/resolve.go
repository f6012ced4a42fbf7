package yamlsubset

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// plainTag is the tag yaml.v3 resolves a plain scalar to. yaml.v3 decides by trying the
// text as a timestamp, an integer and a float, and each failed try allocates an error;
// most values here (names, ids, URLs) plainly are none of these, so only a text that could
// be one is handed to yaml.v3's own resolution (through ShortTag), and the answer stays
// exactly its answer.
func plainTag(n *yaml.Node) string {
	s := n.Value
	switch s {
	case "~", "null", "Null", "NULL":
		return "!!null"
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return "!!bool"
	case "<<":
		return "!!merge"
	}
	switch c := s[0]; {
	case c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.' || c == '<':
		if mayResolve(s) {
			return n.ShortTag()
		}
	}
	return "!!str"
}

// mayResolve reports whether a plain scalar starting with a digit, a sign, '.' or '<'
// could resolve to something other than a string: a number in any of the bases yaml.v3
// reads (0x, 0o, 0b, with underscores anywhere), a float, a timestamp (time.Parse also
// takes a comma before fractional seconds), infinity, NaN or the merge key. It is false
// only for texts none of these can be.
func mayResolve(s string) bool {
	if strings.IndexByte(s, '_') >= 0 {
		return true // yaml.v3 drops every '_' before reading a number: 0_x1F is 31
	}
	t := s
	if t[0] == '+' || t[0] == '-' {
		t = t[1:]
	}
	if len(t) >= 2 && t[0] == '0' {
		switch t[1] {
		case 'x', 'X', 'o', 'O', 'b', 'B':
			return true
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '+' || c == '-' || c == '.' || c == ':' || c == ' ' || c == '<':
		case c == ',': // a timestamp's fractional seconds: 21:59:43,5
		case c == 'e' || c == 'E' || c == 't' || c == 'T' || c == 'z' || c == 'Z':
		case c == 'i' || c == 'I' || c == 'n' || c == 'N' || c == 'f' || c == 'F' || c == 'a' || c == 'A':
			// .inf, .nan and their signed forms
		default:
			return false
		}
	}
	return true
}
