package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenCache holds the access token: fetched on first use, fetched again a little before
// it expires, and dropped when the tenant refuses it. One fetch at a time.
type tokenCache struct {
	cfg     clientcredentials.Config
	http    *http.Client
	now     func() time.Time
	onFetch func(error) // Hooks.TokenRefresh; may be nil
	url     string
	timeout time.Duration

	mu      sync.Mutex
	token   string
	expires time.Time // zero: the tenant gave no lifetime; used until refused
	refresh time.Time // when to fetch the next one
}

func newTokenCache(s Settings, hc *http.Client, now func() time.Time, onFetch func(error)) *tokenCache {
	return &tokenCache{
		cfg: clientcredentials.Config{
			ClientID:     s.ClientID,
			ClientSecret: s.ClientSecret.Reveal(),
			TokenURL:     s.TokenURL,
			// SailPoint documents the form body: grant_type, client_id and client_secret.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		http:    hc,
		now:     now,
		onFetch: onFetch,
		url:     s.TokenURL,
		timeout: s.RequestTimeout,
	}
}

// get returns a valid access token, fetching one when there is none or it is about to
// expire: at 80% of its lifetime, and at the latest a minute before it ends. Each fetch is
// reported to onFetch, outside the lock.
func (tc *tokenCache) get(ctx context.Context) (string, error) {
	tok, fetched, err := tc.getLocked(ctx)
	if fetched && tc.onFetch != nil {
		tc.onFetch(err)
	}
	return tok, err
}

// getLocked is get under the lock; fetched reports whether the token endpoint was asked.
func (tc *tokenCache) getLocked(ctx context.Context) (token string, fetched bool, err error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	now := tc.now()
	if tc.token != "" && (tc.refresh.IsZero() || now.Before(tc.refresh)) {
		return tc.token, false, nil
	}
	// Other goroutines wait on the lock meanwhile, so the fetch gets the request timeout.
	fetchCtx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, tc.http), tc.timeout)
	defer cancel()
	tok, err := tc.cfg.Token(fetchCtx)
	if err != nil {
		return "", true, tokenError(tc.url, err, tc.now(), tc.cfg.ClientSecret)
	}
	tc.token, tc.expires, tc.refresh = tok.AccessToken, time.Time{}, time.Time{}
	if life := lifetime(tok); life > 0 {
		tc.expires = now.Add(life)
		tc.refresh = tc.expires.Add(-min(life/5, time.Minute))
	}
	return tc.token, true, nil
}

// lifetime reads expires_in from the token answer (clientcredentials does not copy it into
// Token.ExpiresIn), falling back to the library's Expiry, which it reckons by the wall clock
// (so it is read back against the wall clock, not the client's clock).
func lifetime(tok *oauth2.Token) time.Duration {
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		return time.Duration(v * float64(time.Second))
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	if !tok.Expiry.IsZero() {
		return time.Until(tok.Expiry)
	}
	return 0
}

// invalidate drops token if it is still the cached one, so that the next get fetches anew.
// A token other goroutines already replaced is left alone.
func (tc *tokenCache) invalidate(token string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.token == token {
		tc.token = ""
	}
}

// TokenError is a failure to get an access token. It never holds the client secret.
type TokenError struct {
	URL    string
	Status int // 0 when the token endpoint did not answer
	Code   string
	// RetryAfter is the wait a 429 or 503 of the token endpoint asked for.
	RetryAfter time.Duration
	// Location is where a redirect pointed.
	Location string
	// Body is the start of an answer without an OAuth error code (a 5xx page), secrets
	// removed.
	Body string
	Err  error
}

func (e *TokenError) Error() string {
	prefix := "getting an access token from " + e.URL
	status := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusBadRequest && e.Code == "invalid_client":
		return fmt.Sprintf("%s: %d %s: the client id or secret was refused; check %s and %s",
			prefix, e.Status, e.Code, EnvClientID, EnvClientSecret)
	case strings.Contains(e.Body, "HTTP request to an HTTPS server"):
		return fmt.Sprintf("%s: %s: the server speaks HTTPS: use an https:// URL", prefix, status)
	case e.Status >= 300 && e.Status < 400:
		return fmt.Sprintf("%s: %s: %v", prefix, status, redirectError(e.Location))
	case e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed:
		return fmt.Sprintf("%s: %s: no token endpoint answers there; the base URL must be the API root without a path, such as https://acme.api.identitynow.com (or set the token URL: --token-url, tenant.tokenURL)",
			prefix, status)
	case e.Status != 0:
		msg := fmt.Sprintf("%s: status %s", prefix, status)
		if e.Code != "" {
			msg += " " + e.Code
		}
		if e.Body != "" {
			msg += fmt.Sprintf(": %q", e.Body)
		}
		return msg
	}
	return fmt.Sprintf("%s: %v", prefix, e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// tokenError keeps the status and RFC 6749 error code of a refused token request, and
// drops the rest of oauth2's message (which quotes the whole answer); the start of an
// answer without an error code (a 5xx page) is kept, without the secret. A failure to
// reach the endpoint says what it likely means.
func tokenError(tokenURL string, err error, now time.Time, secret string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te := &TokenError{URL: tokenURL, Code: re.ErrorCode, Err: errors.New("token request refused")}
		if re.Response != nil {
			te.Status = re.Response.StatusCode
			te.RetryAfter, _ = parseRetryAfter(re.Response.Header.Get("Retry-After"), now)
			te.Location = re.Response.Header.Get("Location")
		}
		if te.Code == "" {
			if text := strings.TrimSpace(string(re.Body)); text != "" {
				te.Body = shorten(redact(text, secret), 200)
			}
		}
		return te
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TokenError{URL: tokenURL, Err: explainConnError(tokenURL, err)}
}

// retryableTokenError: the token endpoint was unreachable, overloaded or failing.
func retryableTokenError(err error) bool {
	var te *TokenError
	if !errors.As(err, &te) {
		return false
	}
	return te.Status == 0 && !errors.Is(err, context.Canceled) || te.Status == http.StatusTooManyRequests || te.Status >= 500
}
