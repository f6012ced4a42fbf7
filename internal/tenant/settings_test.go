package tenant_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

func TestConfigSettings(t *testing.T) {
	const secret = "s3cr3t-client-value"
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	files := map[string]string{"/run/secrets/sail": secret + "\n", "/empty": "\n"}
	readFile := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	full := tenant.ConfigFromEnv(env(map[string]string{
		"SAIL_BASE_URL": "https://acme.api.identitynow.com/", "SAIL_CLIENT_ID": "id-1", "SAIL_CLIENT_SECRET": secret,
	}))
	tests := []struct {
		name    string
		layers  []tenant.Config // file, env, flags: later layers win
		want    func(*testing.T, tenant.Settings)
		wantErr []string
	}{
		{
			name:   "environment only, defaults filled in",
			layers: []tenant.Config{full},
			want: func(t *testing.T, s tenant.Settings) {
				if s.BaseURL != "https://acme.api.identitynow.com" || s.TokenURL != "https://acme.api.identitynow.com/oauth/token" {
					t.Errorf("URLs: %q %q", s.BaseURL, s.TokenURL)
				}
				if s.APIVersion != sdim.V3 || s.RequestTimeout != 30*time.Second || s.RateLimit != 95 || s.RateWindow != 10*time.Second {
					t.Errorf("defaults: %+v", s)
				}
				if !s.ClientSecret.Equal(sdim.NewSecret(secret, "")) || s.ClientSecret.Source() != "env:SAIL_CLIENT_SECRET" {
					t.Errorf("client secret from %q", s.ClientSecret.Source())
				}
			},
		},
		{
			name: "flags beat the environment, which beats the file",
			layers: []tenant.Config{
				{BaseURL: "https://file.example", ClientID: "file-id", APIVersion: "v2024", RateLimit: "50", TokenURL: "https://sso.example/oauth/token"},
				full,
				{ClientID: "flag-id", APIVersion: "V1", ClientSecretFile: "/run/secrets/sail", RequestTimeout: "5s", MaxRetryAfter: "1m"},
			},
			want: func(t *testing.T, s tenant.Settings) {
				if s.BaseURL != "https://acme.api.identitynow.com" || s.ClientID != "flag-id" || s.APIVersion != sdim.V1 {
					t.Errorf("got %s %s %s", s.BaseURL, s.ClientID, s.APIVersion)
				}
				if s.TokenURL != "https://sso.example/oauth/token" || s.RateLimit != 50 || s.RequestTimeout != 5*time.Second || s.MaxRetryAfter != time.Minute {
					t.Errorf("got %s %d %s %s", s.TokenURL, s.RateLimit, s.RequestTimeout, s.MaxRetryAfter)
				}
				if !s.ClientSecret.Equal(sdim.NewSecret(secret, "")) || s.ClientSecret.Source() != "file:/run/secrets/sail" {
					t.Errorf("the secret file's value (one newline dropped) should win, got one from %q", s.ClientSecret.Source())
				}
			},
		},
		{
			name:    "nothing set: every missing setting named at once",
			layers:  []tenant.Config{{}},
			wantErr: []string{"SAIL_BASE_URL", "SAIL_CLIENT_ID", "SAIL_CLIENT_SECRET"},
		},
		{
			name: "malformed values",
			layers: []tenant.Config{full, {BaseURL: "acme.api.identitynow.com", APIVersion: "beta", RequestTimeout: "soon",
				MaxRetries: "-1", RateLimit: "0", RateWindow: "-3s", TokenURL: "ftp://x"}},
			wantErr: []string{"want an http or https URL", `unknown API version "beta"`, `request timeout "soon"`,
				`max retries "-1"`, `rate limit "0"`, `rate window "-3s"`, "token URL"},
		},
		{
			name:    "credentials in the URL are refused without echoing them",
			layers:  []tenant.Config{full, {BaseURL: "https://user:" + secret + "@acme.api.identitynow.com"}},
			wantErr: []string{"must not carry credentials"},
		},
		{
			name:    "secret file missing",
			layers:  []tenant.Config{full, {ClientSecretFile: "/nope"}},
			wantErr: []string{"client secret file", "/nope"},
		},
		{
			name:    "secret file empty",
			layers:  []tenant.Config{full, {ClientSecretFile: "/empty"}},
			wantErr: []string{"client secret file /empty is empty"},
		},
		{
			name:    "query in the base URL",
			layers:  []tenant.Config{full, {BaseURL: "https://acme.api.identitynow.com?x=1"}},
			wantErr: []string{"a query or fragment is not allowed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c tenant.Config
			for _, l := range tt.layers {
				c = c.Overlay(l)
			}
			s, err := c.Settings(readFile)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; settings %+v", s)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Settings: %v", err)
			}
			tt.want(t, s)
		})
	}
}

func TestNewRefusesIncompleteSettings(t *testing.T) {
	_, err := tenant.New(tenant.Settings{BaseURL: "https://x"})
	if err == nil || !strings.Contains(err.Error(), "incomplete settings") {
		t.Fatalf("got %v", err)
	}
	if errors.Is(err, tenant.ErrReadOnly) {
		t.Fatal("wrong cause")
	}
}
