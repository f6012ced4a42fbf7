package planner_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// TestSecretClearBlocks: a write that would leave out a secret the type's template
// declares is blocked, naming object and key, unless the file declares the key or an
// override (the policy's flag, the object's option for all or for the keys) allows it.
func TestSecretClearBlocks(t *testing.T) {
	templates := map[string][]string{"ServiceNowSDIM": {"password", "clientSecret"}}
	tests := []struct {
		name string
		// edit changes the desired resource; pol the policy.
		edit        func(r *desired.ServiceDeskResource)
		pol         func(p *planner.Policy)
		wantAction  planner.Action
		wantBlocked []string // each a substring of the one reason; nil: not blocked
		wantWarning string
	}{
		{name: "put leaving out two template secrets",
			edit:       func(r *desired.ServiceDeskResource) { delete(r.Spec.Attributes, "password") },
			wantAction: planner.ActionPut,
			wantBlocked: []string{`ServiceDeskIntegration "ServiceNow" (integrations.yaml:1:1)`, "attributes.password, attributes.clientSecret",
				"ServiceNowSDIM template", "${env:NAME}", "--allow-secret-clear", "options.allowSecretClear"},
			wantWarning: "would clear them"},
		{name: "put leaving out one",
			wantAction:  planner.ActionPut,
			wantBlocked: []string{"the put would clear the secret attributes.clientSecret,"},
		},
		{name: "declared keys, any case: allowed",
			edit: func(r *desired.ServiceDeskResource) {
				r.Spec.Attributes["ClientSecret"] = sdim.NewSecret("s", "file:secret")
			},
			wantAction: planner.ActionPut},
		{name: "the flag allows",
			pol:         func(p *planner.Policy) { p.AllowSecretClear = true },
			wantAction:  planner.ActionPut,
			wantWarning: "allowed by --allow-secret-clear"},
		{name: "the option allows every key",
			edit: func(r *desired.ServiceDeskResource) {
				delete(r.Spec.Attributes, "password")
				r.Options.AllowSecretClear = []string{"*"}
			},
			wantAction:  planner.ActionPut,
			wantWarning: "clears the secret attributes.password, attributes.clientSecret, which the ServiceNowSDIM template declares and the file does not: allowed by options.allowSecretClear"},
		{name: "the option lists some keys only",
			edit: func(r *desired.ServiceDeskResource) {
				delete(r.Spec.Attributes, "password")
				r.Options.AllowSecretClear = []string{"clientsecret"}
			},
			wantAction:  planner.ActionPut,
			wantBlocked: []string{"the put would clear the secret attributes.password,"},
			wantWarning: "clears the secret attributes.clientSecret"},
		{name: "observe only: warned, never written, not blocked",
			edit:        func(r *desired.ServiceDeskResource) { r.Options.Mode = desired.ModeObserve },
			wantAction:  planner.ActionPut,
			wantWarning: "would clear it"},
		{name: "a patch of another field: no put fallback, not blocked",
			edit: func(r *desired.ServiceDeskResource) {
				r.Spec.Description = "Tickets for ServiceNow"
				r.Spec.BeforeProvisioningRule = &sdim.Reference{ID: rule2}
			},
			wantAction:  planner.ActionPatch,
			wantWarning: "apply will not send a PUT instead"},
		{name: "a patch replacing /attributes whole",
			edit: func(r *desired.ServiceDeskResource) { r.Spec.Description = "Tickets for ServiceNow" },
			pol: func(p *planner.Policy) {
				p.PatchableFields = []string{"/attributes"}
			},
			wantAction:  planner.ActionPatch,
			wantBlocked: []string{"the patch would clear the secret attributes.clientSecret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec("ServiceNow")
			spec.Description = "changed"
			r := sdResource(spec, 1)
			if tc.edit != nil {
				tc.edit(&r)
			}
			pol := planner.DefaultPolicy()
			pol.TypeSecretKeys = templates
			if tc.pol != nil {
				tc.pol(&pol)
			}
			live := baseLive(t, "ServiceNow", "1")
			live.Attributes["timeout"] = 31 // a difference in the attributes
			if tc.name == "a patch of another field: no put fallback, not blocked" {
				live.Attributes["timeout"] = 30
			}
			res := mustPlan(t, &desired.State{ServiceDesk: []desired.ServiceDeskResource{r}}, liveState(live), pol)
			if len(res.Changes) != 1 || res.Changes[0].Action != tc.wantAction {
				t.Fatalf("changes: %s", describe(res))
			}
			c := res.Changes[0]
			if tc.wantBlocked == nil && len(res.Blocked) > 0 {
				t.Errorf("blocked: %q", res.Blocked)
			}
			if tc.wantBlocked != nil {
				if len(res.Blocked) != 1 {
					t.Fatalf("blocked: %q", res.Blocked)
				}
				for _, s := range tc.wantBlocked {
					if !strings.Contains(res.Blocked[0], s) {
						t.Errorf("the reason %q lacks %q", res.Blocked[0], s)
					}
				}
				if res.BlockedError() == nil {
					t.Error("no BlockedError")
				}
			}
			if tc.wantWarning != "" && !strings.Contains(strings.Join(c.Warnings, "\n"), tc.wantWarning) {
				t.Errorf("warnings %q lack %q", c.Warnings, tc.wantWarning)
			}
			if tc.wantBlocked == nil && tc.wantWarning == "" && len(c.Warnings) > 0 {
				t.Errorf("warnings: %q", c.Warnings)
			}
		})
	}
}

