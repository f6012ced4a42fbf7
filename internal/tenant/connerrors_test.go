package tenant_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

const (
	connTestSecret = "s3cr3t-value-6d1f"
	connTestToken  = "tok-9c2e77aa41"
)

// connClient is a client of baseURL with fast retries, counting its retries.
func connClient(t *testing.T, baseURL string) (*tenant.Client, *atomic.Int32) {
	t.Helper()
	s, err := tenant.Config{BaseURL: baseURL, ClientID: "client-id"}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(connTestSecret, "test")}).Settings(nil)
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	s.RetryBaseDelay, s.RetryMaxDelay = time.Millisecond, 5*time.Millisecond
	s.RequestTimeout = 5 * time.Second
	var retries atomic.Int32
	c, err := tenant.New(s, tenant.WithHooks(tenant.Hooks{Retry: func(string, string, string) { retries.Add(1) }}))
	if err != nil {
		t.Fatal(err)
	}
	return c, &retries
}

// tokenOK answers the token endpoint as the tenant does.
func tokenOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"access_token":"` + connTestToken + `","token_type":"bearer","expires_in":749}`))
}

// apiServer answers the token endpoint and hands every other request to api.
func apiServer(t *testing.T, api http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			tokenOK(w)
			return
		}
		api(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBaseURLWithPath(t *testing.T) {
	for _, base := range []string{"https://acme.api.identitynow.com/v3", "https://acme.api.identitynow.com/v3/", "https://acme.identitynow.com/ui/d/"} {
		_, err := tenant.Config{BaseURL: base, ClientID: "id", ClientSecret: sdim.NewSecret("x", "t")}.Settings(nil)
		if err == nil || !strings.Contains(err.Error(), "must be the API root without a path") {
			t.Errorf("%s: %v", base, err)
		}
	}
	if _, err := (tenant.Config{BaseURL: "https://acme.api.identitynow.com/", ClientID: "id", ClientSecret: sdim.NewSecret("x", "t")}).Settings(nil); err != nil {
		t.Errorf("a trailing slash is no path: %v", err)
	}
}

// TestConnectionErrors: each way of pointing the client at the wrong place gives an error
// that says what is wrong, without retrying where retrying cannot help, and without the
// secret or the token.
func TestConnectionErrors(t *testing.T) {
	htmlPage := `<!DOCTYPE html><html><head><title>Sign in - Acme SSO</title></head><body>` + strings.Repeat("x", 300) + `</body></html>`
	tests := []struct {
		name string
		// base returns the base URL to use.
		base       func(t *testing.T) string
		want       []string
		maxRetries int32
	}{
		{
			name: "TLS to a plain HTTP server",
			base: func(t *testing.T) string {
				srv := httptest.NewServer(http.NotFoundHandler())
				t.Cleanup(srv.Close)
				return "https://" + srv.Listener.Addr().String()
			},
			want: []string{"answers plain HTTP, not HTTPS", "use http://127.0.0.1:", "otherwise the port is wrong"},
		},
		{
			name: "plain HTTP to a TLS server",
			base: func(t *testing.T) string {
				srv := httptest.NewTLSServer(http.NotFoundHandler())
				t.Cleanup(srv.Close)
				return "http://" + srv.Listener.Addr().String()
			},
			want: []string{"400 Bad Request: the server speaks HTTPS: use an https:// URL"},
		},
		{
			name: "nothing listens",
			base: func(t *testing.T) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close()
				return "http://" + addr
			},
			want:       []string{"nothing listens at 127.0.0.1:", "connection refused"},
			maxRetries: 2,
		},
		{
			name: "an HTML login page at the token endpoint",
			base: func(t *testing.T) string {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					_, _ = w.Write([]byte(htmlPage))
				}))
				t.Cleanup(srv.Close)
				return srv.URL
			},
			want: []string{`answered 200 with an HTML page titled "Sign in - Acme SSO", not the ISC API`, "https://{tenant}.api.identitynow.com"},
		},
		{
			name: "an HTML page for an API call",
			base: func(t *testing.T) string {
				return apiServer(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "text/html")
					_, _ = w.Write([]byte(htmlPage))
				}).URL
			},
			want: []string{`GET /v3/service-desk-integrations/types: 200 OK: an HTML page titled "Sign in - Acme SSO", not the ISC API`},
		},
		{
			name: "a redirect of the token endpoint",
			base: func(t *testing.T) string {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "https://acme.login.example/sso?from=api", http.StatusFound)
				}))
				t.Cleanup(srv.Close)
				return srv.URL
			},
			want: []string{"302 Found", "redirected to https://acme.login.example/sso?from=api", "follows no redirects"},
		},
		{
			name: "a redirect of an API call",
			base: func(t *testing.T) string {
				return apiServer(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "https://acme.api.identitynow.com"+r.URL.Path, http.StatusMovedPermanently)
				}).URL
			},
			want: []string{"301 Moved Permanently", "redirected to https://acme.api.identitynow.com/v3/service-desk-integrations/types", "(https://acme.api.identitynow.com, if that is the API)"},
		},
		{
			name: "a 5xx with a text body that echoes the request",
			base: func(t *testing.T) string {
				return apiServer(t, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = w.Write([]byte("upstream overloaded; request had " + r.Header.Get("Authorization") + " " + strings.Repeat("y", 400)))
				}).URL
			},
			want:       []string{"503 Service Unavailable", `"upstream overloaded; request had Bearer [redacted] yyy`, `yyy..."`},
			maxRetries: 5,
		},
		{
			name: "a 5xx of the token endpoint that echoes the form",
			base: func(t *testing.T) string {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_ = r.ParseForm()
					w.WriteHeader(http.StatusBadGateway)
					_, _ = w.Write([]byte("bad gateway for client_secret=" + r.PostForm.Get("client_secret")))
				}))
				t.Cleanup(srv.Close)
				return srv.URL
			},
			want:       []string{"status 502 Bad Gateway", `"bad gateway for client_secret=[redacted]"`},
			maxRetries: 5,
		},
		{
			name: "a 502 HTML page of a load balancer",
			base: func(t *testing.T) string {
				return apiServer(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(http.StatusBadGateway)
					_, _ = w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"))
				}).URL
			},
			want:       []string{"502 Bad Gateway", `an HTML page titled "502 Bad Gateway" (from a proxy or load balancer?)`},
			maxRetries: 5,
		},
		{
			name: "no token endpoint (404)",
			base: func(t *testing.T) string {
				srv := httptest.NewServer(http.NotFoundHandler())
				t.Cleanup(srv.Close)
				return srv.URL
			},
			want: []string{"404 Not Found: no token endpoint answers there", "the API root without a path"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, retries := connClient(t, tc.base(t))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := c.ListTypes(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, connTestSecret) || strings.Contains(msg, connTestToken) {
				t.Errorf("a secret in the error: %s", msg)
			}
			if got := retries.Load(); got != tc.maxRetries {
				t.Errorf("%d retries, want %d", got, tc.maxRetries)
			}
		})
	}
}

// TestRedirectNotFollowed: the client never requests what a redirect points to.
func TestRedirectNotFollowed(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { followed.Add(1); tokenOK(w) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, _ := connClient(t, srv.URL)
	_, err := c.ListTypes(context.Background())
	var te *tenant.TokenError
	if !errors.As(err, &te) || te.Status != http.StatusTemporaryRedirect || te.Location != target.URL+"/oauth/token" {
		t.Fatalf("err %v", err)
	}
	if followed.Load() != 0 {
		t.Error("the redirect was followed")
	}
}
