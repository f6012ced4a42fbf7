package planner_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// TestLookAlikesPlanNothing: each case differs between desired and live only in ways the
// tenant makes up (names it fills in, aliases, defaults, number spelling, secrets it
// hides) and must plan to nothing.
func TestLookAlikesPlanNothing(t *testing.T) {
	const id = "aaaa0000000000000000000000000001"
	tests := []struct {
		name   string
		want   func(*sdim.ServiceDeskIntegration)
		live   func(*testing.T) sdim.ServiceDeskIntegration
		ignore []string
	}{
		{name: "server-filled reference names and server-set fields"},
		{
			name: "reordered managed sources",
			want: func(s *sdim.ServiceDeskIntegration) {
				s.ProvisioningConfig.ManagedResourceRefs = []sdim.Reference{{ID: srcB}, {Type: sdim.RefSource, ID: srcA}, {ID: srcB}}
			},
		},
		{
			name: "deprecated cluster alias in the file only",
			want: func(s *sdim.ServiceDeskIntegration) { s.ClusterRef, s.Cluster = nil, cluster },
		},
		{
			name: "deprecated managedSources alias in the file only",
			want: func(s *sdim.ServiceDeskIntegration) {
				s.ProvisioningConfig, s.ManagedSources = nil, []string{srcB, srcA}
			},
		},
		{
			name: "deprecated aliases in the tenant's answer only",
			live: func(t *testing.T) sdim.ServiceDeskIntegration {
				l := baseLive(t, "ServiceNow", id)
				l.ClusterRef, l.ProvisioningConfig.ManagedResourceRefs = nil, nil
				return l
			},
		},
		{
			name: `"" references in the tenant's answer`,
			want: func(s *sdim.ServiceDeskIntegration) { s.OwnerRef, s.BeforeProvisioningRule = nil, nil },
			live: func(t *testing.T) sdim.ServiceDeskIntegration {
				return decodeSD(t, strings.Replace(strings.Replace(liveJSON(t, id),
					`"ownerRef":{"type":"IDENTITY","id":"`+owner+`","name":"Alice Admin"}`, `"ownerRef":""`, 1),
					`"beforeProvisioningRule":{"type":"RULE","id":"`+rule+`","name":"Before"}`, `"beforeProvisioningRule":null`, 1))
			},
		},
		{
			name: "empty against absent",
			want: func(s *sdim.ServiceDeskIntegration) {
				s.Description = ""
				s.ProvisioningConfig = &sdim.ProvisioningConfig{ManagedResourceRefs: []sdim.Reference{}}
				s.ManagedSources = []string{}
				s.Attributes["headers"] = map[string]any{}
				s.Attributes["tags"] = []any{}
				s.Attributes["proxy"] = nil
				delete(s.Attributes, "password")
			},
			live: func(t *testing.T) sdim.ServiceDeskIntegration {
				l := baseLive(t, "ServiceNow", id)
				l.Description = ""
				f := false
				l.ProvisioningConfig = &sdim.ProvisioningConfig{UniversalManager: &f, NoProvisioningRequests: &f,
					PlanInitializerScript: &sdim.Script{}}
				l.ManagedSources = nil
				return l
			},
		},
		{
			name: "hidden secrets, at any depth and any case",
			want: func(s *sdim.ServiceDeskIntegration) {
				s.Attributes["oauth"] = map[string]any{"clientId": "abc", "ClientSecret": sdim.NewSecret("s3cr3t", "env:CS")}
				s.Attributes["Token"] = sdim.NewSecret("t", "file:token")
			},
			live: func(t *testing.T) sdim.ServiceDeskIntegration {
				l := baseLive(t, "ServiceNow", id)
				l.Attributes["oauth"] = map[string]any{"clientId": "abc"}
				return l
			},
		},
		{
			name: "a secret nested in a map the tenant answers empty",
			want: func(s *sdim.ServiceDeskIntegration) {
				s.Attributes["auth"] = map[string]any{"password": sdim.NewSecret("x", "env:X")}
			},
		},
		{
			name: "a secret reference in an ordinary key holding the live value",
			want: func(s *sdim.ServiceDeskIntegration) {
				s.Attributes["authorization"] = sdim.NewSecret("Bearer abc", "env:AUTH")
			},
			live: func(t *testing.T) sdim.ServiceDeskIntegration {
				l := baseLive(t, "ServiceNow", id)
				l.Attributes["authorization"] = "Bearer abc"
				return l
			},
		},
		{
			name: "default reference types",
			want: func(s *sdim.ServiceDeskIntegration) {
				s.OwnerRef.Type, s.ClusterRef.Type, s.BeforeProvisioningRule.Type = "", "", ""
				s.ProvisioningConfig.ManagedResourceRefs = []sdim.Reference{{ID: srcA}, {ID: srcB}}
			},
		},
		{
			name: "number formatting in attributes",
			want: func(s *sdim.ServiceDeskIntegration) {
				s.Attributes["timeout"] = float64(30)
				s.Attributes["ratio"] = 1.5
				s.Attributes["big"] = int64(1000)
				s.Attributes["list"] = []any{int64(1), 2.0, "3"}
			},
			live: func(t *testing.T) sdim.ServiceDeskIntegration {
				l := baseLive(t, "ServiceNow", id)
				l.Attributes["timeout"] = json.Number("30.0")
				l.Attributes["ratio"] = json.Number("1.50")
				l.Attributes["big"] = json.Number("1e3")
				l.Attributes["list"] = []any{json.Number("1"), json.Number("2"), "3"}
				return l
			},
		},
		{
			name: "an ignored attribute that differs",
			want: func(s *sdim.ServiceDeskIntegration) { s.Attributes["lastSyncDate"] = "2020-01-01" },
			live: func(t *testing.T) sdim.ServiceDeskIntegration {
				l := baseLive(t, "ServiceNow", id)
				l.Attributes["lastSyncDate"] = "2026-11-22"
				l.Description = "edited by hand"
				return l
			},
			ignore: []string{"/attributes/lastSyncDate", "/description"},
		},
		{
			name: "provisioning settings and script",
			want: func(s *sdim.ServiceDeskIntegration) {
				exp, yes := int32(7), true
				s.ProvisioningConfig.ProvisioningRequestExpiration = &exp
				s.ProvisioningConfig.NoProvisioningRequests = &yes
				s.ProvisioningConfig.PlanInitializerScript = &sdim.Script{Source: "<Rule/>"}
			},
			live: func(t *testing.T) sdim.ServiceDeskIntegration {
				return decodeSD(t, strings.Replace(liveJSON(t, id), `"universalManager":false`,
					`"universalManager":true,"provisioningRequestExpiration":7,"noProvisioningRequests":true,"planInitializerScript":{"source":"<Rule/>"}`, 1))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec("ServiceNow")
			if tt.want != nil {
				tt.want(&spec)
			}
			live := baseLive(t, "ServiceNow", id)
			if tt.live != nil {
				live = tt.live(t)
			}
			r := sdResource(spec, 1)
			r.Options.Ignore = tt.ignore
			res := mustPlan(t, &desired.State{ServiceDesk: []desired.ServiceDeskResource{r}}, liveState(live), planner.DefaultPolicy())
			if res.HasChanges() || res.Counts.InSync != 1 {
				t.Errorf("planned %+v, want nothing (in sync 1): %s", res.Counts, describe(res))
			}
		})
	}
}

