package planner_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// showcase is a plan with one of everything: creates, a patch, puts (a rename, one that
// drops attributes and warns about secrets, the status check), an observe-only change,
// deletes and unmanaged objects.
func showcase(t *testing.T) *planner.Result {
	t.Helper()
	var live []sdim.ServiceDeskIntegration
	for i, n := range []string{"Hand Made", "Jira", "Old Name", "ServiceNow", "Stray 1", "Watched"} {
		live = append(live, baseLive(t, n, fmt.Sprintf("2c91808a7a000000000000000000000%d", i)))
	}
	live[1].Attributes["legacyField"] = "x"
	jira := baseSpec("Jira")
	jira.Description = "Jira | tickets <b>"
	jira.Type = "JiraCloudSDIM"
	delete(jira.Attributes, "password")
	jiraRes := sdResource(jira, 5)
	jiraRes.Options.AllowSecretClear = []string{"apiKey"}
	renamed := sdResource(baseSpec("New Name"), 9)
	renamed.Options.PreviousNames = []string{"Old Name"}
	snow := baseSpec("ServiceNow")
	snow.BeforeProvisioningRule.ID = rule2
	watched := baseSpec("Watched")
	watched.Attributes["url"] = "https://watched.example.com"
	watchedRes := sdResource(watched, 30)
	watchedRes.Options.Mode = desired.ModeObserve
	st := &desired.State{Dir: "desired", ServiceDesk: []desired.ServiceDeskResource{
		sdResource(baseSpec("Brand New"), 1), jiraRes, renamed, sdResource(snow, 13), watchedRes,
	}, StatusCheck: &desired.StatusCheckResource{
		Resource: desired.Resource{Kind: sdim.KindStatusCheck, Source: desired.Source{File: "status.yaml", Line: 1, Column: 1}},
		Spec:     sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: "60", ProvisioningMaxStatusCheckDays: "2"},
	}}
	pol := planner.DefaultPolicy()
	pol.Prune, pol.ManagedScope = true, []string{"Stray*"}
	pol.TypeSecretKeys = map[string][]string{"JiraCloudSDIM": {"apiKey"}}
	return mustPlan(t, st, liveState(live...), pol)
}

func TestGoldenRenderings(t *testing.T) {
	res := showcase(t)
	for _, tt := range []struct {
		file   string
		render func(*bytes.Buffer) error
	}{
		{"plan.txt", func(b *bytes.Buffer) error { return planner.WriteText(b, res, planner.TextOptions{}) }},
		{"plan-color.txt", func(b *bytes.Buffer) error { return planner.WriteText(b, res, planner.TextOptions{Color: true}) }},
		{"plan.json", func(b *bytes.Buffer) error { return planner.WriteJSON(b, res) }},
		{"plan.md", func(b *bytes.Buffer) error {
			return planner.WriteMarkdown(b, res, planner.MarkdownOptions{Tenant: "https://acme.api.identitynow.com", Dir: "desired"})
		}},
		{"in-sync.txt", func(b *bytes.Buffer) error {
			return planner.WriteText(b, mustPlan(t, &desired.State{}, liveState(baseLive(t, "Hand Made", "1")), planner.DefaultPolicy()), planner.TextOptions{})
		}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "hunter2") {
				t.Fatalf("the secret leaked")
			}
			golden(t, tt.file, b.Bytes())
		})
	}
}

func TestTextSummary(t *testing.T) {
	res := showcase(t)
	want := "Plan: 1 to create, 4 to update (1 patch, 3 put), 1 to delete; 1 observe-only; 1 unmanaged; 0 in sync."
	if got := planner.Summary(res); got != want {
		t.Errorf("Summary\n got %q\nwant %q", got, want)
	}
}

