package tenant_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// TestTypedCalls runs every call against every API version and checks what the tenant
// stored and what went over the wire.
func TestTypedCalls(t *testing.T) {
	for _, v := range sdim.APIVersions() {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			env := startEmulator(t, emulator.Config{})
			c := env.client(t, env.settings(t, v), tenant.WithLogger(nil))
			ctx := t.Context()

			// A name with the characters the filter syntax must escape.
			name := `Team "Blue" \ desk`
			want := snow(name)
			want.Attributes["password"] = sdim.NewSecret("pw-only-on-the-wire", "env:SNOW_PASSWORD")
			created, err := c.CreateServiceDesk(ctx, want)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if created.ID == "" || created.Name != name || created.Modified == "" {
				t.Fatalf("create answered %+v", created)
			}
			if _, hidden := created.Attributes["password"]; hidden {
				t.Errorf("the tenant returned the password")
			}
			if !bytes.Contains(env.wire.requests()[len(env.wire.requests())-1].body, []byte(`"password":"pw-only-on-the-wire"`)) {
				t.Errorf("the secret was not revealed in the request body")
			}

			got, err := c.GetServiceDesk(ctx, created.ID)
			if err != nil || got.Name != name || got.ClusterRef == nil || got.ClusterRef.ID != want.ClusterRef.ID {
				t.Fatalf("get: %+v, %v", got, err)
			}
			found, err := c.FindServiceDeskByName(ctx, name)
			if err != nil || found == nil || found.ID != created.ID {
				t.Fatalf("find by name: %+v, %v", found, err)
			}
			q := env.wire.requests()[len(env.wire.requests())-1].query
			if !strings.Contains(q, "filters=name+eq+%22Team+%5C%22Blue%5C%22+%5C%5C+desk%22") {
				t.Errorf("the name filter is not quoted and escaped: %s", q)
			}
			if none, err := c.FindServiceDeskByName(ctx, "no such desk"); err != nil || none != nil {
				t.Errorf("find a missing name: %+v, %v", none, err)
			}

			put := snow(name)
			put.Description = "replaced"
			put.Attributes["url"] = "https://acme2.service-now.com"
			replaced, err := c.PutServiceDesk(ctx, created.ID, put)
			if err != nil || replaced.Description != "replaced" || replaced.Attributes["url"] != "https://acme2.service-now.com" {
				t.Fatalf("put: %+v, %v", replaced, err)
			}

			rule := sdim.Reference{Type: sdim.RefRule, ID: "2c918085708c274401708c2a8a760001"}
			patched, err := c.PatchServiceDesk(ctx, created.ID, name, []tenant.PatchOp{tenant.Replace("/beforeProvisioningRule", rule)})
			if err != nil || patched.BeforeProvisioningRule == nil || patched.BeforeProvisioningRule.ID != rule.ID {
				t.Fatalf("patch: %+v, %v", patched, err)
			}
			last := env.wire.requests()[len(env.wire.requests())-1]
			if ct := last.header.Get("Content-Type"); ct != "application/json-patch+json" || !bytes.HasPrefix(last.body, []byte("[")) {
				t.Errorf("service desk patch sent %s %s", ct, last.body)
			}
			_, err = c.PatchServiceDesk(ctx, created.ID, name, []tenant.PatchOp{tenant.Replace("/description", "x")})
			if tenant.StatusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "a PUT can make the change") {
				t.Errorf("patching a field the tenant does not allow: %v", err)
			}

			list, err := c.ListServiceDesk(ctx, tenant.ListOptions{Filters: tenant.FilterIDIn([]string{created.ID, "ffffffffffffffffffffffffffffffff"})})
			if err != nil || len(list) != 1 {
				t.Fatalf("list by id: %d, %v", len(list), err)
			}

			sc, err := c.GetStatusCheck(ctx)
			if err != nil || sc.ProvisioningStatusCheckIntervalMinutes == "" {
				t.Fatalf("status check: %+v, %v", sc, err)
			}
			sc2, err := c.PutStatusCheck(ctx, sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: "45", ProvisioningMaxStatusCheckDays: "3"})
			if err != nil || sc2.ProvisioningStatusCheckIntervalMinutes != "45" || sc2.ProvisioningMaxStatusCheckDays != "3" {
				t.Fatalf("put status check: %+v, %v", sc2, err)
			}

			types, err := c.ListTypes(ctx)
			if err != nil || len(types) == 0 || types[0].ScriptName == "" {
				t.Fatalf("types: %+v, %v", types, err)
			}
			tpl, err := c.GetTemplate(ctx, types[0].ScriptName)
			if err != nil || tpl.Attributes == nil {
				t.Fatalf("template: %+v, %v", tpl, err)
			}
			if _, err := c.GetTemplate(ctx, "no-such-script"); !tenant.IsNotFound(err) {
				t.Errorf("missing template: %v", err)
			}

			if err := c.DeleteServiceDesk(ctx, created.ID, name); err != nil {
				t.Fatalf("delete: %v", err)
			}
			err = c.DeleteServiceDesk(ctx, created.ID, name)
			if !tenant.IsNotFound(err) || !strings.Contains(err.Error(), `delete service desk integration "Team \"Blue\" \\ desk"`) {
				t.Errorf("deleting again: %v", err)
			}

			if !v.HasSIM() {
				if _, err := c.ListSIM(ctx); err == nil || !strings.Contains(err.Error(), "need API version v2024, v2025 or v1") {
					t.Errorf("SIM on %s: %v", v, err)
				}
				return
			}
			simCalls(t, env, c)
		})
	}
}