// liveJSON is baseLive as compact JSON, for cases that edit the tenant's answer.
func liveJSON(t *testing.T, id string) string {
	t.Helper()
	b, err := json.Marshal(baseLive(t, "ServiceNow", id))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func describe(res *planner.Result) string {
	var b strings.Builder
	for _, c := range res.Changes {
		fmt.Fprintf(&b, "\n%s %s:", c.Action, c.Label())
		for _, f := range c.Fields {
			fmt.Fprintf(&b, " %s: %s -> %s;", f.Pointer, planner.FormatValue(f.Before), planner.FormatValue(f.After))
		}
	}
	return b.String()
}

func TestStatusCheckLookAlikes(t *testing.T) {
	for _, live := range []string{
		`{"provisioningStatusCheckIntervalMinutes": "30", "provisioningMaxStatusCheckDays": "2"}`,
		`{"provisioningStatusCheckIntervalMinutes": 30, "provisioningMaxStatusCheckDays": 2}`,
		`{"provisioningStatusCheckIntervalMinutes": "030", "provisioningMaxStatusCheckDays": 2.0}`,
	} {
		st := &desired.State{StatusCheck: &desired.StatusCheckResource{
			Resource: desired.Resource{Kind: sdim.KindStatusCheck},
			Spec:     sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: "30", ProvisioningMaxStatusCheckDays: "2"},
		}}
		l := liveState()
		l.StatusCheck = decodeStatusCheck(t, live)
		res := mustPlan(t, st, l, planner.DefaultPolicy())
		if res.HasChanges() || res.Counts.InSync != 1 {
			t.Errorf("status check 30/2 against %s planned %s", live, describe(res))
		}
	}
}