// TestPushSecrets: with PushSecrets, every integration that declares a secret is put,
// even when it otherwise matches, its secrets listed masked; others stay in sync; a
// difference that would be a patch becomes a put; observe mode holds.
func TestPushSecrets(t *testing.T) {
	withSecret := sdResource(baseSpec("With Secret"), 1)
	plain := baseSpec("Plain")
	delete(plain.Attributes, "password")
	plainRes := sdResource(plain, 5)
	patched := baseSpec("Patched")
	patched.BeforeProvisioningRule = &sdim.Reference{ID: rule2}
	watched := sdResource(baseSpec("Watched"), 9)
	watched.Options.Mode = desired.ModeObserve
	st := &desired.State{ServiceDesk: []desired.ServiceDeskResource{withSecret, plainRes, sdResource(patched, 7), watched}}
	live := liveState(baseLive(t, "With Secret", "1"), baseLive(t, "Plain", "2"), baseLive(t, "Patched", "3"), baseLive(t, "Watched", "4"))

	res := mustPlan(t, st, live, planner.DefaultPolicy())
	if res.Counts.InSync != 3 || res.Counts.Patch != 1 {
		t.Fatalf("without pushing: %s", describe(res))
	}
	pol := planner.DefaultPolicy()
	pol.PushSecrets = true
	res = mustPlan(t, st, live, pol)
	if res.Counts.Put != 2 || res.Counts.Observe != 1 || res.Counts.InSync != 1 || res.Counts.Patch != 0 {
		t.Fatalf("counts %+v: %s", res.Counts, describe(res))
	}
	byName := map[string]planner.Change{}
	for _, c := range res.Changes {
		byName[c.Name] = c
	}
	c := byName["With Secret"]
	if c.Action != planner.ActionPut || len(c.Fields) != 0 || len(c.PushSecrets) != 1 || c.PushSecrets[0].Pointer != "/attributes/password" || c.ServiceDesk == nil {
		t.Errorf("push: %+v", c)
	}
	if c := byName["Patched"]; c.Action != planner.ActionPut || len(c.Fields) != 1 || len(c.PushSecrets) != 1 {
		t.Errorf("a patch with secrets to push: %+v", c)
	}
	if c := byName["Watched"]; !c.Observe {
		t.Errorf("observe: %+v", c)
	}
	var text, js bytes.Buffer
	if err := planner.WriteText(&text, res, planner.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := planner.WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`~ push secrets ServiceDeskIntegration "With Secret" (id 1, PUT, integrations.yaml:1:1)`,
		"pushes the secret /attributes/password = (sensitive: env:SNOW_PASSWORD)", `~ replace ServiceDeskIntegration "Patched"`} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(js.String(), `"pushSecrets": [`) || strings.Contains(js.String()+text.String(), "hunter2") {
		t.Errorf("json:\n%s", js.String())
	}
}

