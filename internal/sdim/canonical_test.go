package sdim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestCanonicalValueNumbers(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want json.Number
	}{
		{int64(30), "30"}, {30.0, "30"}, {json.Number("30.0"), "30"}, {json.Number("3e1"), "30"},
		{json.Number("1.50"), "1.5"}, {1.5, "1.5"}, {int32(-7), "-7"}, {json.Number("-0"), "0"},
		{json.Number("12345678901234567890123"), "12345678901234567890123"},
		{json.Number("9007199254740993.0"), "9007199254740993"}, {json.Number("9007199254740993"), "9007199254740993"},
		{json.Number("9007199254740992.0"), "9007199254740992"}, {9007199254740992.0, "9007199254740992"},
		{json.Number("1.23456789012345678901234567890e29"), "123456789012345678901234567890"},
		{json.Number("-123456789012345678901234567890.000"), "-123456789012345678901234567890"},
		{json.Number("0.1"), "0.1"}, {0.1, "0.1"}, {json.Number("1e-7"), "1e-7"}, {1e-7, "1e-7"},
		{json.Number("0.000001"), "0.000001"}, {json.Number("1E+3"), "1000"}, {json.Number("0e99"), "0"},
		{json.Number("1.5e-20"), "1.5e-20"}, {json.Number("15e-21"), "1.5e-20"}, {1e21, "1000000000000000000000"},
		{json.Number("1e1000"), "1e1000"}, {json.Number("1e999"), json.Number("1" + strings.Repeat("0", 999))},
		{json.Number("1e99999999999"), "1e99999999999"}, // beyond any real use: as written
		{uint64(18446744073709551615), "18446744073709551615"},
	} {
		if got := CanonicalValue(tt.in); got != tt.want {
			t.Errorf("CanonicalValue(%#v) = %#v, want %q", tt.in, got, tt.want)
		}
	}
	if got := CanonicalValue(map[string]any{"a": nil, "b": []any{}, "c": map[string]any{"d": nil}}); got != nil {
		t.Errorf("empty values: %#v, want nil", got)
	}
}

func TestComparePointersAndMasking(t *testing.T) {
	keys := NewSecretKeySet(DefaultSecretAttributeKeys())
	opts := CompareOptions{SecretKeys: keys, SecretMaps: []string{"/attributes"}}
	want := CanonicalServiceDesk(ServiceDeskIntegration{Name: "x", Attributes: map[string]any{
		"a/b~c": "1", "auth": map[string]any{"user": "u", "password": NewSecret("p", "env:P")},
		"header": NewSecret("Bearer new", "env:H"),
	}, OwnerRef: &Reference{ID: "o"}})
	live := CanonicalServiceDesk(ServiceDeskIntegration{Name: "x", Attributes: map[string]any{
		"a/b~c": "2", "header": "Bearer old", "gone": map[string]any{"apiKey": "shown", "x": "y"},
	}})
	got := Compare(want, live, opts)
	text := fmt.Sprint(got)
	for _, leak := range []string{"Bearer old", "Bearer new", "shown"} {
		if strings.Contains(text, leak) {
			t.Errorf("%q shown: %s", leak, text)
		}
	}
	var ptrs []string
	for _, d := range got {
		ptrs = append(ptrs, d.Pointer)
	}
	wantPtrs := []string{"/attributes/a~1b~0c", "/attributes/auth", "/attributes/gone", "/attributes/header", "/ownerRef"}
	if !reflect.DeepEqual(ptrs, wantPtrs) {
		t.Errorf("pointers %q, want %q", ptrs, wantPtrs)
	}
	if Equal(want, live, opts) {
		t.Errorf("Equal says equal")
	}
	opts.Ignore = []string{"/attributes", "/ownerRef"}
	if d := Compare(want, live, opts); len(d) != 0 || !Equal(want, live, opts) {
		t.Errorf("ignored pointers compared: %v", d)
	}
}

func TestPointers(t *testing.T) {
	toks, err := SplitPointer("/attributes/a~1b~0c")
	if err != nil || !reflect.DeepEqual(toks, []string{"attributes", "a/b~c"}) {
		t.Errorf("SplitPointer: %q %v", toks, err)
	}
	if _, err := SplitPointer("attributes"); err == nil {
		t.Errorf("a pointer without / accepted")
	}
	tree := CanonicalServiceDesk(ServiceDeskIntegration{BeforeProvisioningRule: &Reference{ID: "r"}})
	if v, ok := Lookup(tree, "/beforeProvisioningRule/type"); !ok || v != RefRule {
		t.Errorf("Lookup: %v %v", v, ok)
	}
	b, _ := json.Marshal(tree["beforeProvisioningRule"])
	if string(b) != `{"id":"r","type":"RULE"}` {
		t.Errorf("a canonical reference marshals as %s", b)
	}
}
