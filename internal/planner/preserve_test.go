package planner_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// TestIgnoredEmptyReferenceIsOmitted: a reference the desired side ignores and whose live
// value points at nothing ("", {}, a type or a name without an id) is left out of the
// object a put sends, never sent back as {} (which the tenant refuses); empty entries of
// the live reference lists are dropped the same way, and a live reference with an id is
// still kept.
func TestIgnoredEmptyReferenceIsOmitted(t *testing.T) {
	for _, live := range []string{`""`, `{}`, `null`, `{"type": "IDENTITY"}`, `{"type": "IDENTITY", "name": "Nobody"}`} {
		t.Run(live, func(t *testing.T) {
			l := decodeSD(t, `{"id": "x1", "name": "A", "description": "edited by hand", "type": "ServiceNowSDIM",
  "ownerRef": `+live+`, "clusterRef": `+strings.ReplaceAll(live, "IDENTITY", "CLUSTER")+`,
  "beforeProvisioningRule": `+strings.ReplaceAll(live, "IDENTITY", "RULE")+`,
  "managedSources": ["", "`+srcA+`"],
  "provisioningConfig": {"managedResourceRefs": [{"type": "SOURCE"}, {"type": "SOURCE", "id": "`+srcA+`"}]},
  "attributes": {"url": "https://x"}}`)
			spec := baseSpec("A")
			spec.Attributes = map[string]any{"url": "https://x"}
			res := sdResource(spec, 1)
			res.Options.Ignore = []string{"/ownerRef", "/clusterRef", "/beforeProvisioningRule", "/provisioningConfig/managedResourceRefs"}
			want := &desired.State{ServiceDesk: []desired.ServiceDeskResource{res}}
			r := mustPlan(t, want, liveState(l), planner.DefaultPolicy())
			if len(r.Changes) != 1 || r.Changes[0].Action != planner.ActionPut {
				t.Fatalf("changes %+v, want one put (the description)", r.Changes)
			}
			sent := r.Changes[0].ServiceDesk
			if sent.OwnerRef != nil || sent.ClusterRef != nil || sent.BeforeProvisioningRule != nil {
				t.Errorf("references that point at nothing are sent: owner %+v, cluster %+v, rule %+v", sent.OwnerRef, sent.ClusterRef, sent.BeforeProvisioningRule)
			}
			if got := sent.ProvisioningConfig.ManagedResourceRefs; len(got) != 1 || got[0].ID != srcA {
				t.Errorf("managedResourceRefs sent: %+v", got)
			}
			if len(sent.ManagedSources) != 1 || sent.ManagedSources[0] != srcA {
				t.Errorf("managedSources sent: %q", sent.ManagedSources)
			}
			body, err := json.Marshal(sent)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{`"ownerRef"`, `"clusterRef"`, `"beforeProvisioningRule"`, `{}`, `""`} {
				if bytes.Contains(body, []byte(bad)) {
					t.Errorf("the put body holds %s: %s", bad, body)
				}
			}
			if spec.OwnerRef == nil || spec.OwnerRef.ID != owner {
				t.Errorf("the desired state itself was changed: %+v", spec.OwnerRef)
			}
		})
	}
	// A live reference with an id is kept, without the name the tenant filled in being a
	// problem.
	l := baseLive(t, "A", "x1")
	l.Description = "edited by hand"
	l.OwnerRef = &sdim.Reference{Type: sdim.RefIdentity, ID: owner2, Name: "Bob"}
	res := sdResource(baseSpec("A"), 1)
	res.Options.Ignore = []string{"/ownerRef"}
	r := mustPlan(t, &desired.State{ServiceDesk: []desired.ServiceDeskResource{res}}, liveState(l), planner.DefaultPolicy())
	if len(r.Changes) != 1 || r.Changes[0].ServiceDesk.OwnerRef == nil || r.Changes[0].ServiceDesk.OwnerRef.ID != owner2 {
		t.Fatalf("an ignored live reference with an id is not kept: %+v", r.Changes)
	}
	// SIM: the rule.
	lsim := decodeSIM(t, `{"id": "s1", "name": "S", "description": "edited", "type": "ServiceNow Service Desk", "beforeProvisioningRule": "", "sources": ["", "`+srcA+`"]}`)
	ssim := desired.SIMResource{Resource: desired.Resource{Kind: sdim.KindSIM, Name: "S", Options: desired.Options{Ignore: []string{"/beforeProvisioningRule", "/sources"}}},
		Spec: sdim.SIMIntegration{Name: "S", Description: "d", Type: "ServiceNow Service Desk", BeforeProvisioningRule: &sdim.Reference{Type: sdim.RefRule, ID: rule}}}
	live := liveState()
	live.SIM, live.SIMRead = []sdim.SIMIntegration{lsim}, true
	r = mustPlan(t, &desired.State{SIM: []desired.SIMResource{ssim}}, live, planner.DefaultPolicy())
	if len(r.Changes) != 1 || r.Changes[0].SIM == nil {
		t.Fatalf("changes %+v", r.Changes)
	}
	if s := r.Changes[0].SIM; s.BeforeProvisioningRule != nil || len(s.Sources) != 1 {
		t.Errorf("SIM put sends rule %+v, sources %q", s.BeforeProvisioningRule, s.Sources)
	}
}