func TestSIMLookAlikes(t *testing.T) {
	spec := sdim.SIMIntegration{Name: "SIM", Type: "ServiceNow Service Desk", Sources: []string{srcB, srcA},
		Attributes:             map[string]any{"uid": "svc", "password": sdim.NewSecret("p", "env:P"), "port": int64(443)},
		StatusMap:              map[string]any{"closed": "Committed"},
		BeforeProvisioningRule: &sdim.Reference{ID: rule}}
	live := decodeSIM(t, `{"id": "s1", "name": "SIM", "description": "", "type": "ServiceNow Service Desk", "cluster": "",
		"created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
		"sources": ["`+srcA+`", "`+srcB+`"], "attributes": {"uid": "svc", "port": 443.0},
		"statusMap": {"closed": "Committed"}, "request": {},
		"beforeProvisioningRule": {"type": "RULE", "id": "`+rule+`", "name": "Before"}}`)
	l := liveState()
	l.SIM, l.SIMRead = []sdim.SIMIntegration{live}, true
	res := mustPlan(t, &desired.State{SIM: []desired.SIMResource{simResource(spec, 1)}}, l, planner.DefaultPolicy())
	if res.HasChanges() || res.Counts.InSync != 1 {
		t.Errorf("planned %s", describe(res))
	}
}

