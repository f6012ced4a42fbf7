package soak

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

// Live is a service desk integration as the emulated tenant holds it (secrets included).
type Live struct {
	ID          string
	Name        string
	Description string
	Type        string
	Attributes  map[string]any
}

// LiveObjects extracts the service desk integrations of an emulator state.
func LiveObjects(s emulator.State) []Live {
	var out []Live
	for _, o := range s.ServiceDeskIntegrations {
		l := Live{}
		l.ID, _ = o["id"].(string)
		l.Name, _ = o["name"].(string)
		l.Description, _ = o["description"].(string)
		l.Type, _ = o["type"].(string)
		l.Attributes, _ = o["attributes"].(map[string]any)
		out = append(out, l)
	}
	return out
}

// Duplicates lists the names held by more than one live object.
func Duplicates(live []Live) []string {
	seen := map[string]int{}
	for _, l := range live {
		seen[l.Name]++
	}
	var out []string
	for n, c := range seen {
		if c > 1 {
			out = append(out, fmt.Sprintf("%q x%d", n, c))
		}
	}
	slices.Sort(out)
	return out
}

// InScope reports whether a name is inside the soak's managed scope (Scope).
func InScope(name string) bool { return strings.HasPrefix(name, "Soak ") }

// CompareTenant lists every way the live objects differ from the declared ones: a
// declared object missing or different (description, type, attributes, both secrets), an
// object in scope that no file declares.
func CompareTenant(declared map[string]*Object, env map[string]string, live []Live) []string {
	var problems []string
	byName := map[string]Live{}
	for _, l := range live {
		byName[l.Name] = l
		if InScope(l.Name) && declared[l.Name] == nil {
			problems = append(problems, fmt.Sprintf("%q (id %s) is in the tenant, inside the managed scope, and no file declares it", l.Name, l.ID))
		}
	}
	names := make([]string, 0, len(declared))
	for n := range declared {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		o := declared[n]
		l, ok := byName[n]
		if !ok {
			where := ""
			for _, p := range o.PreviousNames {
				if _, there := byName[p]; there {
					where = fmt.Sprintf(" (the tenant still holds its previous name %q)", p)
				}
			}
			problems = append(problems, fmt.Sprintf("%q (%s.yaml) is declared and not in the tenant%s", n, o.Slug, where))
			continue
		}
		want := map[string]string{
			"url": "https://soak.example.com/" + o.Slug, "username": "svc-soak", "clientId": o.Slug,
			"password": env[o.EnvVar], "clientSecret": o.FileSecret,
		}
		if l.Description != o.Description {
			problems = append(problems, fmt.Sprintf("%q: description %q in the tenant, %q in %s.yaml", n, l.Description, o.Description, o.Slug))
		}
		if l.Type != IntegrationType {
			problems = append(problems, fmt.Sprintf("%q: type %q in the tenant, want %q", n, l.Type, IntegrationType))
		}
		for k, v := range want {
			got, _ := l.Attributes[k].(string)
			if got == v {
				continue
			}
			if strings.HasPrefix(v, PlantedPrefix) { // never print a secret, even planted
				problems = append(problems, fmt.Sprintf("%q: attribute %s in the tenant is not the value %s.yaml declares (secret; set: %t)", n, k, o.Slug, got != ""))
			} else {
				problems = append(problems, fmt.Sprintf("%q: attribute %s is %q in the tenant, want %q", n, k, got, v))
			}
		}
		if len(l.Attributes) != len(want) {
			problems = append(problems, fmt.Sprintf("%q: %d attributes in the tenant, want %d", n, len(l.Attributes), len(want)))
		}
	}
	return problems
}

var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

// Leaks lists the secrets found in an output of the daemon: any planted value (or
// anything that starts like one), the client secret, and any access token the tenant
// issued (tokens are 64 hex digits, so the search takes each such run of the text and looks
// it up).
func Leaks(where, text, clientSecret string, tokens map[string]bool) []string {
	var out []string
	if i := strings.Index(text, PlantedPrefix); i >= 0 {
		out = append(out, fmt.Sprintf("%s: a planted secret at byte %d: %s", where, i, excerpt(text, i)))
	}
	if i := strings.Index(text, clientSecret); i >= 0 {
		out = append(out, fmt.Sprintf("%s: the OAuth client secret at byte %d", where, i))
	}
	for _, loc := range hex64.FindAllStringIndex(text, -1) {
		if tokens[text[loc[0]:loc[1]]] {
			out = append(out, fmt.Sprintf("%s: an access token at byte %d: %s", where, loc[0], excerpt(text, loc[0])))
			break
		}
	}
	return out
}

// excerpt is the line around byte i with the secret-looking part cut, so a report of a
// leak does not repeat it in full.
func excerpt(text string, i int) string {
	start := strings.LastIndexByte(text[:i], '\n') + 1
	end := strings.IndexByte(text[i:], '\n')
	if end < 0 {
		end = len(text)
	} else {
		end += i
	}
	line := text[start:end]
	cut := i - start + len(PlantedPrefix) + 4
	if cut < len(line) {
		line = line[:cut] + "…(cut)"
	}
	if len(line) > 400 {
		line = line[:400] + "…"
	}
	return line
}

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// ParseMetrics reads the Prometheus text format (comments skipped).
func ParseMetrics(text string) ([]Sample, error) {
	var out []Sample
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s := Sample{Labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.Name = line[:i]
			rest = line[i+1:]
			for {
				rest = strings.TrimLeft(rest, ", ")
				if strings.HasPrefix(rest, "}") {
					rest = rest[1:]
					break
				}
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					return nil, fmt.Errorf("metrics: bad labels in %q", line)
				}
				key := rest[:eq]
				rest = rest[eq+2:]
				var val strings.Builder
				for len(rest) > 0 && rest[0] != '"' {
					if rest[0] == '\\' && len(rest) > 1 {
						rest = rest[1:]
					}
					val.WriteByte(rest[0])
					rest = rest[1:]
				}
				if len(rest) == 0 {
					return nil, fmt.Errorf("metrics: unterminated label value in %q", line)
				}
				rest = rest[1:]
				s.Labels[key] = val.String()
			}
		} else if i >= 0 {
			s.Name, rest = line[:i], line[i:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: value of %q: %v", line, err)
		}
		s.Value = v
		out = append(out, s)
	}
	return out, nil
}

// Sum adds the samples of a metric whose labels include every pair of match (given as
// key, value, key, value...); found says whether any matched.
func Sum(samples []Sample, name string, match ...string) (total float64, found bool) {
	for _, s := range samples {
		if s.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			if s.Labels[match[i]] != match[i+1] {
				ok = false
				break
			}
		}
		if ok {
			total += s.Value
			found = true
		}
	}
	return total, found
}

// Spread is the minimum, median and maximum of some durations.
type Spread struct{ Min, Median, Max time.Duration }

// SpreadOf computes the Spread of ds (zero when empty).
func SpreadOf(ds []time.Duration) Spread {
	if len(ds) == 0 {
		return Spread{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{s[0], med, s[len(s)-1]}
}

func (s Spread) String() string {
	r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	return fmt.Sprintf("min %s, median %s, max %s", r(s.Min), r(s.Median), r(s.Max))
}
