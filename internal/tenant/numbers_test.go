package tenant_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// TestNumbersExact: numbers go to the tenant and come back with every digit: integers
// beyond 64 bits, an integer just past float64's exact range (as an int64 and as a float
// spelling) and an exponent beyond float64; nothing passes through float64 on the way.
func TestNumbersExact(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	c, err := tenant.New(env.settings(t, sdim.V3))
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]any{
		"big":      json.Number("123456789012345678901234567890"),
		"negbig":   json.Number("-9223372036854775809"),
		"floatint": json.Number("9007199254740993.0"),
		"int":      int64(9007199254740993),
		"exp":      json.Number("1.5e400"),
		"list":     []any{json.Number("18446744073709551617"), map[string]any{"deep": json.Number("0.10000000000000000001")}},
	}
	want := map[string]string{
		"big": "123456789012345678901234567890", "negbig": "-9223372036854775809", "floatint": "9007199254740993.0",
		"int": "9007199254740993", "exp": "1.5e400",
	}
	ctx := t.Context()
	created, err := c.CreateServiceDesk(ctx, sdim.ServiceDeskIntegration{Name: "Numbers", Type: "ServiceNowSDIM", Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		b, err := json.Marshal(env.emu.State())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	check := func(step string, got map[string]any) {
		t.Helper()
		for k, digits := range want {
			if n, ok := got[k].(json.Number); !ok || string(n) != digits {
				t.Errorf("%s: attributes.%s = %#v, want json.Number(%q)", step, k, got[k], digits)
			}
		}
		list, _ := got["list"].([]any)
		if len(list) != 2 || list[0] != json.Number("18446744073709551617") ||
			list[1].(map[string]any)["deep"] != json.Number("0.10000000000000000001") {
			t.Errorf("%s: attributes.list = %#v", step, got["list"])
		}
		s := stored()
		for _, digits := range []string{`"big":123456789012345678901234567890`, `"floatint":9007199254740993.0`, `"int":9007199254740993`, `18446744073709551617`, `0.10000000000000000001`, `1.5e400`} {
			if !strings.Contains(s, digits) {
				t.Errorf("%s: the emulator's stored object lacks %s: %s", step, digits, s)
			}
		}
	}
	check("create answer", created.Attributes)
	got, err := c.GetServiceDesk(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("read back", got.Attributes)
	// What was read goes back out unchanged.
	put, err := c.PutServiceDesk(ctx, got.ID, *got)
	if err != nil {
		t.Fatal(err)
	}
	check("put answer", put.Attributes)
	list, err := c.ListServiceDesk(ctx, tenant.ListOptions{})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v, %d objects", err, len(list))
	}
	check("list", list[0].Attributes)
	if d := sdim.Compare(sdim.CanonicalServiceDesk(sdim.ServiceDeskIntegration{Name: "Numbers", Type: "ServiceNowSDIM", Attributes: attrs}),
		sdim.CanonicalServiceDesk(list[0]), sdim.CompareOptions{}); len(d) != 0 {
		t.Errorf("what was sent and what came back differ: %v", d)
	}
}
