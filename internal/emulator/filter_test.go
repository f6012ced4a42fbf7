package emulator

import (
	"strings"
	"testing"
)

type fakeObj map[string]string

func (f fakeObj) field(n string) string { return f[n] }

func TestParseFilter(t *testing.T) {
	a := fakeObj{"id": "a1", "name": `Service "Now"`, "type": "ServiceNowSDIM", "cluster": "c1"}
	b := fakeObj{"id": "b2", "name": "Jira", "type": "JiraSDIM", "cluster": "c2"}
	tests := []struct {
		filter  string
		matchA  bool
		matchB  bool
		wantErr string
	}{
		{filter: ``, matchA: true, matchB: true},
		{filter: `id eq "a1"`, matchA: true},
		{filter: `ID EQ "a1"`, wantErr: `field "ID" cannot be filtered`},
		{filter: `id EQ "a1"`, matchA: true},
		{filter: `id in ("a1","b2")`, matchA: true, matchB: true},
		{filter: `name eq "Service \"Now\""`, matchA: true},
		{filter: `name eq "Jira" or type in ("ServiceNowSDIM")`, matchA: true, matchB: true},
		{filter: `cluster eq "c2" and type eq "JiraSDIM"`, matchB: true},
		{filter: `not (cluster eq "c2")`, matchA: true},
		{filter: `(name eq "Jira")`, matchB: true},
		{filter: `name in ("Jira")`, wantErr: `operator "in" is not supported on "name"`},
		{filter: `name sw "Ji"`, wantErr: `operator "sw" is not supported on "name"`},
		{filter: `description eq "x"`, wantErr: `field "description" cannot be filtered`},
		{filter: `name eq Jira`, wantErr: "must be a double-quoted string"},
		{filter: `name eq "Jira`, wantErr: "not closed"},
		{filter: `name eq "Jira" and`, wantErr: "expected a field name"},
		{filter: `name zz "Jira"`, wantErr: `unknown operator "zz"`},
		{filter: `id in ("a" "b")`, wantErr: "expected ',' or ')'"},
		{filter: `id in "a"`, wantErr: "needs a list"},
		{filter: `(id eq "a1"`, wantErr: "expected ')'"},
		{filter: `id eq "a1" )`, wantErr: `unexpected ")"`},
		{filter: `name eq "x\`, wantErr: "lone backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			n, err := parseFilter(tt.filter)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFilter(%q) error = %v, want one containing %q", tt.filter, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFilter(%q): %v", tt.filter, err)
			}
			match := func(o fakeObj) bool { return n == nil || n.match(o) }
			if got := match(a); got != tt.matchA {
				t.Errorf("match(a) = %v, want %v", got, tt.matchA)
			}
			if got := match(b); got != tt.matchB {
				t.Errorf("match(b) = %v, want %v", got, tt.matchB)
			}
		})
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`id eq "a"`, `name eq "x \"y\""`, `type in ("a","b") and not (cluster eq "c")`, `((`, `"`, `id in (`} {
		f.Add(s)
	}
	o := fakeObj{"id": "a", "name": "x", "type": "a", "cluster": "c"}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseFilter(s)
		if err == nil && n != nil {
			n.match(o)
		}
	})
}
