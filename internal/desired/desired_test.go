package desired

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// writeTree creates files (slash paths relative to a new temporary directory) and returns
// the directory.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustLoad(t *testing.T, dir string, opts ...Option) *State {
	t.Helper()
	st, err := Load(dir, opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func loadProblems(t *testing.T, dir string, opts ...Option) []string {
	t.Helper()
	_, err := Load(dir, opts...)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Load error = %v, want a *LoadError", err)
	}
	var out []string
	for _, p := range le.Problems {
		out = append(out, p.String())
	}
	return out
}

const snowDoc = `kind: ServiceDeskIntegration
name: ServiceNow Production
spec:
  description: Tickets
  type: ServiceNowSDIM
  ownerRef: {type: IDENTITY, id: owner1}
  clusterRef: {id: cluster1}
  cluster: cluster1
  managedSources: [src2, src1]
  provisioningConfig:
    managedResourceRefs: [{type: SOURCE, id: src1}, {id: src2, name: HR}]
    planInitializerScript: {source: "<Rule/>"}
    noProvisioningRequests: true
    provisioningRequestExpiration: 7
  attributes:
    url: https://acme.service-now.com
    port: 443
    ratio: 0.5
    enabled: false
    nothing: null
    list: [a, 1]
    password: ${env:SNOW_PASSWORD}
  beforeProvisioningRule: {type: RULE, id: rule1}
options:
  previousNames: [ServiceNow Prod]
  ignore: [/attributes/lastSyncDate, /description]
  mode: observe
`

func TestLoadServiceDesk(t *testing.T) {
	dir := writeTree(t, map[string]string{"snow.yaml": snowDoc})
	st := mustLoad(t, dir, testEnv(map[string]string{"SNOW_PASSWORD": "pw"}))
	if len(st.ServiceDesk) != 1 || st.Files != 1 || len(st.SIM) != 0 || st.StatusCheck != nil {
		t.Fatalf("state: %+v", st)
	}
	r := st.ServiceDesk[0]
	pw, ok := r.Spec.Attributes["password"].(sdim.Secret)
	if !ok || !pw.Equal(sdim.NewSecret("pw", "")) || pw.Source() != "env:SNOW_PASSWORD" {
		t.Errorf("password = %#v, want a Secret from env:SNOW_PASSWORD", r.Spec.Attributes["password"])
	}
	delete(r.Spec.Attributes, "password")
	yes, seven := true, int32(7)
	want := ServiceDeskResource{
		Resource: Resource{
			Kind: sdim.KindServiceDesk, Name: "ServiceNow Production",
			Options: Options{PreviousNames: []string{"ServiceNow Prod"}, Ignore: []string{"/attributes/lastSyncDate", "/description"}, Mode: ModeObserve},
			Source:  Source{File: "snow.yaml", Line: 1, Column: 1},
		},
		Spec: sdim.ServiceDeskIntegration{
			Name: "ServiceNow Production", Description: "Tickets", Type: "ServiceNowSDIM",
			OwnerRef:       &sdim.Reference{Type: "IDENTITY", ID: "owner1"},
			ClusterRef:     &sdim.Reference{ID: "cluster1"},
			Cluster:        "cluster1",
			ManagedSources: []string{"src2", "src1"},
			ProvisioningConfig: &sdim.ProvisioningConfig{
				ManagedResourceRefs:           []sdim.Reference{{Type: "SOURCE", ID: "src1"}, {ID: "src2", Name: "HR"}},
				PlanInitializerScript:         &sdim.Script{Source: "<Rule/>"},
				NoProvisioningRequests:        &yes,
				ProvisioningRequestExpiration: &seven,
			},
			Attributes: map[string]any{
				"url": "https://acme.service-now.com", "port": int64(443), "ratio": json.Number("0.5"), "enabled": false,
				"nothing": nil, "list": []any{"a", int64(1)},
			},
			BeforeProvisioningRule: &sdim.Reference{Type: "RULE", ID: "rule1"},
		},
	}
	if !reflect.DeepEqual(want, r) {
		t.Errorf("resource\n got %s\nwant %s", dump(r), dump(want))
	}
}