// TestRealDrifts: each real difference is caught at the right pointer with the right
// action.
func TestRealDrifts(t *testing.T) {
	const id = "bbbb0000000000000000000000000001"
	tests := []struct {
		name       string
		want       func(*sdim.ServiceDeskIntegration)
		live       func(*sdim.ServiceDeskIntegration)
		patchable  []string
		action     planner.Action
		pointers   []string
		patchPaths []string
		dropped    []string
	}{
		{name: "description", want: func(s *sdim.ServiceDeskIntegration) { s.Description = "new" },
			action: planner.ActionPut, pointers: []string{"/description"}},
		{name: "before-provisioning rule changed", want: func(s *sdim.ServiceDeskIntegration) { s.BeforeProvisioningRule.ID = rule2 },
			action: planner.ActionPatch, pointers: []string{"/beforeProvisioningRule/id"}, patchPaths: []string{"/beforeProvisioningRule"}},
		{name: "before-provisioning rule set", live: func(l *sdim.ServiceDeskIntegration) { l.BeforeProvisioningRule = nil },
			action: planner.ActionPatch, pointers: []string{"/beforeProvisioningRule"}, patchPaths: []string{"/beforeProvisioningRule"}},
		{name: "before-provisioning rule removed: not a replace", want: func(s *sdim.ServiceDeskIntegration) { s.BeforeProvisioningRule = nil },
			action: planner.ActionPut, pointers: []string{"/beforeProvisioningRule"}},
		{name: "rule and description", want: func(s *sdim.ServiceDeskIntegration) { s.BeforeProvisioningRule.ID, s.Description = rule2, "x" },
			action: planner.ActionPut, pointers: []string{"/beforeProvisioningRule/id", "/description"}},
		{name: "description patchable by configuration", want: func(s *sdim.ServiceDeskIntegration) { s.Description = "new" },
			patchable: []string{"/beforeProvisioningRule", "/description"},
			action:    planner.ActionPatch, pointers: []string{"/description"}, patchPaths: []string{"/description"}},
		{name: "attribute value", want: func(s *sdim.ServiceDeskIntegration) { s.Attributes["url"] = "https://b.service-now.com" },
			action: planner.ActionPut, pointers: []string{"/attributes/url"}},
		{name: "attribute only in the tenant", live: func(l *sdim.ServiceDeskIntegration) { l.Attributes["extra"] = "x" },
			action: planner.ActionPut, pointers: []string{"/attributes/extra"}, dropped: []string{"extra"}},
		{name: "number value", want: func(s *sdim.ServiceDeskIntegration) { s.Attributes["timeout"] = int64(31) },
			action: planner.ActionPut, pointers: []string{"/attributes/timeout"}},
		{name: "number against text", want: func(s *sdim.ServiceDeskIntegration) { s.Attributes["timeout"] = "30" },
			action: planner.ActionPut, pointers: []string{"/attributes/timeout"}},
		{name: "managed source added", want: func(s *sdim.ServiceDeskIntegration) {
			s.ProvisioningConfig.ManagedResourceRefs = append(s.ProvisioningConfig.ManagedResourceRefs, sdim.Reference{ID: "c"})
		}, action: planner.ActionPut, pointers: []string{"/provisioningConfig/managedResourceRefs"}},
		{name: "owner", want: func(s *sdim.ServiceDeskIntegration) { s.OwnerRef.ID = owner2 },
			action: planner.ActionPut, pointers: []string{"/ownerRef/id"}},
		{name: "owner removed", want: func(s *sdim.ServiceDeskIntegration) { s.OwnerRef = nil },
			action: planner.ActionPut, pointers: []string{"/ownerRef"}},
		{name: "cluster alias disagrees with the tenant", want: func(s *sdim.ServiceDeskIntegration) { s.ClusterRef, s.Cluster = nil, "other" },
			action: planner.ActionPut, pointers: []string{"/clusterRef/id"}},
		{name: "noProvisioningRequests", want: func(s *sdim.ServiceDeskIntegration) {
			yes := true
			s.ProvisioningConfig.NoProvisioningRequests = &yes
		}, action: planner.ActionPut, pointers: []string{"/provisioningConfig/noProvisioningRequests"}},
		{name: "key with / and ~", want: func(s *sdim.ServiceDeskIntegration) { s.Attributes["a/b~c"] = "v" },
			action: planner.ActionPut, pointers: []string{"/attributes/a~1b~0c"}},
		{name: "nested attributes added whole", want: func(s *sdim.ServiceDeskIntegration) {
			s.Attributes["mapping"] = map[string]any{"a": "1", "b": map[string]any{"c": "2"}}
		}, action: planner.ActionPut, pointers: []string{"/attributes/mapping"}},
		{name: "secret reference in an ordinary key changed", want: func(s *sdim.ServiceDeskIntegration) {
			s.Attributes["authorization"] = sdim.NewSecret("Bearer new", "env:AUTH")
		}, live: func(l *sdim.ServiceDeskIntegration) { l.Attributes["authorization"] = "Bearer old" },
			action: planner.ActionPut, pointers: []string{"/attributes/authorization"}},
		{name: "secret the tenant does show, not declared", live: func(l *sdim.ServiceDeskIntegration) { l.Attributes["apiKey"] = "shown" },
			action: planner.ActionPut, pointers: []string{"/attributes/apiKey"}, dropped: []string{"apiKey"}},
		{name: "type", want: func(s *sdim.ServiceDeskIntegration) { s.Type = "JiraCloudSDIM" },
			action: planner.ActionPut, pointers: []string{"/type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec("ServiceNow")
			if tt.want != nil {
				tt.want(&spec)
			}
			live := baseLive(t, "ServiceNow", id)
			if tt.live != nil {
				tt.live(&live)
			}
			pol := planner.DefaultPolicy()
			pol.PatchableFields = tt.patchable
			res := mustPlan(t, &desired.State{ServiceDesk: []desired.ServiceDeskResource{sdResource(spec, 3)}}, liveState(live), pol)
			if len(res.Changes) != 1 {
				t.Fatalf("planned %d changes, want 1: %s", len(res.Changes), describe(res))
			}
			c := res.Changes[0]
			if c.Action != tt.action || c.ID != id || c.Source != "integrations.yaml:3:1" || c.LiveModified != "2026-01-03T03:04:05.000Z" {
				t.Errorf("got %s id %q from %q modified %q; want %s id %q", c.Action, c.ID, c.Source, c.LiveModified, tt.action, id)
			}
			if got := pointers(c); !slices.Equal(got, tt.pointers) {
				t.Errorf("pointers %q, want %q%s", got, tt.pointers, describe(res))
			}
			var paths []string
			for _, op := range c.Patch {
				paths = append(paths, op.Path)
				if op.Op != "replace" {
					t.Errorf("patch op %q", op.Op)
				}
			}
			if !slices.Equal(paths, tt.patchPaths) {
				t.Errorf("patch paths %q, want %q", paths, tt.patchPaths)
			}
			if !slices.Equal(c.Dropped, tt.dropped) {
				t.Errorf("dropped %q, want %q", c.Dropped, tt.dropped)
			}
			if c.ServiceDesk == nil || c.ServiceDesk.Name != c.Name {
				t.Errorf("a put, and a patch for its fallback, carries the whole object to send: %v", c.ServiceDesk)
			}
			if out := renderAll(t, res); strings.Contains(out, "hunter2") || strings.Contains(out, "Bearer old") ||
				strings.Contains(out, "Bearer new") || strings.Contains(out, "shown") {
				t.Errorf("a secret leaked:\n%s", out)
			}
		})
	}
}

