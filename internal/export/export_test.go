package export_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/export"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// startTenant serves an emulator (wrapped by wrap, when not nil) and returns it with a
// read-only client.
func startTenant(tb testing.TB, n int, wrap func(*emulator.Emulator) http.Handler) (*emulator.Emulator, *tenant.Client) {
	tb.Helper()
	e, err := emulator.New(emulator.Config{RateLimit: -1})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Generate(n); err != nil {
		tb.Fatal(err)
	}
	var h http.Handler = e
	if wrap != nil {
		h = wrap(e)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(func() { srv.Close(); _ = e.Close() })
	s, err := tenant.Config{BaseURL: srv.URL, ClientID: emulator.DemoClientID, APIVersion: "v2025"}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "test")}).Settings(nil)
	if err != nil {
		tb.Fatal(err)
	}
	s.RateLimit, s.RateWindow = 1_000_000, time.Second
	c, err := tenant.New(s)
	if err != nil {
		tb.Fatal(err)
	}
	return e, c.ReadOnly()
}

// tree reads every file below dir: relative path to content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSlug(t *testing.T) {
	long := strings.Repeat("abcdefghij ", 10)
	tests := []struct{ name, want string }{
		{"ServiceNow Production", "servicenow-production"},
		{"  Jira / Cloud -- EU  ", "jira-cloud-eu"},
		{"Ops/Jira", "ops-jira"},
		{"Zürich Desk", "z-rich-desk"},
		{"日本語", ""},
		{"!!!", ""},
		{"a_b.c", "a-b-c"},
		{long, "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghi"},
	}
	for _, tt := range tests {
		got := export.Slug(tt.name)
		if got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.name, got, tt.want)
		}
		if len(got) > export.MaxSlug || strings.Contains(got, "--") || strings.HasPrefix(got, "-") || strings.HasSuffix(got, "-") {
			t.Errorf("Slug(%q) = %q breaks the rules", tt.name, got)
		}
	}
}

func TestEnvName(t *testing.T) {
	tests := []struct{ name, key, want string }{
		{"ServiceNow Production", "password", "SERVICENOW_PRODUCTION_PASSWORD"},
		{"BMC Remedyforce", "clientSecret", "BMC_REMEDYFORCE_CLIENT_SECRET"},
		{"Jira", "apiKey", "JIRA_API_KEY"},
		{"42 desk", "token", "SDIM_42_DESK_TOKEN"},
		{"日本語", "password", "PASSWORD"},
	}
	for _, tt := range tests {
		if got := export.EnvName(tt.name, tt.key); got != tt.want {
			t.Errorf("EnvName(%q, %q) = %q, want %q", tt.name, tt.key, got, tt.want)
		}
	}
}

// seedNames seeds integrations with the given names.
func seedNames(t *testing.T, e *emulator.Emulator, names []string) {
	t.Helper()
	var objs []map[string]any
	for _, n := range names {
		objs = append(objs, map[string]any{"name": n, "description": "", "type": "Web Service SDIM", "attributes": map[string]any{"url": "https://x"}})
	}
	if err := e.Seed(emulator.State{ServiceDeskIntegrations: objs}); err != nil {
		t.Fatal(err)
	}
}

