package sdim

import (
	"fmt"
	"path"
	"strings"
)

// Targets narrow a run to some objects: plan, apply and export take them from
// --target GLOB. The zero Targets match every object.
//
// A glob is either NAME-GLOB, which matches objects of any kind, or KIND/NAME-GLOB. KIND
// is a kind name (ServiceDeskIntegration, SIMIntegration, StatusCheckConfiguration) in any
// case, or one of the short aliases sdim, sim and statuscheck. NAME-GLOB has path.Match
// syntax (*, ?, [...], \ to escape) in which * and ? also match "/", since names may hold
// one. A glob whose part before the first "/" is not a kind is a name glob as a whole:
// "Ops/*" matches the name "Ops/Jira"; write "sdim/Ops/*" to say the kind as well.
// The status-check configuration often has no name: "statuscheck/*" (or "*") matches it.
type Targets struct {
	globs []target
}

type target struct {
	kind Kind // "" for any kind
	name string
}

// kindAliases maps the lower-case spellings of each kind to it.
var kindAliases = map[string]Kind{
	"servicedeskintegration":   KindServiceDesk,
	"sdim":                     KindServiceDesk,
	"simintegration":           KindSIM,
	"sim":                      KindSIM,
	"statuscheckconfiguration": KindStatusCheck,
	"statuscheck":              KindStatusCheck,
}

// ParseKind returns the kind a kind name or short alias (sdim, sim, statuscheck) names,
// in any case.
func ParseKind(s string) (Kind, bool) {
	k, ok := kindAliases[strings.ToLower(s)]
	return k, ok
}

// ParseTargets parses --target globs. A bad glob is an error that names it.
func ParseTargets(globs []string) (Targets, error) {
	var t Targets
	for _, g := range globs {
		tg := target{name: g}
		if before, after, ok := strings.Cut(g, "/"); ok {
			if k, ok := ParseKind(before); ok {
				tg = target{kind: k, name: after}
			}
		}
		if tg.name == "" {
			return Targets{}, fmt.Errorf("target %q: no name glob: write KIND/NAME-GLOB or NAME-GLOB (such as 'sdim/ServiceNow*' or 'Jira*')", g)
		}
		if err := CheckGlob(tg.name); err != nil {
			return Targets{}, fmt.Errorf("target %q: %w", g, err)
		}
		t.globs = append(t.globs, tg)
	}
	return t, nil
}

// Empty reports whether t holds no glob (and so matches everything).
func (t Targets) Empty() bool { return len(t.globs) == 0 }

// Match reports whether an object of this kind and name is targeted: always when t is
// empty, else when a glob of its kind, or of any kind, matches the name.
func (t Targets) Match(kind Kind, name string) bool {
	if t.Empty() {
		return true
	}
	for _, g := range t.globs {
		if (g.kind == "" || g.kind == kind) && MatchName(g.name, name) {
			return true
		}
	}
	return false
}

// globSafe stands a byte that names never hold in for "/", which path.Match's * and ?
// do not cross.
func globSafe(s string) string { return strings.ReplaceAll(s, "/", "\x00") }

// MatchName reports whether name matches glob, in path.Match syntax in which * and ?
// also match "/". A malformed glob matches nothing (CheckGlob tells why).
func MatchName(glob, name string) bool {
	ok, err := path.Match(globSafe(glob), globSafe(name))
	return ok && err == nil
}

// CheckGlob returns an error when glob is malformed (an unclosed [, a trailing \).
func CheckGlob(glob string) error {
	if _, err := path.Match(globSafe(glob), ""); err != nil {
		return fmt.Errorf("not a valid glob (path.Match syntax: *, ?, [...], \\ to escape): %w", err)
	}
	return nil
}
