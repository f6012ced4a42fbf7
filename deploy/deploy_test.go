package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	monv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	yamlv3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/sdim-sync/sdim-sync/internal/desired"
)

// The tests run in deploy/; every path below is relative to it.
const (
	kubeDir       = "kubernetes"
	baseDir       = "kubernetes/base"
	gitSyncDir    = "kubernetes/overlays/git-sync"
	rulesFile     = "prometheus/rules.yaml"
	dashboardFile = "grafana/dashboard.json"
	operationsDoc = "../docs/operations.md"
	runbookBase   = "https://github.com/sdim-sync/sdim-sync/blob/main/docs/operations.md"
)

// kustomization is the part of kustomize's Kustomization these manifests use; decoded
// strictly like the rest, so a misspelt field fails.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Patches    []struct {
		Path string `json:"path,omitempty"`
	} `json:"patches,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// newObject returns the typed object a manifest of this apiVersion and kind decodes into.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monv1.ServiceMonitor{}, nil
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monv1.PrometheusRule{}, nil
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		return &kustomization{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a kind these tests know", apiVersion, kind)
}

// decodeStrict decodes one YAML document into v: duplicate keys, unknown fields and wrong
// types are errors. With patch, kustomize's "$patch" directive is allowed at the top.
func decodeStrict(data []byte, v any, patch bool) error {
	docs := 0
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs++
		}
	}
	if docs != 1 {
		return fmt.Errorf("%d YAML documents, want one per file", docs)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	if patch {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(js, &m); err != nil {
			return err
		}
		delete(m, "$patch")
		if js, err = json.Marshal(m); err != nil {
			return err
		}
	}
	// sigs.k8s.io/json, as the API server decodes: field names match case-sensitively
	// (encoding/json would take targetport for targetPort), unknown ones are errors.
	strict, err := kjson.UnmarshalStrict(js, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func stripComments(s string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// decodeManifest reads a manifest file into its typed object.
func decodeManifest(path string, patch bool) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, err
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, err
	}
	if err := decodeStrict(data, obj, patch); err != nil {
		return nil, err
	}
	return obj, nil
}

// manifests decodes every YAML file under deploy/kubernetes, by path.
func manifests(t *testing.T) map[string]any {
	t.Helper()
	patches := map[string]bool{}
	var paths []string
	err := filepath.WalkDir(kubeDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Patch files are named by the kustomizations, which decode without patch directives.
	for _, p := range paths {
		if filepath.Base(p) != "kustomization.yaml" {
			continue
		}
		obj, err := decodeManifest(p, false)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, pt := range obj.(*kustomization).Patches {
			patches[filepath.Join(filepath.Dir(p), pt.Path)] = true
		}
	}
	out := map[string]any{}
	for _, p := range paths {
		obj, err := decodeManifest(p, patches[p])
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		out[p] = obj
	}
	if len(out) == 0 {
		t.Fatal("no manifests under deploy/kubernetes")
	}
	return out
}

// one returns the only object of type T among the manifests of dir (not below it).
func one[T any](t *testing.T, all map[string]any, dir string) T {
	t.Helper()
	var found []T
	for p, obj := range all {
		if o, ok := obj.(T); ok && filepath.Dir(p) == dir {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%s: %d manifests of type %T, want 1", dir, len(found), zero)
	}
	return found[0]
}

// configMap returns the ConfigMap of dir with this name.
func configMap(t *testing.T, all map[string]any, dir, name string) *corev1.ConfigMap {
	t.Helper()
	for p, obj := range all {
		if cm, ok := obj.(*corev1.ConfigMap); ok && filepath.Dir(p) == dir && cm.Name == name {
			return cm
		}
	}
	t.Fatalf("%s: no ConfigMap %s", dir, name)
	return nil
}

func TestManifestsDecodeStrictly(t *testing.T) {
	all := manifests(t)
	for _, p := range sortedKeys(all) {
		t.Logf("%s: %T", p, all[p])
	}
}

// The strict decoding is what catches typos: prove it does on the kinds we ship.
func TestStrictDecodingRejectsTypos(t *testing.T) {
	tests := []struct {
		name, doc string
		patch     bool
		wantErr   string
	}{
		{"unknown field of a Deployment", "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 1\n", false, "unknown field"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: one\n", false, "cannot unmarshal"},
		{"misspelt probe field", "apiVersion: v1\nkind: Service\nspec:\n  ports: [{name: m, port: 1, targetport: m}]\n", false, "unknown field"},
		{"unknown field of a PrometheusRule", "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  groups: [{name: g, rules: [{alert: A, expr: up, fore: 5m}]}]\n", false, "unknown field"},
		{"unknown field of a ServiceMonitor", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nspec:\n  endpoint: []\n", false, "unknown field"},
		{"unknown field of a Kustomization", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresource: [a.yaml]\n", false, "unknown field"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\ndata: {}\ndata: {}\n", false, "already set"},
		{"two documents", "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: ConfigMap\n", false, "documents"},
		{"$patch outside a patch", "$patch: delete\napiVersion: v1\nkind: ConfigMap\n", false, "unknown field"},
		{"$patch in a patch", "$patch: delete\napiVersion: v1\nkind: ConfigMap\n", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(tt.doc), &tm); err != nil && tt.wantErr != "already set" && tt.wantErr != "documents" {
				t.Fatal(err)
			}
			if tm.Kind == "" {
				tm.APIVersion, tm.Kind = "v1", "ConfigMap"
			}
			obj, err := newObject(tm.APIVersion, tm.Kind)
			if err != nil {
				t.Fatal(err)
			}
			err = decodeStrict([]byte(tt.doc), obj, tt.patch)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestKustomizationsListEveryManifest(t *testing.T) {
	all := manifests(t)
	for p, obj := range all {
		k, ok := obj.(*kustomization)
		if !ok {
			continue
		}
		t.Run(p, func(t *testing.T) {
			dir := filepath.Dir(p)
			listed := map[string]bool{}
			for _, r := range k.Resources {
				target := filepath.Join(dir, r)
				info, err := os.Stat(target)
				switch {
				case err != nil:
					t.Errorf("resource %s: %v", r, err)
				case info.IsDir():
					if _, err := os.Stat(filepath.Join(target, "kustomization.yaml")); err != nil {
						t.Errorf("resource %s: a directory without a kustomization.yaml", r)
					}
				default:
					listed[target] = true
				}
			}
			for _, pt := range k.Patches {
				target := filepath.Join(dir, pt.Path)
				if _, err := os.Stat(target); err != nil {
					t.Errorf("patch %s: %v", pt.Path, err)
				}
				listed[target] = true
			}
			for other := range all {
				if filepath.Dir(other) == dir && other != p && !listed[other] {
					t.Errorf("%s is in %s but neither a resource nor a patch of its kustomization", other, dir)
				}
			}
		})
	}
}

// With kustomize (or kubectl) installed, the base and the overlay build, and the overlay
// is what it says: git-sync beside the daemon, no desired-state ConfigMap.
func TestKustomizeBuild(t *testing.T) {
	var build []string
	if p, err := exec.LookPath("kustomize"); err == nil {
		build = []string{p, "build"}
	} else if p, err := exec.LookPath("kubectl"); err == nil {
		build = []string{p, "kustomize"}
	} else {
		t.Skip("neither kustomize nor kubectl is installed: the builds are not checked")
	}
	for _, dir := range []string{baseDir, gitSyncDir} {
		t.Run(dir, func(t *testing.T) {
			out, err := exec.Command(build[0], append(build[1:], dir)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", strings.Join(build, " "), dir, err, out)
			}
			kinds := map[string]int{}
			var deployment appsv1.Deployment
			var configMaps []string
			for doc := range strings.SplitSeq(string(out), "\n---\n") {
				var tm struct {
					Kind     string `json:"kind"`
					Metadata struct {
						Name      string `json:"name"`
						Namespace string `json:"namespace"`
					} `json:"metadata"`
				}
				if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
					t.Fatal(err)
				}
				kinds[tm.Kind]++
				if tm.Kind != "Namespace" && tm.Metadata.Namespace != "sdim-sync" {
					t.Errorf("%s %s: namespace %q, want sdim-sync", tm.Kind, tm.Metadata.Name, tm.Metadata.Namespace)
				}
				switch tm.Kind {
				case "Deployment":
					if err := decodeStrict([]byte(doc), &deployment, false); err != nil {
						t.Fatal(err)
					}
				case "ConfigMap":
					configMaps = append(configMaps, tm.Metadata.Name)
				}
			}
			if kinds["Deployment"] != 1 || kinds["PrometheusRule"] != 1 || kinds["ServiceMonitor"] != 1 || kinds["Service"] != 1 || kinds["Secret"] != 1 {
				t.Errorf("kinds built: %v", kinds)
			}
			var containers []string
			for _, c := range deployment.Spec.Template.Spec.Containers {
				containers = append(containers, c.Name)
			}
			if dir == gitSyncDir {
				if !slices.Contains(containers, "git-sync") || slices.Contains(configMaps, "sdim-sync-desired-state") {
					t.Errorf("overlay: containers %v, ConfigMaps %v: want git-sync and no sdim-sync-desired-state", containers, configMaps)
				}
				for _, v := range deployment.Spec.Template.Spec.Volumes {
					if v.Name == "desired" && (v.EmptyDir == nil || v.ConfigMap != nil) {
						t.Errorf("overlay: volume desired is %+v, want only an emptyDir", v.VolumeSource)
					}
				}
			} else if !slices.Equal(containers, []string{"sdim-sync"}) {
				t.Errorf("base: containers %v", containers)
			}
		})
	}
}

func TestDeploymentSecurity(t *testing.T) {
	d := one[*appsv1.Deployment](t, manifests(t), baseDir)
	pod := d.Spec.Template.Spec
	var c corev1.Container
	for _, cc := range pod.Containers {
		if cc.Name == "sdim-sync" {
			c = cc
		}
	}
	if c.Name == "" {
		t.Fatal("no container sdim-sync")
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	probe := func(p *corev1.Probe, path string) error {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "metrics" {
			return fmt.Errorf("want an HTTP GET of %s on port metrics, got %+v", path, p)
		}
		return nil
	}
	tests := []struct {
		name  string
		check func() error
	}{
		{"one replica", func() error {
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				return errors.New("replicas is not 1")
			}
			return nil
		}},
		{"strategy Recreate", func() error {
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				return fmt.Errorf("strategy %q", d.Spec.Strategy.Type)
			}
			return nil
		}},
		{"no service account token", func() error {
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				return errors.New("automountServiceAccountToken is not false")
			}
			return nil
		}},
		{"runAsNonRoot", func() error {
			if !isTrue(pod.SecurityContext.RunAsNonRoot) || !isTrue(c.SecurityContext.RunAsNonRoot) {
				return errors.New("runAsNonRoot is not true for the pod and the container")
			}
			return nil
		}},
		{"readOnlyRootFilesystem", func() error {
			if !isTrue(c.SecurityContext.ReadOnlyRootFilesystem) {
				return errors.New("not set")
			}
			return nil
		}},
		{"no privilege escalation", func() error {
			if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
				return errors.New("allowPrivilegeEscalation is not false")
			}
			return nil
		}},
		{"capabilities drop ALL", func() error {
			if c.SecurityContext.Capabilities == nil || !slices.Equal(c.SecurityContext.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(c.SecurityContext.Capabilities.Add) > 0 {
				return fmt.Errorf("capabilities %+v", c.SecurityContext.Capabilities)
			}
			return nil
		}},
		{"resources requested and limited", func() error {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if c.Resources.Requests.Name(r, "").IsZero() || c.Resources.Limits.Name(r, "").IsZero() {
					return fmt.Errorf("%s: request or limit missing", r)
				}
			}
			return nil
		}},
		{"liveness on /healthz", func() error { return probe(c.LivenessProbe, "/healthz") }},
		{"readiness on /readyz", func() error { return probe(c.ReadinessProbe, "/readyz") }},
		{"port 9477 named metrics", func() error {
			if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != 9477 {
				return fmt.Errorf("ports %+v", c.Ports)
			}
			return nil
		}},
		{"args", func() error {
			if want := []string{"serve", "--config", "/etc/sdim-sync/config.yaml"}; !slices.Equal(c.Args, want) {
				return fmt.Errorf("args %q, want %q", c.Args, want)
			}
			return nil
		}},
		{"the ledger on a PersistentVolumeClaim at /var/lib/sdim-sync", func() error {
			var mounted bool
			for _, m := range c.VolumeMounts {
				mounted = mounted || m.Name == "state" && m.MountPath == "/var/lib/sdim-sync" && !m.ReadOnly
			}
			for _, v := range pod.Volumes {
				if v.Name == "state" && mounted && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "sdim-sync-state" {
					return nil
				}
			}
			return errors.New("no volume state from the claim sdim-sync-state mounted writable at /var/lib/sdim-sync (an emptyDir would lose ownership at every restart)")
		}},
		{"grace period above serve.shutdownGrace", func() error {
			if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 30 {
				return errors.New("terminationGracePeriodSeconds is not above 30")
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// The keys the daemon's config file accepts (it is strict too).
func configKeys() map[string][]string {
	return map[string][]string{
		"tenant": {"baseURL", "clientID", "clientSecretFile", "tokenURL", "apiVersion", "requestTimeout", "maxRetries", "maxRetryAfter", "rateLimit", "rateWindow"},
		"serve":  {"dir", "schedule", "watch", "debounce", "mode", "listen", "logFormat", "shutdownGrace", "prune", "managedScope", "maxDeletes", "driftedObjectSeries", "stateDir", "pruneUnownedByName"},
	}
}

func TestConfigFiles(t *testing.T) {
	all := manifests(t)
	d := one[*appsv1.Deployment](t, all, baseDir)
	mounts := map[string]string{}
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	tests := []struct {
		dir     string
		wantDir func(string) bool
	}{
		{baseDir, func(dir string) bool { return dir == mounts["desired"] }},
		{gitSyncDir, func(dir string) bool { return strings.HasPrefix(dir, mounts["desired"]+"/current/") }},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			cm := configMap(t, all, tt.dir, "sdim-sync-config")
			text, ok := cm.Data["config.yaml"]
			if !ok {
				t.Fatal("no config.yaml")
			}
			var cfg map[string]map[string]any
			dec := yamlv3.NewDecoder(strings.NewReader(text))
			if err := dec.Decode(&cfg); err != nil {
				t.Fatal(err)
			}
			keys := configKeys()
			for section, values := range cfg {
				allowed, ok := keys[section]
				if !ok {
					t.Errorf("unknown section %q", section)
				}
				for k := range values {
					if !slices.Contains(allowed, k) {
						t.Errorf("unknown key %s.%s", section, k)
					}
				}
			}
			if dir, _ := cfg["serve"]["dir"].(string); !tt.wantDir(dir) {
				t.Errorf("serve.dir %q is not where the desired state is mounted (%s)", dir, mounts["desired"])
			}
			if listen, _ := cfg["serve"]["listen"].(string); listen != "0.0.0.0:9477" {
				t.Errorf("serve.listen %q, want 0.0.0.0:9477 (the container port)", listen)
			}
			if sd, _ := cfg["serve"]["stateDir"].(string); sd == "" || sd != mounts["state"] {
				t.Errorf("serve.stateDir %q is not where the state volume is mounted (%s)", sd, mounts["state"])
			}
			if f, _ := cfg["serve"]["logFormat"].(string); f != "json" {
				t.Errorf("serve.logFormat %q, want json", f)
			}
			if _, ok := cfg["tenant"]["clientSecret"]; ok {
				t.Error("the client secret is never a config value")
			}
		})
	}
	if mp := mounts["config"]; mp != "/etc/sdim-sync" {
		t.Errorf("the config ConfigMap is mounted at %q, want /etc/sdim-sync (the --config of the args)", mp)
	}
}

// The example desired state loads with the values of the Secret template, and every
// ${env:NAME} it references is a key of that Secret.
func TestDesiredStateConfigMapLoads(t *testing.T) {
	all := manifests(t)
	secret := one[*corev1.Secret](t, all, baseDir)
	cm := configMap(t, all, baseDir, "sdim-sync-desired-state")
	dir := t.TempDir()
	for name, text := range cm.Data {
		for _, m := range regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(text, -1) {
			if _, ok := secret.StringData[m[1]]; !ok {
				t.Errorf("%s references ${env:%s}, which the Secret sdim-sync does not hold", name, m[1])
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range secret.StringData {
		t.Setenv(k, v)
	}
	st, err := desired.Load(dir)
	if err != nil {
		t.Fatalf("the example desired state does not load: %v", err)
	}
	if len(st.ServiceDesk) == 0 || st.StatusCheck == nil {
		t.Errorf("loaded %d service desk integrations and status check %v; want some and one", len(st.ServiceDesk), st.StatusCheck)
	}
	for _, k := range []string{"SAIL_BASE_URL", "SAIL_CLIENT_ID", "SAIL_CLIENT_SECRET"} {
		if secret.StringData[k] == "" {
			t.Errorf("the Secret has no %s", k)
		}
	}
}

// rules decodes deploy/prometheus/rules.yaml strictly, as the operator's type.
func rules(t *testing.T) monv1.PrometheusRuleSpec {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var spec monv1.PrometheusRuleSpec
	if err := decodeStrict(data, &spec, false); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return spec
}

func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	pr := one[*monv1.PrometheusRule](t, manifests(t), baseDir)
	want := rules(t)
	if reflect.DeepEqual(pr.Spec, want) {
		return
	}
	got, _ := json.MarshalIndent(pr.Spec, "", "  ")
	exp, _ := json.MarshalIndent(want, "", "  ")
	t.Errorf("the PrometheusRule's groups differ from %s: run deploy/generate.sh\ngot:  %s\nwant: %s", rulesFile, got, exp)
}

func TestGeneratedPrometheusRuleIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	out, err := exec.Command("bash", "generate.sh", "--check").CombinedOutput()
	if err != nil {
		t.Errorf("deploy/generate.sh --check: %v\n%s", err, out)
	}
}

// githubAnchor is the anchor GitHub makes of a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestAlertRules(t *testing.T) {
	doc, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "#"); ok {
			anchors[githubAnchor(strings.TrimLeft(h, "#"))] = true
		}
	}
	spec := rules(t)
	seen := map[string]bool{}
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				if r.Alert == "" {
					t.Fatalf("a rule without an alert name (record: %q)", r.Record)
				}
				seen[r.Alert] = true
				if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
					t.Errorf("labels.severity %q, want critical, warning or info", s)
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("no annotation %s", a)
					}
				}
				url := r.Annotations["runbook_url"]
				if want := runbookBase + "#" + strings.ToLower(r.Alert); url != want {
					t.Errorf("runbook_url %q, want %q", url, want)
				}
				if _, anchor, _ := strings.Cut(url, "#"); !anchors[anchor] {
					t.Errorf("runbook_url anchor #%s: no such heading in %s", anchor, operationsDoc)
				}
			})
		}
	}
	for _, name := range []string{
		"SdimSyncDriftOutOfBand", "SdimSyncDriftPending", "SdimSyncDriftUnknown", "SdimSyncRunsFailing", "SdimSyncRunsStale", "SdimSyncDesiredStateInvalid",
		"SdimSyncDeletesBlocked", "SdimSyncChangesNotConverging", "SdimSyncAPIThrottled", "SdimSyncAPIErrors", "SdimSyncDown",
	} {
		if !seen[name] {
			t.Errorf("no alert %s", name)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	var dash struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string     `json:"title"`
			Type       string     `json:"type"`
			Datasource datasource `json:"datasource"`
			Targets    []struct {
				Expr       string     `json:"expr"`
				Datasource datasource `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Error("no title or uid")
	}
	hasDatasourceVar := false
	for _, v := range dash.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDatasourceVar = true
		}
	}
	if !hasDatasourceVar {
		t.Error("no template variable datasource of type datasource (prometheus)")
	}
	titles := map[string]bool{}
	for _, p := range dash.Panels {
		titles[p.Title] = true
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d targets; want ${datasource} and a query", p.Title, p.Datasource, len(p.Targets))
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a target without a query or the ${datasource}", p.Title)
			}
		}
	}
	for _, want := range []string{"Objects by state", "Pending changes", "Runs by result", "API answers by code",
		"Rate-limit waits", "Since the last successful run", "Desired state valid"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, with continuation lines joined.
	var instr []string
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for line := range strings.SplitSeq(text, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			instr = append(instr, strings.Join(strings.Fields(line), " "))
		}
	}
	var from []string
	var final []string // the instructions of the last stage
	for _, in := range instr {
		if strings.HasPrefix(in, "FROM ") {
			from = append(from, in)
			final = nil
		}
		final = append(final, in)
	}
	if len(from) != 2 || !strings.HasPrefix(from[0], "FROM golang:1.26 ") || from[1] != "FROM gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages %q: want golang:1.26, then distroless static nonroot", from)
	}
	all := strings.Join(instr, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "./cmd/sdim-sync"} {
		if !strings.Contains(all, want) {
			t.Errorf("the build does not use %s", want)
		}
	}
	d := one[*appsv1.Deployment](t, manifests(t), baseDir)
	cmd, _ := json.Marshal(d.Spec.Template.Spec.Containers[0].Args)
	for _, want := range []string{"USER nonroot", "EXPOSE 9477", `ENTRYPOINT ["/sdim-sync"]`, "CMD " + strings.ReplaceAll(string(cmd), ",", ", ")} {
		if !slices.Contains(final, want) {
			t.Errorf("the final stage has no %s (it has %q)", want, final)
		}
	}
	for _, in := range instr {
		if f := strings.Fields(in); f[0] == "COPY" && !strings.HasPrefix(f[1], "--from") {
			for _, src := range f[1 : len(f)-1] {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s: %v (the build context is the repository root)", in, err)
				}
			}
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	const unit = "systemd/sdim-sync.service"
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	for _, want := range []string{
		"DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
		"NoNewPrivileges=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service", "CapabilityBoundingSet=",
		"StateDirectory=sdim-sync", "ConfigurationDirectory=sdim-sync", "Restart=on-failure",
		"LoadCredential=sail-client-secret:/etc/sdim-sync/client-secret", "ExecReload=/bin/kill -HUP $MAINPID",
	} {
		k, v, _ := strings.Cut(want, "=")
		if !slices.Contains(settings[k], v) {
			t.Errorf("no %s (%s=%q)", want, k, settings[k])
		}
	}
	if exec := strings.Join(settings["ExecStart"], " "); !strings.Contains(exec, "--client-secret-file ${CREDENTIALS_DIRECTORY}/sail-client-secret") ||
		!strings.Contains(exec, "serve --config /etc/sdim-sync/config.yaml") || !strings.Contains(exec, "--state-dir ${STATE_DIRECTORY}") {
		t.Errorf("ExecStart %q: want serve --config /etc/sdim-sync/config.yaml --client-secret-file ${CREDENTIALS_DIRECTORY}/sail-client-secret", exec)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the unit is not verified")
	}
	// verify wants the ExecStart binary to exist: point it at this test's executable.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "sdim-sync.service")
	if err := os.WriteFile(copyPath, bytes.ReplaceAll(data, []byte("/usr/local/bin/sdim-sync"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestCIExamples(t *testing.T) {
	tests := []struct {
		file  string
		check func(doc map[string]any) error
		texts []string
	}{
		{"../examples/ci/github-actions.yml", func(doc map[string]any) error {
			on, _ := doc["on"].(map[string]any)
			if _, ok := on["pull_request"]; !ok {
				return errors.New("not run on pull_request")
			}
			if _, ok := on["schedule"]; !ok {
				return errors.New("not run on a schedule")
			}
			jobs, _ := doc["jobs"].(map[string]any)
			if len(jobs) == 0 {
				return errors.New("no jobs")
			}
			for name, j := range jobs {
				job, _ := j.(map[string]any)
				if steps, _ := job["steps"].([]any); job["runs-on"] == nil || len(steps) == 0 {
					return fmt.Errorf("job %s: no runs-on or no steps", name)
				}
			}
			return nil
		}, []string{"-o markdown", "--detailed-exitcode", "gh pr comment", "--body-file", "go install", "github.com/sdim-sync/sdim-sync/cmd/sdim-sync@"}},
		{"../examples/ci/gitlab-ci.yml", func(doc map[string]any) error {
			jobs := 0
			for name, j := range doc {
				job, ok := j.(map[string]any)
				if !ok || strings.HasPrefix(name, ".") || name == "variables" {
					continue
				}
				jobs++
				if script, _ := job["script"].([]any); len(script) == 0 || job["rules"] == nil {
					return fmt.Errorf("job %s: no script or no rules", name)
				}
			}
			if jobs < 2 {
				return fmt.Errorf("%d jobs, want the plan and the drift job", jobs)
			}
			return nil
		}, []string{"-o markdown", "--detailed-exitcode", "merge_request_event", `$CI_PIPELINE_SOURCE == "schedule"`, "/merge_requests/$CI_MERGE_REQUEST_IID/notes", "go install", "github.com/sdim-sync/sdim-sync/cmd/sdim-sync@"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yamlv3.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			if err := tt.check(doc); err != nil {
				t.Error(err)
			}
			for _, want := range tt.texts {
				if !strings.Contains(string(data), want) {
					t.Errorf("no %q", want)
				}
			}
		})
	}
}

// sortedKeys is for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
