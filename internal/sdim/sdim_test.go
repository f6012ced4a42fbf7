package sdim

import (
	"strings"
	"testing"
)

func TestParseAPIVersion(t *testing.T) {
	tests := []struct {
		in       string
		want     APIVersion
		sdim     string
		sim      string
		wantFail bool
	}{
		{in: "v3", want: V3, sdim: "/v3/service-desk-integrations"},
		{in: " V2024 ", want: V2024, sdim: "/v2024/service-desk-integrations", sim: "/v2024/sim-integrations"},
		{in: "v2025", want: V2025, sdim: "/v2025/service-desk-integrations", sim: "/v2025/sim-integrations"},
		{in: "v1", want: V1, sdim: "/service-desk-integrations/v1", sim: "/sim-integrations/v1"},
		{in: "beta", wantFail: true},
		{in: "", wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseAPIVersion(tt.in)
			if tt.wantFail {
				if err == nil {
					t.Fatalf("ParseAPIVersion(%q) = %q, want an error", tt.in, v)
				}
				return
			}
			if err != nil || v != tt.want {
				t.Fatalf("ParseAPIVersion(%q) = %q, %v; want %q", tt.in, v, err, tt.want)
			}
			if got := v.ServiceDeskPath(); got != tt.sdim {
				t.Errorf("ServiceDeskPath = %q, want %q", got, tt.sdim)
			}
			if got := v.SIMPath(); got != tt.sim {
				t.Errorf("SIMPath = %q, want %q", got, tt.sim)
			}
			if v.HasSIM() != (tt.sim != "") {
				t.Errorf("HasSIM = %v", v.HasSIM())
			}
		})
	}
}

func TestSecretKeySet(t *testing.T) {
	s := NewSecretKeySet(append(DefaultSecretAttributeKeys(), " ", "X-Api-Key"))
	for _, k := range []string{"password", "PASSWORD", "clientsecret", "ClientSecret", "apikey", "x-api-key"} {
		if !s.Has(k) {
			t.Errorf("Has(%q) = false, want true", k)
		}
	}
	for _, k := range []string{"url", "username", "passwordHint", ""} {
		if s.Has(k) {
			t.Errorf("Has(%q) = true, want false", k)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"kind", "kind", 0}, {"knid", "kind", 1}, {"--mdoe", "--mode", 1},
		{"kind", "kid", 1}, {"spec", "spek", 1}, {"name", "", 4}, {"sepc", "spec", 1},
		{strings.Repeat("a", 65), strings.Repeat("a", 65), 0}, {strings.Repeat("a", 65), "a", 65},
	}
	for _, tt := range tests {
		if got := EditDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if got := Count(1, "delete", "deletes") + ", " + Count(2, "delete", "deletes"); got != "1 delete, 2 deletes" {
		t.Errorf("Count: %q", got)
	}
}
