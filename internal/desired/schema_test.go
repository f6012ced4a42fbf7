package desired

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const url = "https://github.com/sdim-sync/sdim-sync/desired-state.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("the schema does not compile against the 2020-12 meta-schema: %v", err)
	}
	return sch
}

// yamlDocuments decodes every document of a YAML file into JSON values, as an editor's
// YAML language server does before it applies a schema.
func yamlDocuments(t *testing.T, data []byte) []any {
	t.Helper()
	var docs []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("yaml: %v", err)
		}
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, inst)
	}
}

func yamlFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && isYAMLName(d.Name()) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestSchemaAcceptsTheExamples(t *testing.T) {
	sch := compileSchema(t)
	files := yamlFilesIn(t, examplesDir)
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range yamlDocuments(t, data) {
			if err := sch.Validate(doc); err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
			}
		}
	}
	mustLoad(t, examplesDir, testEnv(exampleSecrets()))
}

// TestSchemaRejectsTheBadCorpus: every case of testdata/bad marked schema-rejects has a
// document the schema refuses (and TestBadCorpus shows the loader refuses it too).
func TestSchemaRejectsTheBadCorpus(t *testing.T) {
	sch := compileSchema(t)
	marked := 0
	for _, dir := range corpusCases(t) {
		if _, err := os.Stat(filepath.Join(dir, "schema-rejects")); err != nil {
			continue
		}
		marked++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			rejected := false
			for _, f := range yamlFilesIn(t, dir) {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, doc := range yamlDocuments(t, data) {
					if sch.Validate(doc) != nil {
						rejected = true
					}
				}
			}
			if !rejected {
				t.Errorf("the schema accepts every document of %s", dir)
			}
			if _, err := Load(dir, corpusEnv()); err == nil {
				t.Errorf("the loader accepts %s", dir)
			}
		})
	}
	if marked < 20 {
		t.Errorf("only %d cases are marked schema-rejects", marked)
	}
}

