package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// authenticator issues and checks opaque bearer tokens for the client-credentials grant.
type authenticator struct {
	clients map[string]string
	ttl     time.Duration
	now     func() time.Time

	mu     sync.Mutex
	tokens map[string]issuedToken
}

type issuedToken struct {
	client  string
	expires time.Time
}

func newAuthenticator(clients map[string]string, ttl time.Duration, now func() time.Time) *authenticator {
	return &authenticator{clients: clients, ttl: ttl, now: now, tokens: map[string]issuedToken{}}
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	TenantID    string `json:"tenant_id"`
	Pod         string `json:"pod"`
	StrongAuth  bool   `json:"strong_auth"`
	Org         string `json:"org"`
	JTI         string `json:"jti"`
}

// serveToken answers POST /oauth/token. The parameters may come in a form body or in the
// query string (SailPoint's docs show both); the client may also authenticate with HTTP
// Basic, as RFC 6749 prefers.
func (a *authenticator) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "error_description": "use POST"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	if gt := r.Form.Get("grant_type"); gt != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type",
			"error_description": "only grant_type=client_credentials is supported, got " + quoteOrEmpty(gt)})
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
	}
	want, known := a.clients[id]
	if !known || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Bad credentials"})
		return
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	now := a.now()
	a.mu.Lock()
	for t, it := range a.tokens { // forget expired tokens so a long run does not grow
		if !now.Before(it.expires) {
			delete(a.tokens, t)
		}
	}
	a.tokens[tok] = issuedToken{client: id, expires: now.Add(a.ttl)}
	a.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tok, TokenType: "bearer", ExpiresIn: int(a.ttl / time.Second),
		Scope: "sp:scopes:all", TenantID: "emulated-tenant", Pod: "emulator", Org: "emulator", JTI: newID(),
	})
}

// check returns the client a request's bearer token belongs to, or "" and why not.
func (a *authenticator) check(r *http.Request) (client, reason string) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" {
		return "", "Full authentication is required to access this resource: no Authorization header"
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", "Authorization header must be 'Bearer <access token>'"
	}
	a.mu.Lock()
	it, known := a.tokens[tok]
	a.mu.Unlock()
	if !known {
		return "", "JWT validation failed: unknown or malformed token"
	}
	if !a.now().Before(it.expires) {
		return "", "JWT validation failed: JWT is expired"
	}
	return it.client, ""
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return "nothing"
	}
	return `"` + s + `"`
}