func renderAll(t *testing.T, res *planner.Result) string {
	t.Helper()
	var b strings.Builder
	if err := planner.WriteText(&b, res, planner.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := planner.WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	if err := planner.WriteMarkdown(&b, res, planner.MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestSIMDrifts(t *testing.T) {
	spec := sdim.SIMIntegration{Name: "SIM", Type: "ServiceNow Service Desk", Sources: []string{srcA},
		BeforeProvisioningRule: &sdim.Reference{ID: rule2}}
	live := decodeSIM(t, `{"id": "s1", "name": "SIM", "type": "ServiceNow Service Desk", "sources": ["`+srcA+`"],
		"beforeProvisioningRule": {"type": "RULE", "id": "`+rule+`"}}`)
	l := liveState()
	l.SIM, l.SIMRead = []sdim.SIMIntegration{live}, true
	st := &desired.State{SIM: []desired.SIMResource{simResource(spec, 1)}}
	res := mustPlan(t, st, l, planner.DefaultPolicy())
	if len(res.Changes) != 1 || res.Changes[0].Action != planner.ActionPatch || res.Changes[0].Patch[0].Path != "/beforeProvisioningRule" {
		t.Fatalf("rule change: %s", describe(res))
	}
	st.SIM[0].Spec.Sources = []string{srcB}
	res = mustPlan(t, st, l, planner.DefaultPolicy())
	if len(res.Changes) != 1 || res.Changes[0].Action != planner.ActionPut || !slices.Equal(pointers(res.Changes[0]), []string{"/beforeProvisioningRule/id", "/sources"}) {
		t.Fatalf("sources change: %s", describe(res))
	}
	if res.Changes[0].SIM == nil {
		t.Errorf("a SIM put carries the SIM object")
	}
	if _, err := planner.Plan(st, liveState(), planner.DefaultPolicy()); err == nil || !strings.Contains(err.Error(), "SIM") {
		t.Errorf("planning SIM from a live state read without SIM: %v", err)
	}
}

func TestStatusCheckDrift(t *testing.T) {
	st := &desired.State{StatusCheck: &desired.StatusCheckResource{
		Resource: desired.Resource{Kind: sdim.KindStatusCheck, Source: desired.Source{File: "sc.yaml", Line: 1, Column: 1}},
		Spec:     sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: "60", ProvisioningMaxStatusCheckDays: "2"},
	}}
	res := mustPlan(t, st, liveState(), planner.DefaultPolicy())
	if len(res.Changes) != 1 {
		t.Fatalf("%s", describe(res))
	}
	c := res.Changes[0]
	if c.Action != planner.ActionPut || c.Kind != sdim.KindStatusCheck || c.StatusCheck == nil ||
		!slices.Equal(pointers(c), []string{"/provisioningStatusCheckIntervalMinutes"}) || c.Fields[0].Before != "30" || c.Fields[0].After != "60" {
		t.Errorf("got %+v", c)
	}
	// Absent from the desired state: never touched.
	if res := mustPlan(t, &desired.State{}, liveState(), planner.DefaultPolicy()); res.HasChanges() {
		t.Errorf("no status check declared planned %s", describe(res))
	}
}

func names(cs []planner.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c.Action) + " " + c.Name
	}
	return out
}