// TestDirFileNames: names that fold alike, fold to nothing or to a reserved name get a
// hash suffix; the others keep their slug; every file name is unique, and the names do
// not depend on the order the tenant lists the objects in (sorted by name, either way).
func TestDirFileNames(t *testing.T) {
	names := []string{"ServiceNow Production", "servicenow production", "ServiceNow/Production",
		"Jira", "日本語", "中文", "!!!", "con", "Zendesk: EU #1", "Ops/Jira", "ops jira", "日本語の窓口"}
	layouts := make([]map[string]string, 0, 2)
	for _, rev := range []bool{false, true} {
		wrap := func(e *emulator.Emulator) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if rev && r.URL.Query().Get("sorters") == "name" {
					q := r.URL.Query()
					q.Set("sorters", "-name")
					r.URL.RawQuery = q.Encode()
				}
				e.ServeHTTP(w, r)
			})
		}
		e, c := startTenant(t, 0, wrap)
		seedNames(t, e, names)
		dir := filepath.Join(t.TempDir(), "out")
		if _, err := export.Run(t.Context(), c, export.Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
		st, err := desired.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]string{}
		for _, r := range st.ServiceDesk {
			byName[r.Name] = r.Source.File
		}
		layouts = append(layouts, byName)
		if st.Files != len(names)+1 {
			t.Errorf("%d files for %d objects and the status check", st.Files, len(names))
		}
	}
	if len(layouts[0]) != len(names) {
		t.Fatalf("files by name: %v", layouts[0])
	}
	for n, f := range layouts[0] {
		if layouts[1][n] != f {
			t.Errorf("%q is in %s listed one way and in %s the other", n, f, layouts[1][n])
		}
	}
	if f := layouts[0]["Jira"]; f != "service-desk/jira.yaml" {
		t.Errorf("Jira is in %s", f)
	}
	// The names docs/export.md shows.
	for n, want := range map[string]string{"Ops/Jira": "service-desk/ops-jira_4c7c44c7.yaml", "ops jira": "service-desk/ops-jira_67aafb1a.yaml", "日本語の窓口": "service-desk/_d324dfa1.yaml"} {
		if f := layouts[0][n]; f != want {
			t.Errorf("%q is in %s, want %s", n, f, want)
		}
	}
	if f := layouts[0]["Zendesk: EU #1"]; f != "service-desk/zendesk-eu-1.yaml" {
		t.Errorf("Zendesk: EU #1 is in %s", f)
	}
	for _, n := range []string{"ServiceNow Production", "servicenow production", "ServiceNow/Production", "con"} {
		if f := layouts[0][n]; !strings.HasPrefix(f, "service-desk/"+export.Slug(n)+"_") {
			t.Errorf("%q is in %s, want a hashed name", n, f)
		}
	}
	for _, n := range []string{"日本語", "中文", "!!!"} {
		if f := layouts[0][n]; !strings.HasPrefix(f, "service-desk/_") {
			t.Errorf("%q is in %s, want _HASH.yaml", n, f)
		}
	}
}

// TestDirDeterministic: the same tenant exports to byte-identical files, and the export
// loads as a desired state with every object.
func TestDirDeterministic(t *testing.T) {
	_, c := startTenant(t, 600, nil)
	var trees []map[string]string
	for range 2 {
		dir := filepath.Join(t.TempDir(), "desired")
		sum, err := export.Run(t.Context(), c, export.Options{Dir: dir, SIM: true})
		if err != nil {
			t.Fatal(err)
		}
		if sum.ServiceDesk != 600 || !sum.StatusCheck {
			t.Errorf("summary %+v", sum)
		}
		trees = append(trees, tree(t, dir))
		st, err := desired.Load(dir)
		if err != nil {
			t.Fatalf("the export does not load: %v", err)
		}
		if len(st.ServiceDesk) != 600 || st.StatusCheck == nil || st.Files != 601 {
			t.Errorf("loaded %s from %d files", st.Summary(), st.Files)
		}
	}
	if len(trees[0]) != 601 {
		t.Errorf("%d files", len(trees[0]))
	}
	for rel, text := range trees[0] {
		if trees[1][rel] != text {
			t.Errorf("%s differs between two exports of the same tenant", rel)
		}
	}
	if _, ok := trees[0]["service-desk/generated-integration-00001.yaml"]; !ok {
		t.Errorf("no service-desk/generated-integration-00001.yaml")
	}
	if _, ok := trees[0]["status-check.yaml"]; !ok {
		t.Errorf("no status-check.yaml")
	}
}

