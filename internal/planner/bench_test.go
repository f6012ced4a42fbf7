package planner_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// BenchmarkPlan10k plans 10,000 service desk integrations of which 1% drifted (half of
// them a patch, half a put), from states already in memory: the planner's own CPU.
func BenchmarkPlan10k(b *testing.B) {
	const n = 10_000
	var tmpl sdim.ServiceDeskIntegration
	if err := json.Unmarshal([]byte(liveJSONFor("x", "x")), &tmpl); err != nil {
		b.Fatal(err)
	}
	want := &desired.State{ServiceDesk: make([]desired.ServiceDeskResource, n)}
	live := liveState()
	live.ServiceDesk = make([]sdim.ServiceDeskIntegration, n)
	for i := range n {
		name := fmt.Sprintf("Integration %05d", i)
		spec := baseSpec(name)
		l := copyLive(tmpl)
		l.ID, l.Name, l.Description = fmt.Sprintf("id%05d", i), name, "Tickets for "+name
		l.Attributes["timeout"] = json.Number("30")
		switch {
		case i%200 == 0:
			spec.Description = "drifted"
		case i%200 == 100:
			spec.BeforeProvisioningRule = &sdim.Reference{ID: rule2}
		}
		want.ServiceDesk[i] = sdResource(spec, i)
		live.ServiceDesk[i] = l
	}
	pol := planner.DefaultPolicy()
	res, err := planner.Plan(want, live, pol)
	if err != nil {
		b.Fatal(err)
	}
	if res.Counts.Put != 50 || res.Counts.Patch != 50 || res.Counts.InSync != n-100 {
		b.Fatalf("counts %+v", res.Counts)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := planner.Plan(want, live, pol); err != nil {
			b.Fatal(err)
		}
	}
}

// liveJSONFor is a live integration as the tenant answers it, as JSON.
func liveJSONFor(name, id string) string {
	return `{"id": "` + id + `", "name": "` + name + `", "description": "", "type": "ServiceNowSDIM",
  "created": "2026-01-02T03:04:05.000Z", "modified": "2026-01-03T03:04:05.000Z",
  "ownerRef": {"type": "IDENTITY", "id": "` + owner + `", "name": "Alice Admin"},
  "clusterRef": {"type": "CLUSTER", "id": "` + cluster + `", "name": "Main VA"}, "cluster": "` + cluster + `",
  "managedSources": ["` + srcA + `", "` + srcB + `"],
  "provisioningConfig": {"universalManager": false, "managedResourceRefs": [{"type": "SOURCE", "id": "` + srcB + `"}, {"type": "SOURCE", "id": "` + srcA + `"}]},
  "attributes": {"url": "https://acme.service-now.com", "username": "svc-sailpoint", "timeout": 30},
  "beforeProvisioningRule": {"type": "RULE", "id": "` + rule + `", "name": "Before"}}`
}

func copyLive(o sdim.ServiceDeskIntegration) sdim.ServiceDeskIntegration {
	attrs := make(map[string]any, len(o.Attributes))
	for k, v := range o.Attributes {
		attrs[k] = v
	}
	o.Attributes = attrs
	return o
}
