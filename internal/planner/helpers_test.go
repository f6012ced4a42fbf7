package planner_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- want\n%s\n--- got\n%s", name, want, got)
	}
}

// Identifiers used across the tests.
const (
	owner   = "2c9180a46faadee4016fb4e018c20639"
	owner2  = "2c9180a46faadee4016fb4e018c20640"
	cluster = "2c9180847a7fccdd017aa5896f9f4f6f"
	srcA    = "2c9180855d191c59015d291ceb051111"
	srcB    = "2c9180855d191c59015d291ceb052222"
	rule    = "2c918085708c274401708c2a8a760001"
	rule2   = "2c918085708c274401708c2a8a760002"
)

// decodeSD decodes a live service desk integration as the tenant client does (numbers
// kept as json.Number).
func decodeSD(t *testing.T, js string) sdim.ServiceDeskIntegration {
	t.Helper()
	var o sdim.ServiceDeskIntegration
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return o
}

func decodeSIM(t *testing.T, js string) sdim.SIMIntegration {
	t.Helper()
	var o sdim.SIMIntegration
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return o
}

func decodeStatusCheck(t *testing.T, js string) *sdim.StatusCheckConfiguration {
	t.Helper()
	var s sdim.StatusCheckConfiguration
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return &s
}

// baseSpec is a full desired service desk integration, as the loader makes it.
func baseSpec(name string) sdim.ServiceDeskIntegration {
	return sdim.ServiceDeskIntegration{
		Name:        name,
		Description: "Tickets for " + name,
		Type:        "ServiceNowSDIM",
		OwnerRef:    &sdim.Reference{Type: sdim.RefIdentity, ID: owner},
		ClusterRef:  &sdim.Reference{Type: sdim.RefCluster, ID: cluster},
		ProvisioningConfig: &sdim.ProvisioningConfig{
			ManagedResourceRefs: []sdim.Reference{{Type: sdim.RefSource, ID: srcA}, {Type: sdim.RefSource, ID: srcB}},
		},
		Attributes: map[string]any{
			"url":      "https://acme.service-now.com",
			"username": "svc-sailpoint",
			"password": sdim.NewSecret("hunter2", "env:SNOW_PASSWORD"),
			"timeout":  int64(30),
		},
		BeforeProvisioningRule: &sdim.Reference{Type: sdim.RefRule, ID: rule},
	}
}

// baseLive is baseSpec as the tenant answers it: ids, timestamps, reference names, both
// aliases, universalManager, and no password.
func baseLive(t *testing.T, name, id string) sdim.ServiceDeskIntegration {
	return decodeSD(t, `{
  "id": "`+id+`", "name": "`+name+`", "description": "Tickets for `+name+`", "type": "ServiceNowSDIM",
  "created": "2026-01-02T03:04:05.000Z", "modified": "2026-01-03T03:04:05.000Z",
  "ownerRef": {"type": "IDENTITY", "id": "`+owner+`", "name": "Alice Admin"},
  "clusterRef": {"type": "CLUSTER", "id": "`+cluster+`", "name": "Main VA"},
  "cluster": "`+cluster+`",
  "managedSources": ["`+srcA+`", "`+srcB+`"],
  "provisioningConfig": {"universalManager": false,
    "managedResourceRefs": [{"type": "SOURCE", "id": "`+srcA+`", "name": "HR"}, {"type": "SOURCE", "id": "`+srcB+`", "name": "AD"}]},
  "attributes": {"url": "https://acme.service-now.com", "username": "svc-sailpoint", "timeout": 30},
  "beforeProvisioningRule": {"type": "RULE", "id": "`+rule+`", "name": "Before"}
}`)
}

func sdResource(spec sdim.ServiceDeskIntegration, line int) desired.ServiceDeskResource {
	return desired.ServiceDeskResource{
		Resource: desired.Resource{Kind: sdim.KindServiceDesk, Name: spec.Name,
			Source: desired.Source{File: "integrations.yaml", Line: line, Column: 1}},
		Spec: spec,
	}
}

func simResource(spec sdim.SIMIntegration, line int) desired.SIMResource {
	return desired.SIMResource{
		Resource: desired.Resource{Kind: sdim.KindSIM, Name: spec.Name,
			Source: desired.Source{File: "sim.yaml", Line: line, Column: 1}},
		Spec: spec,
	}
}

func liveState(sd ...sdim.ServiceDeskIntegration) *sdim.Live {
	return &sdim.Live{APIVersion: sdim.V3, ServiceDesk: sd,
		StatusCheck: &sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: "30", ProvisioningMaxStatusCheckDays: "2"},
		ReadAt:      time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

func mustPlan(t *testing.T, want *desired.State, live *sdim.Live, pol planner.Policy) *planner.Result {
	t.Helper()
	res, err := planner.Plan(want, live, pol)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return res
}

func pointers(c planner.Change) []string {
	out := make([]string, len(c.Fields))
	for i, f := range c.Fields {
		out[i] = f.Pointer
	}
	return out
}