// TestDirOverwrite: an export into a directory never replaces a file without Force, and
// writes nothing at all then; with Force it replaces them, leaves other files alone and
// names the ones it did not write.
func TestDirOverwrite(t *testing.T) {
	e, c := startTenant(t, 3, nil)
	parent := t.TempDir()
	dir := filepath.Join(parent, "desired")
	if _, err := export.Run(t.Context(), c, export.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	// Another object appears, one file is edited, one is the user's own.
	seedNames(t, e, []string{"New One"})
	edited := filepath.Join(dir, "service-desk", "generated-integration-00001.yaml")
	if err := os.WriteFile(edited, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "service-desk", "gone.yaml")
	if err := os.WriteFile(stale, []byte("# an object deleted since\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := export.Run(t.Context(), c, export.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "would overwrite 4 existing files") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "service-desk", "new-one.yaml")); err == nil {
		t.Errorf("a refused export wrote new-one.yaml")
	}
	if b, _ := os.ReadFile(edited); string(b) != "# mine\n" {
		t.Errorf("a refused export replaced an edited file")
	}
	var warnings []string
	_, err = export.Run(t.Context(), c, export.Options{Dir: dir, Force: true, Warn: func(s string) { warnings = append(warnings, s) }})
	if err != nil {
		t.Fatal(err)
	}
	after := tree(t, dir)
	for rel, text := range before {
		if after[rel] != text {
			t.Errorf("%s: not restored by --force", rel)
		}
	}
	if _, ok := after["service-desk/new-one.yaml"]; !ok {
		t.Errorf("no new-one.yaml after --force")
	}
	if _, ok := after["service-desk/gone.yaml"]; !ok {
		t.Errorf("--force removed a file it did not write")
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "service-desk/gone.yaml") {
		t.Errorf("warnings %q", warnings)
	}
	// No temporary directory is left beside it.
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("left beside the export: %v", entries)
	}
}

// TestOutLimit: a single file the loader would refuse is not written; standard output
// gets everything and a warning.
func TestOutLimit(t *testing.T) {
	_, c := startTenant(t, 20, nil)
	dir := t.TempDir()
	out := filepath.Join(dir, "all.yaml")
	_, err := export.Run(t.Context(), c, export.Options{Out: out, MaxFileSize: 4096})
	if err == nil || !strings.Contains(err.Error(), "use --dir") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	var buf bytes.Buffer
	var warnings []string
	if _, err := export.Run(t.Context(), c, export.Options{W: &buf, MaxFileSize: 4096, Warn: func(s string) { warnings = append(warnings, s) }}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(buf.String(), "kind: ServiceDeskIntegration") != 20 || len(warnings) != 1 || !strings.Contains(warnings[0], "--dir") {
		t.Errorf("warnings %q, output of %d bytes", warnings, buf.Len())
	}
}

// TestListMovedRestarts: an object created while the export pages through the list makes
// it start over, so the result is one consistent listing, with the new object.
func TestListMovedRestarts(t *testing.T) {
	var lists atomic.Int32
	var appeared atomic.Value
	wrap := func(e *emulator.Emulator) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Query().Get("offset") == "250" && lists.Add(1) == 1 {
				seedNames(t, e, []string{appeared.Load().(string)})
			}
			e.ServeHTTP(w, r)
		})
	}
	_, c := startTenant(t, 300, wrap)
	for _, mode := range []string{"dir", "out"} {
		t.Run(mode, func(t *testing.T) {
			lists.Store(0)
			appeared.Store("Appeared Meanwhile in " + mode)
			var o export.Options
			dir := filepath.Join(t.TempDir(), "x")
			if mode == "dir" {
				o.Dir = dir
			} else {
				o.Out = dir + ".yaml"
			}
			var warnings []string
			o.Warn = func(s string) { warnings = append(warnings, s) }
			sum, err := export.Run(t.Context(), c, o)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Restarts != 1 || len(warnings) != 1 || !strings.Contains(warnings[0], "the list changed while it was read") {
				t.Errorf("restarts %d, warnings %q", sum.Restarts, warnings)
			}
			if mode == "dir" {
				if n := len(tree(t, dir)); n != sum.ServiceDesk+1 {
					t.Errorf("%d files for %d integrations", n, sum.ServiceDesk)
				}
			}
		})
	}
}