func TestLoadSIMAndStatusCheck(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"sim.yml": `kind: SIMIntegration
name: ServiceNow SIM
spec:
  description: Legacy SIM
  type: ServiceNow Service Desk
  cluster: xyzzy999
  sources: [2c9180835d191a86015d28455b4a2329]
  statusMap: {closed_complete: Committed}
  request: {description: SailPoint Access Request, auth: "Basic ${env:SIM_AUTH}"}
  attributes: {uid: svc-sailpoint}
  beforeProvisioningRule: {type: RULE, id: r1}
`,
		"nested/status.yaml": `# comment only document first
---
kind: StatusCheckConfiguration
name: tenant-wide
spec:
  provisioningStatusCheckIntervalMinutes: "030"
  provisioningMaxStatusCheckDays: 2
`,
	})
	st := mustLoad(t, dir, testEnv(map[string]string{"SIM_AUTH": "dXNlcjpwYXNz"}))
	if st.StatusCheck == nil || len(st.SIM) != 1 || st.Files != 2 {
		t.Fatalf("state: %+v", st)
	}
	sc := st.StatusCheck
	if sc.Spec != (sdim.StatusCheckConfiguration{ProvisioningStatusCheckIntervalMinutes: "30", ProvisioningMaxStatusCheckDays: "2"}) ||
		sc.Name != "tenant-wide" || sc.Source.String() != "nested/status.yaml:3:1" {
		t.Errorf("status check: %+v", sc)
	}
	sim := st.SIM[0]
	auth, ok := sim.Spec.Request["auth"].(sdim.Secret)
	if !ok || !auth.Equal(sdim.NewSecret("Basic dXNlcjpwYXNz", "")) || auth.Source() != "env:SIM_AUTH" {
		t.Errorf("request.auth = %v, want the whole string as a secret", sim.Spec.Request["auth"])
	}
	if sim.Spec.Name != "ServiceNow SIM" || sim.Spec.Cluster != "xyzzy999" || sim.Spec.StatusMap["closed_complete"] != "Committed" ||
		sim.Spec.BeforeProvisioningRule.ID != "r1" || sim.Spec.Attributes["uid"] != "svc-sailpoint" {
		t.Errorf("sim spec: %+v", sim.Spec)
	}
	if got := st.Summary(); got != "0 service desk integrations, 1 status check configuration, 1 SIM integration in 2 files" {
		t.Errorf("Summary = %q", got)
	}
}

func TestSecretReferences(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"sd/snow.yaml": `kind: ServiceDeskIntegration
name: A
spec:
  type: T
  description: costs $${PRICE} and $$ more
  attributes:
    fromFile: ${file:../secrets/token}
    crlf: ${file:../secrets/crlf}
    twoLines: ${file:../secrets/two}
    mixed: "${env:USER_NAME}:${file:../secrets/token}"
    escaped: "$${env:NOT_A_REF}"
    password: literal-in-git
    nested: {deeper: [{apiKey: "${env:USER_NAME}"}]}
    'lit': |
      line one
      ${env:USER_NAME}
`,
		"secrets/token": "tok-123\n",
		"secrets/crlf":  "crlf-value\r\n",
		"secrets/two":   "a\nb\n\n",
	})
	st := mustLoad(t, dir, testEnv(map[string]string{"USER_NAME": "svc"}))
	sd := st.ServiceDesk[0].Spec
	if sd.Description != "costs ${PRICE} and $$ more" {
		t.Errorf("description = %q", sd.Description)
	}
	attrs := sd.Attributes
	secrets := map[string]struct{ value, source string }{
		"fromFile": {"tok-123", "file:../secrets/token"},
		"crlf":     {"crlf-value", "file:../secrets/crlf"},
		"twoLines": {"a\nb\n", "file:../secrets/two"},
		"mixed":    {"svc:tok-123", "env:USER_NAME,file:../secrets/token"},
		"password": {"literal-in-git", ""},
		"lit":      {"line one\nsvc\n", "env:USER_NAME"},
	}
	for key, want := range secrets {
		s, ok := attrs[key].(sdim.Secret)
		if !ok {
			t.Errorf("%s = %T, want a Secret", key, attrs[key])
			continue
		}
		if !s.Equal(sdim.NewSecret(want.value, "")) || s.Source() != want.source {
			t.Errorf("%s: wrong value, or source %q want %q", key, s.Source(), want.source)
		}
	}
	if attrs["escaped"] != "${env:NOT_A_REF}" {
		t.Errorf("escaped = %v", attrs["escaped"])
	}
	deep := attrs["nested"].(map[string]any)["deeper"].([]any)[0].(map[string]any)["apiKey"]
	if _, ok := deep.(sdim.Secret); !ok {
		t.Errorf("nested apiKey = %T, want a Secret", deep)
	}
}