func simCalls(t *testing.T, env *tenantEnv, c *tenant.Client) {
	ctx := t.Context()
	in := sdim.SIMIntegration{
		Name: "ServiceNow SIM", Description: "Legacy SIM", Type: "ServiceNow Service Desk",
		Sources: []string{"2c9180835d191a86015d28455b4a2329"}, Cluster: "xyzzy999",
		StatusMap:  map[string]any{"closed_complete": "Committed"},
		Request:    map[string]any{"description": "SailPoint Access Request"},
		Attributes: map[string]any{"uid": "svc-sailpoint", "password": sdim.NewSecret("sim-pw", "env:X")},
	}
	created, err := c.CreateSIM(ctx, in)
	if err != nil || created.ID == "" {
		t.Fatalf("create SIM: %+v, %v", created, err)
	}
	for _, s := range env.wire.requests() {
		if strings.Contains(s.path, "sim-integrations") && s.header.Get("X-SailPoint-Experimental") != "true" {
			t.Fatalf("%s %s without the experimental header", s.method, s.path)
		}
	}
	if got, err := c.GetSIM(ctx, created.ID); err != nil || got.Name != in.Name {
		t.Fatalf("get SIM: %+v, %v", got, err)
	}
	found, err := c.FindSIMByName(ctx, in.Name)
	if err != nil || found == nil || found.ID != created.ID {
		t.Fatalf("find SIM: %+v, %v", found, err)
	}
	in.Description = "replaced"
	if got, err := c.PutSIM(ctx, created.ID, in); err != nil || got.Description != "replaced" {
		t.Fatalf("put SIM: %+v, %v", got, err)
	}
	rule := sdim.Reference{Type: sdim.RefRule, ID: "2c918085708c274401708c2a8a760001"}
	if got, err := c.PatchSIM(ctx, created.ID, in.Name, []tenant.PatchOp{tenant.Replace("/beforeProvisioningRule", rule)}); err != nil ||
		got.BeforeProvisioningRule == nil || got.BeforeProvisioningRule.ID != rule.ID {
		t.Fatalf("patch SIM: %+v, %v", got, err)
	}
	last := env.wire.requests()[len(env.wire.requests())-1]
	var body map[string]json.RawMessage
	if err := json.Unmarshal(last.body, &body); err != nil || body["operations"] == nil {
		t.Errorf("SIM patch body is not {\"operations\": [...]}: %s", last.body)
	}
	other := "2c918085708c274401708c2a8a760002"
	if got, err := c.PatchSIMBeforeProvisioningRule(ctx, created.ID, in.Name, []tenant.PatchOp{tenant.Replace("/id", other)}); err != nil ||
		got.BeforeProvisioningRule == nil || got.BeforeProvisioningRule.ID != other {
		t.Fatalf("patch SIM rule: %+v, %v", got, err)
	}
	list, err := c.ListSIM(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list SIM: %d, %v", len(list), err)
	}
	if err := c.DeleteSIM(ctx, created.ID, in.Name); err != nil {
		t.Fatalf("delete SIM: %v", err)
	}
	if err := c.DeleteSIM(ctx, created.ID, in.Name); !tenant.IsNotFound(err) {
		t.Errorf("deleting a SIM again: %v", err)
	}
}

// TestAPIErrorCarriesTheTenantsDetails: a refused create comes back typed, with the
// tenant's detail code, tracking id and message, and names the operation and the object.
func TestAPIErrorCarriesTheTenantsDetails(t *testing.T) {
	env := startEmulator(t, emulator.Config{})
	c := env.client(t, env.settings(t, sdim.V3))
	bad := snow("No type")
	bad.Type = ""
	_, err := c.CreateServiceDesk(t.Context(), bad)
	var ae *tenant.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an *APIError, got %T %v", err, err)
	}
	if ae.Status != 400 || ae.DetailCode == "" || ae.TrackingID == "" || len(ae.Messages) == 0 || ae.Ambiguous {
		t.Errorf("got %+v", ae)
	}
	for _, want := range []string{`create service desk integration "No type"`, "POST /v3/service-desk-integrations", "400 Bad Request", "'type'", "trackingId " + ae.TrackingID} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Two objects with one name: the tenant refuses the second.
	if _, err := c.CreateServiceDesk(t.Context(), snow("Twin")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateServiceDesk(t.Context(), snow("Twin")); tenant.StatusCode(err) != 400 || tenant.IsAmbiguous(err) {
		t.Errorf("a duplicate name: %v", err)
	}
}