// TestIgnoredEmptyReferenceEmulator: the same through the tenant client and the emulated
// tenant, which answers `"ownerRef": ""` (as SailPoint's examples write "no reference")
// and refuses {} with "'ownerRef.id' is required": the put the plan makes is accepted,
// and a second plan has nothing to do.
func TestIgnoredEmptyReferenceEmulator(t *testing.T) {
	e, err := emulator.New(emulator.Config{RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Seed(emulator.State{
		ServiceDeskIntegrations: []map[string]any{{"name": "Facilities", "description": "by hand", "type": "Web Service SDIM", "attributes": map[string]any{"url": "https://x"}}},
		SIMIntegrations:         []map[string]any{{"name": "Legacy SIM", "description": "by hand", "type": "ServiceNow Service Desk", "attributes": map[string]any{"uid": "svc"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Answer every object without a reference as a real tenant may: "" for no reference.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "integrations") {
			e.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var list []map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &list) == nil {
			for _, o := range list {
				for _, k := range []string{"ownerRef", "clusterRef", "beforeProvisioningRule"} {
					if o[k] == nil {
						o[k] = ""
					}
				}
			}
			body, _ = json.Marshal(list)
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); _ = e.Close() })
	s, err := tenant.Config{BaseURL: srv.URL, ClientID: emulator.DemoClientID, APIVersion: string(sdim.V2024)}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "test")}).Settings(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.RetryBaseDelay, s.RetryMaxDelay = time.Millisecond, 5*time.Millisecond
	s.RateLimit, s.RateWindow = 100000, time.Second
	c, err := tenant.New(s, tenant.WithTransport(srv.Client().Transport))
	if err != nil {
		t.Fatal(err)
	}
	ignore := desired.Options{Ignore: []string{"/ownerRef", "/clusterRef", "/beforeProvisioningRule"}}
	want := &desired.State{
		ServiceDesk: []desired.ServiceDeskResource{{
			Resource: desired.Resource{Kind: sdim.KindServiceDesk, Name: "Facilities", Options: ignore},
			Spec: sdim.ServiceDeskIntegration{Name: "Facilities", Description: "managed now", Type: "Web Service SDIM",
				OwnerRef: &sdim.Reference{Type: sdim.RefIdentity, ID: owner}, Attributes: map[string]any{"url": "https://x"}},
		}},
		SIM: []desired.SIMResource{{
			Resource: desired.Resource{Kind: sdim.KindSIM, Name: "Legacy SIM", Options: desired.Options{Ignore: []string{"/beforeProvisioningRule"}}},
			Spec: sdim.SIMIntegration{Name: "Legacy SIM", Description: "managed now", Type: "ServiceNow Service Desk",
				Attributes: map[string]any{"uid": "svc"}, BeforeProvisioningRule: &sdim.Reference{Type: sdim.RefRule, ID: rule}},
		}},
	}
	ctx := t.Context()
	live, err := c.Snapshot(ctx, tenant.SnapshotOptions{SIM: true})
	if err != nil {
		t.Fatal(err)
	}
	if o := live.ServiceDesk[0].OwnerRef; o == nil || !o.IsZero() {
		t.Fatalf("the proxy did not answer \"ownerRef\": \"\": %+v", o)
	}
	res := mustPlan(t, want, live, planner.DefaultPolicy())
	var puts int
	for _, ch := range res.Changes {
		if ch.Action == planner.ActionPut {
			puts++
		}
	}
	if puts != 2 {
		t.Fatalf("want 2 puts (SIM and service desk), got %+v", res.Changes)
	}
	if err := applyPlan(ctx, c, res); err != nil {
		t.Fatalf("the tenant refused the put: %v", err)
	}
	live, err = c.Snapshot(ctx, tenant.SnapshotOptions{SIM: true})
	if err != nil {
		t.Fatal(err)
	}
	if sd := live.ServiceDesk[0]; sd.Description != "managed now" || sd.OwnerRef != nil && sd.OwnerRef.ID != "" {
		t.Errorf("after the put: %+v", sd)
	}
	if res := mustPlan(t, want, live, planner.DefaultPolicy()); res.HasChanges() {
		t.Errorf("a second plan has changes: %+v", res.Changes)
	}
}
