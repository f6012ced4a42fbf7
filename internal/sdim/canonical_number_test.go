package sdim

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestCanonicalNumberExact: two JSON numbers have the same canonical spelling exactly
// when math/big says their values are equal, for integers far beyond 64 bits, float
// spellings of integers, fractions and exponents; and the spelling is a JSON number of
// that same value.
func TestCanonicalNumberExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	// spellings writes the value ±m×10^e in several JSON spellings.
	spellings := func(neg bool, m string, e int) []string {
		sign := ""
		if neg {
			sign = "-"
		}
		out := []string{sign + m + "e" + strconv.Itoa(e), sign + m + "0e" + strconv.Itoa(e-1), sign + m + "E" + plus(e)}
		if e >= 0 {
			out = append(out, sign+m+strings.Repeat("0", e), sign+m+strings.Repeat("0", e)+".000")
		} else if -e < len(m) {
			out = append(out, sign+m[:len(m)+e]+"."+m[len(m)+e:])
		}
		return out
	}
	value := func(s string) *big.Rat {
		v, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat cannot read %q", s)
		}
		return v
	}
	var all []string
	for range 300 {
		m := digits(1 + r.IntN(40))
		e := r.IntN(60) - 30
		all = append(all, spellings(r.IntN(2) == 0, m, e)...)
	}
	// Values that float64 cannot tell apart.
	all = append(all, "9007199254740993", "9007199254740993.0", "9007199254740992", "90071992547409930e-1",
		"123456789012345678901234567890", "123456789012345678901234567891", "1.23456789012345678901234567890e29",
		"0.1", "0.10000000000000000001", "1e-30", "1.0e-30", "0", "-0", "0.000")
	canon := make([]json.Number, len(all))
	for i, s := range all {
		canon[i] = canonicalNumber(s)
		if !value(s).IsInt() || len(canon[i]) < 1100 {
			if got := value(string(canon[i])); got.Cmp(value(s)) != 0 {
				t.Fatalf("canonicalNumber(%q) = %q: another value", s, canon[i])
			}
		}
		var v any
		if err := json.Unmarshal([]byte(canon[i]), &v); err != nil {
			t.Fatalf("canonicalNumber(%q) = %q: not JSON: %v", s, canon[i], err)
		}
	}
	// Equal canonical spellings <=> equal values: the map from one to the other is a
	// bijection.
	byCanon, byValue := map[json.Number]string{}, map[string]json.Number{}
	for i, s := range all {
		v := value(s).RatString()
		if prev, ok := byCanon[canon[i]]; ok && prev != v {
			t.Fatalf("%q and a number of another value are both %q", s, canon[i])
		}
		if prev, ok := byValue[v]; ok && prev != canon[i] {
			t.Fatalf("%q is %q, another spelling of its value is %q", s, canon[i], prev)
		}
		byCanon[canon[i]], byValue[v] = v, canon[i]
	}
	if len(byValue) < 300 {
		t.Fatalf("only %d distinct values", len(byValue))
	}
}

// TestCompareBigNumbers: Compare finds no difference between spellings of one value and a
// difference of one in the 30th digit.
func TestCompareBigNumbers(t *testing.T) {
	obj := func(v any) map[string]any {
		return CanonicalServiceDesk(ServiceDeskIntegration{Name: "x", Attributes: map[string]any{"n": v}})
	}
	opts := CompareOptions{}
	for _, tt := range []struct {
		want, live any
		equal      bool
	}{
		{json.Number("123456789012345678901234567890"), json.Number("123456789012345678901234567890"), true},
		{json.Number("123456789012345678901234567890"), json.Number("123456789012345678901234567891"), false},
		{json.Number("9007199254740993.0"), json.Number("9007199254740993"), true},
		{json.Number("9007199254740993.0"), json.Number("9007199254740992"), false},
		{json.Number("9007199254740993"), float64(9007199254740992), false},
		{int64(30), json.Number("3.0e1"), true},
	} {
		if got := Equal(obj(tt.want), obj(tt.live), opts); got != tt.equal {
			t.Errorf("Equal(%v, %v) = %v, want %v", tt.want, tt.live, got, tt.equal)
		}
		if got := len(Compare(obj(tt.want), obj(tt.live), opts)) == 0; got != tt.equal {
			t.Errorf("Compare(%v, %v) equal = %v, want %v", tt.want, tt.live, got, tt.equal)
		}
	}
}

func plus(e int) string {
	if e >= 0 {
		return "+" + strconv.Itoa(e)
	}
	return strconv.Itoa(e)
}
