package desired

import (
	"encoding/json"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Numbers are kept exactly. A YAML integer that fits 64 bits is an int64; any other
// number (an integer beyond 64 bits, a fraction, an exponent) is a json.Number holding the
// decimal digits as written (in JSON's spelling: no +, no _, no bare . at either end), so
// nothing is rounded through float64 on the way to the tenant. Integers written with a
// leading zero (0123) are refused: YAML 1.1 reads them as octal and YAML 1.2 as decimal,
// and yaml.v3 reads 0123 as 83 but 0129 as 129.

// number decodes a scalar the YAML parser resolved as a number (!!int or !!float), or a
// plain scalar it left as text because the number overflows a float64. It returns the
// value, or a message saying what is wrong and what to do.
func number(n *yaml.Node) (any, string) {
	text := strings.ReplaceAll(n.Value, "_", "")
	neg := strings.HasPrefix(text, "-")
	body := strings.TrimLeft(text, "+-")
	if len(text)-len(body) > 1 || body == "" {
		return nil, n.Value + " is not a number JSON can carry: quote it to send it as text"
	}
	lower := strings.ToLower(body)
	switch {
	case strings.HasPrefix(lower, "0x"), strings.HasPrefix(lower, "0o"), strings.HasPrefix(lower, "0b"):
		if n.ShortTag() != "!!int" {
			return nil, n.Value + " is not a number JSON can carry: quote it to send it as text"
		}
		i, err := strconv.ParseInt(text, 0, 64)
		if err != nil {
			return nil, n.Value + " is out of range of a 64-bit integer in this base: write it in decimal, or quote it to send it as text"
		}
		return i, ""
	case leadingZero(body):
		plain := strings.TrimLeft(body, "0")
		if plain == "" || plain[0] == '.' {
			plain = "0" + plain
		}
		if neg {
			plain = "-" + plain
		}
		return nil, n.Value + " is ambiguous: YAML readers take a number with a leading zero as octal or as decimal; quote it (\"" + n.Value + "\") to keep it as text, or write " + plain + " for the number"
	}
	intPart, frac, exp, ok := splitDecimal(body)
	if !ok {
		return nil, n.Value + " is not a number JSON can carry: quote it to send it as text"
	}
	if frac == "" && exp == "" && intPart != "" {
		sign := ""
		if neg {
			sign = "-"
		}
		if i, err := strconv.ParseInt(sign+intPart, 10, 64); err == nil {
			return i, ""
		}
		return jsonNumber(neg, intPart, "", ""), ""
	}
	if n.ShortTag() == "!!int" {
		return nil, n.Value + " is tagged !!int but is not a whole number: remove the tag, or write a whole number"
	}
	return jsonNumber(neg, intPart, frac, exp), ""
}

// keepNumber returns a number for the State: a json.Number's text through keep.
func (d *fileDecoder) keepNumber(v any) any {
	if num, ok := v.(json.Number); ok {
		return json.Number(d.l.keep(string(num)))
	}
	return v
}

// splitDecimal splits a YAML decimal number without its sign (digits, an optional
// fraction, an optional exponent: 12, 1.5, .5, 1., 1e3, 1.5E-3) into its parts. exp
// keeps its sign.
func splitDecimal(s string) (intPart, frac, exp string, ok bool) {
	mant, e, hasExp := strings.Cut(strings.ReplaceAll(s, "E", "e"), "e")
	intPart, frac, _ = strings.Cut(mant, ".")
	if !digits(intPart) && intPart != "" || !digits(frac) && frac != "" || intPart == "" && frac == "" {
		return "", "", "", false
	}
	if hasExp {
		d := strings.TrimLeft(e, "+-")
		if len(e)-len(d) > 1 || !digits(d) {
			return "", "", "", false
		}
		exp = e
	}
	return intPart, frac, exp, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// jsonNumber spells a decimal number as JSON does.
func jsonNumber(neg bool, intPart, frac, exp string) json.Number {
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	if intPart == "" {
		intPart = "0"
	}
	b.WriteString(intPart)
	if frac != "" {
		b.WriteString(".")
		b.WriteString(frac)
	}
	if exp != "" {
		b.WriteString("e")
		b.WriteString(strings.TrimPrefix(exp, "+"))
	}
	return json.Number(b.String())
}

// plainNumber reports whether a plain, untagged scalar the parser left as text is a
// decimal number: one too large for a float64 (a 400-digit integer, 1e999), which YAML
// 1.2 reads as a number and yaml.v3 as text.
func plainNumber(n *yaml.Node) bool {
	if n.Style != 0 || n.ShortTag() != "!!str" {
		return false
	}
	// Most text holds a byte no decimal number does: it is turned down before the
	// underscores are taken out, which copies it.
	for i := 0; i < len(n.Value); i++ {
		switch c := n.Value[i]; {
		case c >= '0' && c <= '9', c == '.', c == 'e', c == 'E', c == '+', c == '-', c == '_':
		default:
			return false
		}
	}
	s := strings.ReplaceAll(n.Value, "_", "")
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || body == "" || body[0] != '.' && (body[0] < '0' || body[0] > '9') {
		return false
	}
	_, _, _, ok := splitDecimal(body)
	return ok
}

// leadingZero reports whether a number is written with a leading zero (0123, -08, 00.5).
func leadingZero(s string) bool {
	body := strings.TrimLeft(strings.ReplaceAll(s, "_", ""), "+-")
	return len(body) > 1 && body[0] == '0' && body[1] >= '0' && body[1] <= '9'
}