// TestSchemaAndLoaderAgree runs small documents through both.
func TestSchemaAndLoaderAgree(t *testing.T) {
	sch := compileSchema(t)
	const sd = "kind: ServiceDeskIntegration\nname: A\n"
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		{"minimal", sd + "spec: {type: T, attributes: {}}", true},
		{"empty reference", sd + "spec: {type: T, attributes: {}, ownerRef: '', clusterRef: null}", true},
		{"reference without type", sd + "spec: {type: T, attributes: {}, ownerRef: {id: x}}", true},
		{"string status values", "kind: StatusCheckConfiguration\nspec: {provisioningStatusCheckIntervalMinutes: '30', provisioningMaxStatusCheckDays: '2'}", true},
		{"null options", sd + "spec: {type: T, attributes: {}}\noptions:", true},
		{"escaped pointer", sd + "spec: {type: T, attributes: {}}\noptions: {ignore: [/attributes/a~1b~0c]}", true},
		{"sim minimal", "kind: SIMIntegration\nname: S\nspec: {type: T}", true},
		{"empty type", sd + "spec: {type: '', attributes: {}}", false},
		{"empty name", "kind: ServiceDeskIntegration\nname: ''\nspec: {type: T, attributes: {}}", false},
		{"sim without name", "kind: SIMIntegration\nspec: {type: T}", false},
		{"status zero string", "kind: StatusCheckConfiguration\nspec: {provisioningStatusCheckIntervalMinutes: '00', provisioningMaxStatusCheckDays: 2}", false},
		{"status boolean", "kind: StatusCheckConfiguration\nspec: {provisioningStatusCheckIntervalMinutes: true, provisioningMaxStatusCheckDays: 2}", false},
		{"managed ref without id", sd + "spec: {type: T, attributes: {}, provisioningConfig: {managedResourceRefs: [{type: SOURCE}]}}", false},
		{"managed refs not a list", sd + "spec: {type: T, attributes: {}, provisioningConfig: {managedResourceRefs: {type: SOURCE, id: x}}}", false},
		{"reference unknown key", sd + "spec: {type: T, attributes: {}, ownerRef: {id: x, kind: IDENTITY}}", false},
		{"ignore root", sd + "spec: {type: T, attributes: {}}\noptions: {ignore: [/]}", false},
		{"ignore bad escape", sd + "spec: {type: T, attributes: {}}\noptions: {ignore: [/a~]}", false},
		{"repeated previous name", sd + "spec: {type: T, attributes: {}}\noptions: {previousNames: [B, B]}", false},
		{"options unknown key", sd + "spec: {type: T, attributes: {}}\noptions: {prune: true}", false},
		{"expiration as text", sd + "spec: {type: T, attributes: {}, provisioningConfig: {provisioningRequestExpiration: '7'}}", false},
		{"script without source", sd + "spec: {type: T, attributes: {}, provisioningConfig: {planInitializerScript: {}}}", false},
		{"sim sources not strings", "kind: SIMIntegration\nname: S\nspec: {type: T, sources: [1]}", false},
		{"absent", sd + "state: absent", true},
		{"absent sim", "kind: SIMIntegration\nname: S\nstate: absent", true},
		{"present", sd + "state: present\nspec: {type: T, attributes: {}}", true},
		{"present without spec", sd + "state: present", false},
		{"no spec", sd, false},
		{"absent with spec", sd + "state: absent\nspec: {type: T, attributes: {}}", false},
		{"absent with options", sd + "state: absent\noptions: {mode: observe}", false},
		{"absent without name", "kind: SIMIntegration\nstate: absent", false},
		{"absent status check", "kind: StatusCheckConfiguration\nstate: absent", false},
		{"unknown state", sd + "state: gone", false},
		{"allow secret clear", sd + "spec: {type: T, attributes: {}}\noptions: {allowSecretClear: true}", true},
		{"allow secret clear keys", sd + "spec: {type: T, attributes: {}}\noptions: {allowSecretClear: [password]}", true},
		{"allow secret clear text", sd + "spec: {type: T, attributes: {}}\noptions: {allowSecretClear: password}", false},
		{"status check allow secret clear", "kind: StatusCheckConfiguration\nspec: {provisioningStatusCheckIntervalMinutes: 1, provisioningMaxStatusCheckDays: 1}\noptions: {allowSecretClear: true}", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs := yamlDocuments(t, []byte(tc.doc))
			schemaOK := sch.Validate(docs[0]) == nil
			_, err := Load(writeTree(t, map[string]string{"a.yaml": tc.doc}))
			if schemaOK != tc.ok || (err == nil) != tc.ok {
				t.Errorf("schema accepts: %v, loader error: %v; want both to accept: %v", schemaOK, err, tc.ok)
			}
		})
	}
}

// TestSchemaKnowsTheLoadersKeys holds the properties the schema lists to the keys the
// loader accepts, part by part.
func TestSchemaKnowsTheLoadersKeys(t *testing.T) {
	var doc struct {
		Properties map[string]any `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	sorted := func(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }
	parts := map[string]struct{ schema, loader []string }{
		"document":           {keys(doc.Properties), append(documentKeys(), envelopeKeys()...)},
		"serviceDeskSpec":    {keys(doc.Defs["serviceDeskSpec"].Properties), serviceDeskKeys()},
		"provisioningConfig": {keys(doc.Defs["serviceDeskSpec"].Properties["provisioningConfig"].(map[string]any)["properties"].(map[string]any)), provisioningConfigKeys()},
		"simSpec":            {keys(doc.Defs["simSpec"].Properties), simKeys()},
		"statusCheckSpec":    {keys(doc.Defs["statusCheckSpec"].Properties), statusCheckKeys()},
		"reference":          {keys(doc.Defs["reference"].Properties), referenceKeys()},
		"options":            {keys(doc.Defs["options"].Properties), append(optionKeys(), envelopeOptionKeys()...)},
	}
	for name, p := range parts {
		if !slices.Equal(p.schema, sorted(p.loader)) {
			t.Errorf("%s: the schema lists %v, the loader %v", name, p.schema, sorted(p.loader))
		}
	}
	if !strings.Contains(string(Schema()), `"$schema": "https://json-schema.org/draft/2020-12/schema"`) {
		t.Error("the schema does not declare draft 2020-12")
	}
}
