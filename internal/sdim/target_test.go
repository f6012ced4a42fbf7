package sdim_test

import (
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

func TestTargets(t *testing.T) {
	type obj struct {
		kind sdim.Kind
		name string
	}
	sd := func(n string) obj { return obj{sdim.KindServiceDesk, n} }
	sim := func(n string) obj { return obj{sdim.KindSIM, n} }
	sc := func(n string) obj { return obj{sdim.KindStatusCheck, n} }
	tests := []struct {
		name     string
		globs    []string
		match    []obj
		no       []obj
		wantErr  string
		notEmpty bool
	}{
		{name: "none matches everything", match: []obj{sd("A"), sim("B"), sc("")}},
		{name: "name glob, any kind", globs: []string{"Jira*"}, notEmpty: true,
			match: []obj{sd("Jira"), sd("Jira Cloud"), sim("Jira SIM")}, no: []obj{sd("ServiceNow"), sd("My Jira"), sc("")}},
		{name: "kind and name", globs: []string{"ServiceDeskIntegration/Jira*"}, notEmpty: true,
			match: []obj{sd("Jira")}, no: []obj{sim("Jira")}},
		{name: "kind in any case", globs: []string{"simintegration/*"}, notEmpty: true,
			match: []obj{sim("X")}, no: []obj{sd("X")}},
		{name: "short aliases", globs: []string{"SDIM/A", "sim/B", "statuscheck/*"}, notEmpty: true,
			match: []obj{sd("A"), sim("B"), sc(""), sc("Status")}, no: []obj{sd("B"), sim("A")}},
		{name: "star matches a slash", globs: []string{"Ops*"}, notEmpty: true,
			match: []obj{sd("Ops/Jira"), sd("Ops")}},
		{name: "a name with a slash, not a kind", globs: []string{"Ops/J*"}, notEmpty: true,
			match: []obj{sd("Ops/Jira"), sim("Ops/Jx")}, no: []obj{sd("Ops"), sd("Jira")}},
		{name: "kind then a name with a slash", globs: []string{"sdim/Ops/*"}, notEmpty: true,
			match: []obj{sd("Ops/Jira")}, no: []obj{sim("Ops/Jira")}},
		{name: "question mark and class", globs: []string{"Desk [0-9]?"}, notEmpty: true,
			match: []obj{sd("Desk 12"), sd("Desk 1/")}, no: []obj{sd("Desk 1"), sd("Desk A1")}},
		{name: "escaped star", globs: []string{`A\*`}, notEmpty: true, match: []obj{sd("A*")}, no: []obj{sd("AB")}},
		{name: "several globs: any", globs: []string{"A", "sim/B"}, notEmpty: true,
			match: []obj{sd("A"), sim("A"), sim("B")}, no: []obj{sd("B")}},
		{name: "bad class", globs: []string{"ok", "Desk [0-9"}, wantErr: `target "Desk [0-9": not a valid glob`},
		{name: "trailing backslash", globs: []string{`sdim/A\`}, wantErr: `target "sdim/A\\": not a valid glob`},
		{name: "kind without a name", globs: []string{"sim/"}, wantErr: `target "sim/": no name glob`},
		{name: "empty", globs: []string{""}, wantErr: `target "": no name glob`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := sdim.ParseTargets(tc.globs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tg.Empty() == tc.notEmpty {
				t.Errorf("Empty() = %v", tg.Empty())
			}
			for _, o := range tc.match {
				if !tg.Match(o.kind, o.name) {
					t.Errorf("%v does not match %s %q", tc.globs, o.kind, o.name)
				}
			}
			for _, o := range tc.no {
				if tg.Match(o.kind, o.name) {
					t.Errorf("%v matches %s %q", tc.globs, o.kind, o.name)
				}
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]sdim.Kind{"ServiceDeskIntegration": sdim.KindServiceDesk, "sdim": sdim.KindServiceDesk,
		"SIM": sdim.KindSIM, "StatusCheckConfiguration": sdim.KindStatusCheck, "StatusCheck": sdim.KindStatusCheck} {
		if got, ok := sdim.ParseKind(in); !ok || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := sdim.ParseKind("Ops"); ok {
		t.Error("Ops is a kind")
	}
}