// TestPolicy covers ordering, pruning, the managed scope, the delete limit, the empty
// desired state, renames and observe mode.
func TestPolicy(t *testing.T) {
	live := func(t *testing.T) *sdim.Live {
		var sd []sdim.ServiceDeskIntegration
		for i, n := range []string{"HR/Desk", "Jira", "Old Name", "ServiceNow", "Stray 1", "Stray 2"} {
			sd = append(sd, baseLive(t, n, fmt.Sprintf("id-%d", i)))
		}
		return liveState(sd...)
	}
	state := func() *desired.State {
		jira := baseSpec("Jira")
		jira.Description = "changed"
		renamed := sdResource(baseSpec("New Name"), 9)
		renamed.Options.PreviousNames = []string{"Gone", "Old Name"}
		rulechg := baseSpec("ServiceNow")
		rulechg.BeforeProvisioningRule.ID = rule2
		return &desired.State{Dir: "desired", ServiceDesk: []desired.ServiceDeskResource{
			sdResource(baseSpec("Brand New"), 1), sdResource(jira, 5), renamed, sdResource(rulechg, 13), sdResource(baseSpec("Another New"), 20),
		}}
	}
	tests := []struct {
		name    string
		pol     func(*planner.Policy)
		state   func() *desired.State
		order   []string
		counts  planner.Counts
		blocked string
	}{
		{
			name:   "prune off: leftovers are unmanaged",
			order:  []string{"create Another New", "create Brand New", "put Jira", "put New Name", "patch ServiceNow"},
			counts: planner.Counts{Create: 2, Patch: 1, Put: 2, Unmanaged: 3},
		},
		{
			name:   "prune with a scope",
			pol:    func(p *planner.Policy) { p.Prune, p.ManagedScope = true, []string{"Stray*"} },
			order:  []string{"create Another New", "create Brand New", "put Jira", "put New Name", "patch ServiceNow", "delete Stray 1", "delete Stray 2"},
			counts: planner.Counts{Create: 2, Patch: 1, Put: 2, Delete: 2, Unmanaged: 1},
		},
		{
			name:   "a scope glob matches across /",
			pol:    func(p *planner.Policy) { p.Prune, p.ManagedScope = true, []string{"HR*"} },
			order:  []string{"create Another New", "create Brand New", "put Jira", "put New Name", "patch ServiceNow", "delete HR/Desk"},
			counts: planner.Counts{Create: 2, Patch: 1, Put: 2, Delete: 1, Unmanaged: 2},
		},
		{
			name:    "too many deletes",
			pol:     func(p *planner.Policy) { p.Prune, p.MaxDeletes = true, 2 },
			order:   []string{"create Another New", "create Brand New", "put Jira", "put New Name", "patch ServiceNow", "delete HR/Desk", "delete Stray 1", "delete Stray 2"},
			counts:  planner.Counts{Create: 2, Patch: 1, Put: 2, Delete: 3},
			blocked: "3 deletes exceed the limit of 2",
		},
		{
			name:    "empty desired state",
			pol:     func(p *planner.Policy) { p.Prune, p.MaxDeletes = true, -1 },
			state:   func() *desired.State { return &desired.State{Dir: "desired"} },
			order:   []string{"delete HR/Desk", "delete Jira", "delete Old Name", "delete ServiceNow", "delete Stray 1", "delete Stray 2"},
			counts:  planner.Counts{Delete: 6},
			blocked: "declares no integrations",
		},
		{
			name: "observe run: everything observe-only",
			pol: func(p *planner.Policy) {
				p.Mode, p.Prune, p.ManagedScope = desired.ModeObserve, true, []string{"Stray 1"}
			},
			order:  []string{"create Another New", "create Brand New", "put Jira", "put New Name", "patch ServiceNow", "delete Stray 1"},
			counts: planner.Counts{Observe: 6, Unmanaged: 2},
		},
		{
			name: "observe resource",
			state: func() *desired.State {
				s := state()
				s.ServiceDesk[1].Options.Mode = desired.ModeObserve
				return s
			},
			order:  []string{"create Another New", "create Brand New", "put Jira", "put New Name", "patch ServiceNow"},
			counts: planner.Counts{Create: 2, Patch: 1, Put: 1, Observe: 1, Unmanaged: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := planner.DefaultPolicy()
			if tt.pol != nil {
				tt.pol(&pol)
			}
			st := state()
			if tt.state != nil {
				st = tt.state()
			}
			res := mustPlan(t, st, live(t), pol)
			if got := names(res.Changes); !slices.Equal(got, tt.order) {
				t.Errorf("order\n got %q\nwant %q", got, tt.order)
			}
			if res.Counts != tt.counts {
				t.Errorf("counts %+v, want %+v", res.Counts, tt.counts)
			}
			blocked := strings.Join(res.Blocked, "; ")
			if tt.blocked == "" && blocked != "" || !strings.Contains(blocked, tt.blocked) {
				t.Errorf("blocked %q, want %q", blocked, tt.blocked)
			}
			if (res.BlockedError() != nil) != (tt.blocked != "") {
				t.Errorf("BlockedError %v", res.BlockedError())
			}
			for _, c := range res.Changes {
				if c.Name == "New Name" && (c.PreviousName != "Old Name" || c.ID != "id-2" || !slices.Contains(pointers(c), "/name")) {
					t.Errorf("rename: %+v", c)
				}
			}
		})
	}
}