// TestTemplateSecretsComment: each object names the secret keys its type's template
// declares and the tenant hides, with an ${env:...} line and a ${file:...} alternative;
// the types and each template are read once.
func TestTemplateSecretsComment(t *testing.T) {
	var types, templates atomic.Int32
	wrap := func(e *emulator.Emulator) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasSuffix(r.URL.Path, "/types"):
				types.Add(1)
			case strings.Contains(r.URL.Path, "/templates/"):
				templates.Add(1)
			}
			e.ServeHTTP(w, r)
		})
	}
	e, c := startTenant(t, 0, wrap)
	err := e.Seed(emulator.State{ServiceDeskIntegrations: []map[string]any{
		{"name": "ServiceNow Production", "description": "", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://x", "password": "s3cret"}},
		{"name": "ServiceNow Test", "description": "", "type": "ServiceNowSDIM", "attributes": map[string]any{"url": "https://y"}},
		{"name": "Remedyforce", "description": "", "type": "BMCHelixRemedyforceSDIM", "attributes": map[string]any{"url": "https://z"}},
		{"name": "Generic", "description": "", "type": "Web Service SDIM", "attributes": map[string]any{"url": "https://g"}},
		{"name": "Homegrown", "description": "", "type": "HomegrownSDIM", "attributes": map[string]any{"url": "https://h"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "d")
	if _, err := export.Run(t.Context(), c, export.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	files := tree(t, dir)
	snow := files["service-desk/servicenow-production.yaml"]
	for _, want := range []string{
		"# Secrets the tenant never returns (the ServiceNowSDIM template declares them): password.\n",
		"#   password: ${env:SERVICENOW_PRODUCTION_PASSWORD}\n",
		"# or from a file: password: ${file:/run/secrets/servicenow-production-password}",
	} {
		if !strings.Contains(snow, want) {
			t.Errorf("servicenow-production.yaml lacks %q:\n%s", want, snow)
		}
	}
	if strings.Contains(snow, "s3cret") {
		t.Errorf("a secret value in the export:\n%s", snow)
	}
	rf := files["service-desk/remedyforce.yaml"]
	for _, want := range []string{"declares them): clientSecret, password.", "#   clientSecret: ${env:REMEDYFORCE_CLIENT_SECRET}\n", "#   password: ${env:REMEDYFORCE_PASSWORD}\n"} {
		if !strings.Contains(rf, want) {
			t.Errorf("remedyforce.yaml lacks %q:\n%s", want, rf)
		}
	}
	if g := files["service-desk/generic.yaml"]; strings.HasPrefix(g, "#") {
		t.Errorf("a type whose template has no secret gets a comment:\n%s", g)
	}
	if h := files["service-desk/homegrown.yaml"]; !strings.Contains(h, "no template\n# of this type says which it has") {
		t.Errorf("a type without a template gets no general comment:\n%s", h)
	}
	if types.Load() != 1 || templates.Load() != 3 {
		t.Errorf("%d type lists and %d template reads, want 1 and 3", types.Load(), templates.Load())
	}
}

// TestTargets: only the objects a target matches are exported.
func TestTargets(t *testing.T) {
	_, c := startTenant(t, 12, nil)
	targets, err := sdim.ParseTargets([]string{"sdim/Generated Integration 0001?"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "d")
	sum, err := export.Run(t.Context(), c, export.Options{Dir: dir, Match: targets.Match})
	if err != nil {
		t.Fatal(err)
	}
	files := tree(t, dir)
	if sum.ServiceDesk != 3 || sum.StatusCheck || len(files) != 3 || sum.Skipped != 10 {
		t.Errorf("summary %+v, files %d", sum, len(files))
	}
}

// BenchmarkExportDir exports 10,000 integrations into a directory: time and allocations
// per export (the allocations grow with the tenant; what stays live does not).
func BenchmarkExportDir(b *testing.B) {
	_, c := startTenant(b, 10_000, nil)
	parent := b.TempDir()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(parent, "run"+strconv.Itoa(i))
		if _, err := export.Run(b.Context(), c, export.Options{Dir: dir}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = os.RemoveAll(dir)
		b.StartTimer()
	}
}