// TestTargets: only targeted objects are planned: creates, updates (a rename by either
// name), deletes by pruning or absence, unmanaged objects and the status check.
func TestTargets(t *testing.T) {
	changed := func(name string) desired.ServiceDeskResource {
		s := baseSpec(name)
		s.Attributes["timeout"] = int64(99)
		s.Attributes["password"] = sdim.NewSecret("x", "env:X")
		return sdResource(s, 1)
	}
	renamed := changed("Jira New")
	renamed.Options.PreviousNames = []string{"Jira Old"}
	st := &desired.State{Dir: "d",
		ServiceDesk: []desired.ServiceDeskResource{changed("Jira A"), changed("Snow A"), changed("Jira Create"), changed("Snow Create"), renamed},
		StatusCheck: &desired.StatusCheckResource{Resource: desired.Resource{Kind: sdim.KindStatusCheck},
			Spec: sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: "60", ProvisioningMaxStatusCheckDays: "2"}},
		Absent: []desired.Resource{{Kind: sdim.KindServiceDesk, Name: "Jira Gone"}, {Kind: sdim.KindServiceDesk, Name: "Snow Gone"}},
	}
	live := liveState(baseLive(t, "Jira A", "1"), baseLive(t, "Snow A", "2"), baseLive(t, "Jira Old", "3"),
		baseLive(t, "Jira Gone", "4"), baseLive(t, "Snow Gone", "5"), baseLive(t, "Jira Stray", "6"), baseLive(t, "Snow Stray", "7"))
	names := func(res *planner.Result) (changes, unmanaged []string) {
		for _, c := range res.Changes {
			changes = append(changes, string(c.Action)+" "+c.Name)
		}
		for _, u := range res.Unmanaged {
			unmanaged = append(unmanaged, u.Name)
		}
		return
	}
	tests := []struct {
		targets   []string
		prune     bool
		changes   []string
		unmanaged []string
	}{
		{nil, false, []string{"create Jira Create", "create Snow Create", "put Jira A", "put Jira New", "put Snow A", "put ", "delete Jira Gone", "delete Snow Gone"},
			[]string{"Jira Stray", "Snow Stray"}},
		{[]string{"Jira*"}, false, []string{"create Jira Create", "put Jira A", "put Jira New", "delete Jira Gone"}, []string{"Jira Stray"}},
		{[]string{"sdim/Jira*"}, true, []string{"create Jira Create", "put Jira A", "put Jira New", "delete Jira Gone", "delete Jira Stray"}, nil},
		{[]string{"Jira Old"}, false, []string{"put Jira New"}, nil},
		{[]string{"sim/*"}, false, nil, nil},
		{[]string{"statuscheck/*"}, false, []string{"put "}, nil},
		{[]string{"Snow A", "Snow Stray"}, false, []string{"put Snow A"}, []string{"Snow Stray"}},
	}
	for _, tc := range tests {
		pol := planner.DefaultPolicy()
		pol.Targets, pol.Prune = tc.targets, tc.prune
		res := mustPlan(t, st, live, pol)
		changes, unmanaged := names(res)
		if !slices.Equal(changes, tc.changes) || !slices.Equal(unmanaged, tc.unmanaged) {
			t.Errorf("targets %q: changes %q, unmanaged %q; want %q, %q", tc.targets, changes, unmanaged, tc.changes, tc.unmanaged)
		}
		var text, js bytes.Buffer
		_ = planner.WriteText(&text, res, planner.TextOptions{})
		_ = planner.WriteJSON(&js, res)
		if tc.targets != nil && (!strings.HasPrefix(text.String(), "Targeted: only objects matching \""+tc.targets[0]+"\"") || !strings.Contains(js.String(), `"targets": [`)) {
			t.Errorf("targets %q: not said:\n%s\n%s", tc.targets, text.String(), js.String())
		}
		if tc.targets == nil && strings.Contains(text.String()+js.String(), "argeted") {
			t.Errorf("untargeted plan says targeted")
		}
	}
}