// TestJSONMatchesSchema validates the JSON plan and a saved plan against the schema in
// docs/plan-format.schema.json.
func TestJSONMatchesSchema(t *testing.T) {
	raw, err := os.ReadFile("../../docs/plan-format.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("plan-format.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("plan-format.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile("../../docs/plan-format.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "plan-format.schema.json") {
		t.Errorf("docs/plan-format.md does not point at its schema")
	}
	res := showcase(t)
	var plain, saved bytes.Buffer
	if err := planner.WriteJSON(&plain, res); err != nil {
		t.Fatal(err)
	}
	if err := planner.WriteSaved(&saved, res, planner.Target{TenantURL: "https://acme.api.identitynow.com", DesiredDir: "/src/desired", DesiredDigest: "5c3ab0c1a1f1e1d1c1b1a191817161514131211101f1e1d1c1b1a19181716151", CreatedAt: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	empty := mustPlan(t, &desired.State{}, liveState(), planner.DefaultPolicy())
	var none bytes.Buffer
	if err := planner.WriteJSON(&none, empty); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"plan": plain.Bytes(), "saved": saved.Bytes(), "empty": none.Bytes()} {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("%s plan does not match the schema: %v", name, err)
		}
	}
	// The schema is strict: an unknown field fails.
	var m map[string]any
	_ = json.Unmarshal(plain.Bytes(), &m)
	m["surprise"] = true
	b, _ := json.Marshal(m)
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if schema.Validate(v) == nil {
		t.Errorf("the schema accepts unknown fields")
	}
}

func TestSavedPlanRoundTrip(t *testing.T) {
	res := showcase(t)
	const url = "https://acme.api.identitynow.com"
	var buf bytes.Buffer
	if err := planner.WriteSaved(&buf, res, planner.Target{TenantURL: url, DesiredDir: "/src/desired", DesiredDigest: "5c3ab0c1a1f1e1d1c1b1a191817161514131211101f1e1d1c1b1a19181716151", CreatedAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatal("a secret in the saved plan")
	}
	saved, err := planner.ReadSaved(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if saved.Target.DesiredDir != "/src/desired" || !saved.Policy.Prune || saved.Policy.MaxDeletes != 10 || len(saved.Changes) != len(res.Changes) {
		t.Fatalf("read back %+v", saved)
	}
	if err := saved.Check(showcase(t), url+"/"); err != nil {
		t.Errorf("the same plan is stale: %v", err)
	}
	if err := saved.Check(showcase(t), "https://other.api.identitynow.com"); err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("another tenant: %v", err)
	}
	moved := showcase(t)
	moved.Changes[1].LiveModified = "2026-11-23T10:00:00Z"
	moved.Changes[2].Fields[0].After = "something else"
	err = saved.Check(moved, url)
	if err == nil || !strings.Contains(err.Error(), "modified in the tenant") || !strings.Contains(err.Error(), "changed since the plan was made") {
		t.Errorf("stale plan: %v", err)
	}
	fewer := showcase(t)
	fewer.Changes = fewer.Changes[1:]
	if err := saved.Check(fewer, url); err == nil || !strings.Contains(err.Error(), "no longer needed") {
		t.Errorf("a change gone: %v", err)
	}
	for _, bad := range []string{`{}`, `{"formatVersion": 2}`, `not json`, `{"formatVersion": 1, "counts": {}, "blocked": [], "changes": [], "unmanaged": []}`} {
		if _, err := planner.ReadSaved(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadSaved(%s) accepted", bad)
		}
	}
}

func TestMarkdownStaysUnderTheCommentLimit(t *testing.T) {
	var live []sdim.ServiceDeskIntegration
	var want []desired.ServiceDeskResource
	for i := range 2000 {
		name := fmt.Sprintf("Integration %04d", i)
		live = append(live, baseLive(t, name, fmt.Sprint(i)))
		s := baseSpec(name)
		s.Description = strings.Repeat("long description ", 10)
		want = append(want, sdResource(s, i))
	}
	res := mustPlan(t, &desired.State{ServiceDesk: want}, liveState(live...), planner.DefaultPolicy())
	var b bytes.Buffer
	if err := planner.WriteMarkdown(&b, res, planner.MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	if b.Len() > 65536 || b.Len() < 50_000 {
		t.Errorf("the comment is %d bytes", b.Len())
	}
	if !strings.Contains(b.String(), "more changes are left out") || !strings.Contains(b.String(), "Plan: 0 to create, 2000 to update") {
		t.Errorf("no truncation note or summary:\n%s", b.String()[b.Len()-2000:])
	}
}
