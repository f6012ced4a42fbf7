package desired

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// exampleSecrets are the values the examples' ${env:...} references resolve to in tests:
// distinctive, so that a leak cannot hide.
func exampleSecrets() map[string]string {
	return map[string]string{
		"SNOW_PASSWORD":        "snow-pw-5f1c0e77",
		"JIRA_API_TOKEN":       "jira-token-9a3b22d1",
		"FACILITIES_API_TOKEN": "facilities-token-c4e8f019",
	}
}

const examplesDir = "../../configs/examples"

// TestExamplesLoad holds configs/examples to its promise: it loads, with every kind the
// docs show and each secret from the environment.
func TestExamplesLoad(t *testing.T) {
	st := mustLoad(t, examplesDir, testEnv(exampleSecrets()))
	if got := st.Summary(); got != "3 service desk integrations, 1 status check configuration, 0 SIM integrations in 4 files" {
		t.Errorf("Summary = %q", got)
	}
	types := map[string]bool{}
	for _, r := range st.ServiceDesk {
		types[r.Spec.Type] = true
	}
	for _, want := range []string{"ServiceNowSDIM", "JiraCloudSDIM", "Web Service SDIM"} {
		if !types[want] {
			t.Errorf("no %s integration in the examples", want)
		}
	}
	if _, err := Load(examplesDir, testEnv(nil)); err == nil || !strings.Contains(err.Error(), "SNOW_PASSWORD is not set") {
		t.Errorf("without the environment: %v", err)
	}
}

// TestLoadedStateNeverShowsSecrets renders a loaded state every way a user or a log could
// see it and looks for the secret values.
func TestLoadedStateNeverShowsSecrets(t *testing.T) {
	st := mustLoad(t, examplesDir, testEnv(exampleSecrets()))
	renders := map[string]func() (string, error){
		"%v":  func() (string, error) { return fmt.Sprintf("%v", st), nil },
		"%+v": func() (string, error) { return fmt.Sprintf("%+v", *st), nil },
		"%#v": func() (string, error) { return fmt.Sprintf("%#v", *st), nil },
		"%x":  func() (string, error) { return fmt.Sprintf("%x", st.ServiceDesk[0].Spec.Attributes), nil },
		"attributes %#v": func() (string, error) {
			var b strings.Builder
			for _, r := range st.ServiceDesk {
				fmt.Fprintf(&b, "%#v %v %q\n", r.Spec.Attributes, r.Spec.Attributes, r.Spec.Attributes)
			}
			return b.String(), nil
		},
		"json": func() (string, error) {
			b, err := json.MarshalIndent(st, "", "  ")
			return string(b), err
		},
		"yaml": func() (string, error) {
			b, err := yaml.Marshal(st)
			return string(b), err
		},
		"slog": func() (string, error) {
			var buf bytes.Buffer
			for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
				l := slog.New(h)
				l.Info("loaded", "state", st)
				for _, r := range st.ServiceDesk {
					l.Info("resource", "resource", r, "spec", r.Spec, "attributes", r.Spec.Attributes)
					for k, v := range r.Spec.Attributes {
						l.Info("attribute", k, v)
					}
				}
			}
			return buf.String(), nil
		},
	}
	for name, render := range renders {
		t.Run(name, func(t *testing.T) {
			got, err := render()
			if err != nil {
				t.Fatal(err)
			}
			for env, secret := range exampleSecrets() {
				if strings.Contains(got, secret) || strings.Contains(got, fmt.Sprintf("%x", secret)) {
					t.Errorf("the value of %s leaked:\n%s", env, got)
				}
			}
			if !strings.Contains(got, "sensitive") {
				t.Errorf("no redaction marker in:\n%s", got)
			}
		})
	}
}