func TestSecretFilesOutside(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "pw"), []byte("outside-pw"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "kind: ServiceDeskIntegration\nname: A\nspec:\n  type: T\n  attributes: {password: \"${file:" + filepath.ToSlash(filepath.Join(outside, "pw")) + "}\"}\n"
	dir := writeTree(t, map[string]string{"a.yaml": doc})
	// a link inside the directory to a file outside it is outside too
	if err := os.Symlink(filepath.Join(outside, "pw"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	writeTree2(t, dir, "b.yaml", "kind: ServiceDeskIntegration\nname: B\nspec:\n  type: T\n  attributes: {password: \"${file:link}\"}\n")
	got := loadProblems(t, dir)
	if len(got) != 2 || !strings.Contains(got[0], "outside the desired directory") || !strings.Contains(got[1], "outside the desired directory") {
		t.Errorf("problems = %q", got)
	}
	st := mustLoad(t, dir, WithSecretFilesOutside(true))
	if s := st.ServiceDesk[0].Spec.Attributes["password"].(sdim.Secret); !s.Equal(sdim.NewSecret("outside-pw", "")) {
		t.Errorf("the file outside was not read")
	}
}

func writeTree2(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSkippedFiles(t *testing.T) {
	doc := func(name string) string {
		return "kind: ServiceDeskIntegration\nname: " + name + "\nspec: {type: T, attributes: {}}\n"
	}
	dir := writeTree(t, map[string]string{
		"a.yaml":             doc("A"),
		"b.YML":              doc("B"),
		"sub/c.yml":          doc("C"),
		".hidden.yaml":       "not: [valid",
		".git/config.yaml":   "not: [valid",
		".#a.yaml":           "not: [valid",
		"a.yaml~":            "not: [valid",
		"a.yaml.swp":         "not: [valid",
		"#a.yaml#":           "not: [valid",
		"README.md":          "not: [valid",
		"secrets/token":      "x",
		"empty.yaml":         "",
		"comments-only.yaml": "# nothing here\n---\n",
	})
	st := mustLoad(t, dir)
	var names []string
	for _, r := range st.Resources() {
		names = append(names, r.Name+"@"+r.Source.File)
	}
	if want := []string{"A@a.yaml", "B@b.YML", "C@sub/c.yml"}; !reflect.DeepEqual(names, want) {
		t.Errorf("resources = %v, want %v", names, want)
	}
	if st.Files != 5 {
		t.Errorf("Files = %d, want 5", st.Files)
	}
}

// TestKubernetesConfigMapLayout loads a directory laid out as a mounted ConfigMap: the
// files are links into a hidden, timestamped directory.
func TestKubernetesConfigMapLayout(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"..2026_01_01_00_00_00.1/snow.yaml": "kind: ServiceDeskIntegration\nname: A\nspec: {type: T, attributes: {}}\n",
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("..2026_01_01_00_00_00.1", filepath.Join(dir, "..data")))
	must(os.Symlink(filepath.Join("..data", "snow.yaml"), filepath.Join(dir, "snow.yaml")))
	st := mustLoad(t, dir)
	if len(st.ServiceDesk) != 1 || st.ServiceDesk[0].Source.File != "snow.yaml" {
		t.Errorf("state: %+v", st)
	}
	must(os.Symlink(filepath.Join(dir, "..2026_01_01_00_00_00.1"), filepath.Join(dir, "linked-dir")))
	if got := loadProblems(t, dir); len(got) != 1 || !strings.HasPrefix(got[0], "linked-dir: a symbolic link to a directory") {
		t.Errorf("problems = %q", got)
	}
}

func TestMergeKeysAndAnchors(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.yaml": `kind: ServiceDeskIntegration
name: A
spec: &base
  type: T
  description: from base
  attributes: &attrs {url: https://a, username: u}
---
kind: ServiceDeskIntegration
name: B
spec:
  <<: *base
  description: own
  attributes:
    <<: [*attrs, {extra: 1}]
    url: https://b
`})
	st := mustLoad(t, dir)
	a, b := st.ServiceDesk[0].Spec, st.ServiceDesk[1].Spec
	if a.Description != "from base" || b.Description != "own" || b.Type != "T" {
		t.Errorf("descriptions %q %q, type %q", a.Description, b.Description, b.Type)
	}
	if want := map[string]any{"url": "https://b", "username": "u", "extra": int64(1)}; !reflect.DeepEqual(b.Attributes, want) {
		t.Errorf("merged attributes = %v, want %v", b.Attributes, want)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	if _, err := Load(os.DevNull); err == nil || !strings.Contains(err.Error(), "neither a directory nor a regular file") {
		t.Errorf("a device as directory: %v", err)
	}
	st := mustLoad(t, t.TempDir())
	if st.Files != 0 || len(st.Resources()) != 0 {
		t.Errorf("empty directory: %+v", st)
	}
}

func TestProblemsAreSortedAndCapped(t *testing.T) {
	var b strings.Builder
	for i := range 60 {
		b.WriteString("---\nkind: ServiceDeskIntegration\nname: n" + strings.Repeat("x", i) + "\nspec: {type: T, attributes: {}, bad: 1}\n")
	}
	dir := writeTree(t, map[string]string{"b.yaml": b.String(), "a.yaml": "kind: Nope\n"})
	got := loadProblems(t, dir)
	if len(got) != maxProblemsPerFile+2 {
		t.Fatalf("%d problems, want %d", len(got), maxProblemsPerFile+2)
	}
	if !strings.HasPrefix(got[0], "a.yaml:1:7: kind: unknown kind") || !strings.Contains(got[len(got)-1], "and 10 more problems in this file") {
		t.Errorf("first %q, last %q", got[0], got[len(got)-1])
	}
}

func TestSuggest(t *testing.T) {
	keys := serviceDeskKeys()
	for word, want := range map[string]string{
		"descripton": "description", "Description": "description", "ownerref": "ownerRef",
		"atributes": "attributes", "owner": "", "x": "", "provisioningconfig": "provisioningConfig",
	} {
		if got := suggest(word, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

// dump renders a value with its pointers followed, for failure messages.
func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