// TestAbsentDeletes: a document that declares an object absent deletes exactly that
// object when the tenant holds it, without pruning; it counts against the delete limit;
// an empty desired state with only absent documents is not blocked; observe mode holds.
func TestAbsentDeletes(t *testing.T) {
	absent := []desired.Resource{
		{Kind: sdim.KindServiceDesk, Name: "Gone", Source: desired.Source{File: "gone.yaml", Line: 3, Column: 1}},
		{Kind: sdim.KindServiceDesk, Name: "Never There", Source: desired.Source{File: "gone.yaml", Line: 7, Column: 1}},
	}
	st := &desired.State{Dir: "d", Absent: absent}
	live := liveState(baseLive(t, "Gone", "1"), baseLive(t, "Kept", "2"))
	res := mustPlan(t, st, live, planner.DefaultPolicy())
	if len(res.Changes) != 1 || len(res.Blocked) != 0 || res.Counts.Delete != 1 || res.Counts.Unmanaged != 1 {
		t.Fatalf("%s blocked %q", describe(res), res.Blocked)
	}
	c := res.Changes[0]
	if c.Action != planner.ActionDelete || c.Name != "Gone" || c.ID != "1" || !c.Absent || c.Source != "gone.yaml:3:1" {
		t.Errorf("%+v", c)
	}
	var text, md bytes.Buffer
	_ = planner.WriteText(&text, res, planner.TextOptions{})
	_ = planner.WriteMarkdown(&md, res, planner.MarkdownOptions{})
	if !strings.Contains(text.String(), `- delete ServiceDeskIntegration "Gone" (id 1, declared absent at gone.yaml:3:1)`) ||
		!strings.Contains(md.String(), "declared absent at `gone.yaml:3:1`") {
		t.Errorf("text:\n%s\nmarkdown:\n%s", text.String(), md.String())
	}

	pol := planner.DefaultPolicy()
	pol.MaxDeletes = 0
	if res := mustPlan(t, st, live, pol); len(res.Blocked) != 1 || !strings.Contains(res.Blocked[0], "1 delete exceeds the limit of 0") {
		t.Errorf("limit: %q", res.Blocked)
	}
	pol = planner.DefaultPolicy()
	pol.Mode = desired.ModeObserve
	if res := mustPlan(t, st, live, pol); res.Counts.Observe != 1 || res.Counts.Delete != 0 || !res.Changes[0].Observe {
		t.Errorf("observe: %s", describe(res))
	}
	// Pruning still guards against an empty desired state, absent documents aside.
	pol = planner.DefaultPolicy()
	pol.Prune = true
	if res := mustPlan(t, st, live, pol); len(res.Blocked) != 1 || !strings.Contains(res.Blocked[0], "pruning would delete 1") {
		t.Errorf("prune on an empty state: %q", res.Blocked)
	}
	// A SIM integration declared absent needs SIM read.
	if _, err := planner.Plan(&desired.State{Absent: []desired.Resource{{Kind: sdim.KindSIM, Name: "S"}}}, live, planner.DefaultPolicy()); err == nil {
		t.Error("an absent SIM integration planned without reading SIM")
	}
}

// TestSavedPlanKeepsNewPolicy: targets and the overrides are saved with the policy, and a
// fresh plan with it checks clean.
func TestSavedPlanKeepsNewPolicy(t *testing.T) {
	st := &desired.State{ServiceDesk: []desired.ServiceDeskResource{sdResource(baseSpec("A"), 1)},
		Absent: []desired.Resource{{Kind: sdim.KindServiceDesk, Name: "B", Source: desired.Source{File: "b.yaml", Line: 1}}}}
	live := liveState(baseLive(t, "A", "1"), baseLive(t, "B", "2"))
	pol := planner.DefaultPolicy()
	pol.Targets, pol.AllowSecretClear, pol.PushSecrets = []string{"*"}, true, true
	res := mustPlan(t, st, live, pol)
	var buf bytes.Buffer
	if err := planner.WriteSaved(&buf, res, planner.Target{TenantURL: "u", DesiredDigest: "d"}); err != nil {
		t.Fatal(err)
	}
	saved, err := planner.ReadSaved(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(saved.Policy.Targets, []string{"*"}) || !saved.Policy.AllowSecretClear || !saved.Policy.PushSecrets {
		t.Fatalf("saved policy %+v", saved.Policy)
	}
	if err := saved.Check(mustPlan(t, st, live, saved.Policy), "u"); err != nil {
		t.Errorf("check: %v", err)
	}
}