// TestRenameNotClaimedWhenCurrentNameLive: with both names live, the current name wins and
// the previous-name object is left to pruning.
func TestRenameNotClaimedWhenCurrentNameLive(t *testing.T) {
	r := sdResource(baseSpec("New"), 1)
	r.Options.PreviousNames = []string{"Old"}
	res := mustPlan(t, &desired.State{ServiceDesk: []desired.ServiceDeskResource{r}},
		liveState(baseLive(t, "New", "1"), baseLive(t, "Old", "2")), planner.DefaultPolicy())
	if res.HasChanges() || len(res.Unmanaged) != 1 || res.Unmanaged[0].Name != "Old" {
		t.Errorf("%+v %s", res.Unmanaged, describe(res))
	}
}

// TestPutHonesty: a put lists the attributes it drops, keeps ignored live values, and
// warns about secrets it would clear.
func TestPutHonesty(t *testing.T) {
	spec := baseSpec("ServiceNow")
	spec.Description = "changed"
	delete(spec.Attributes, "password")
	spec.Attributes["keep"] = "desired"
	live := baseLive(t, "ServiceNow", "1")
	live.Attributes["extra"] = "x"
	live.Attributes["keep"] = "live"
	live.Attributes["lastSyncDate"] = "2026-11-22"
	r := sdResource(spec, 1)
	r.Options.Ignore = []string{"/attributes/keep", "/attributes/lastSyncDate"}
	st := &desired.State{ServiceDesk: []desired.ServiceDeskResource{r}}

	res := mustPlan(t, st, liveState(live), planner.DefaultPolicy())
	c := res.Changes[0]
	if c.Action != planner.ActionPut || !slices.Equal(c.Dropped, []string{"extra"}) {
		t.Fatalf("%+v", c)
	}
	if c.ServiceDesk.Attributes["keep"] != "live" || c.ServiceDesk.Attributes["lastSyncDate"] != "2026-11-22" {
		t.Errorf("the put does not keep the ignored live values: %v", c.ServiceDesk.Attributes)
	}
	if spec.Attributes["keep"] != "desired" || r.Spec.Attributes["keep"] != "desired" {
		t.Errorf("the desired state was changed")
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "cannot tell") {
		t.Errorf("general warning: %q", c.Warnings)
	}
	if got := res.PutTypes(); !slices.Equal(got, []string{"ServiceNowSDIM"}) {
		t.Errorf("PutTypes %q", got)
	}

	pol := planner.DefaultPolicy()
	pol.TypeSecretKeys = map[string][]string{"ServiceNowSDIM": {"password"}}
	res = mustPlan(t, st, liveState(live), pol)
	if w := res.Changes[0].Warnings; len(w) != 1 || !strings.Contains(w[0], "attributes.password") || !strings.Contains(w[0], "would clear it") {
		t.Errorf("template warning: %q", w)
	}
	if len(res.Blocked) != 1 {
		t.Errorf("a put that clears a template secret is not blocked: %q", res.Blocked)
	}
	st.ServiceDesk[0].Spec.Attributes["password"] = sdim.NewSecret("x", "env:X")
	res = mustPlan(t, st, liveState(live), pol)
	if w := res.Changes[0].Warnings; len(w) != 0 || len(res.Blocked) != 0 {
		t.Errorf("declared secrets, still warned: %q, blocked: %q", w, res.Blocked)
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, pol := range []planner.Policy{
		{PatchableFields: []string{"beforeProvisioningRule"}},
		{ManagedScope: []string{"[unclosed"}},
		{Mode: "sometimes"},
		{Targets: []string{"sdim/[unclosed"}},
		{Targets: []string{"sim/"}},
	} {
		if _, err := planner.Plan(&desired.State{}, liveState(), pol); err == nil {
			t.Errorf("policy %+v accepted", pol)
		}
	}
	if _, err := planner.Plan(nil, liveState(), planner.Policy{}); err == nil {
		t.Errorf("nil desired accepted")
	}
}
