// Package tenant is the only code that talks to an Identity Security Cloud tenant: OAuth2
// client credentials, the API versions' paths, pagination, retries, the client-side rate
// limit and typed errors, and Snapshot, the whole live state in a few list calls.
package tenant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/clock"
)

// Hooks are called for metrics; any may be nil. They must not block.
type Hooks struct {
	// Request is called once per HTTP exchange with the route pattern (ids replaced by
	// {id}) and the status; status 0 means no answer came.
	Request func(method, route string, status int, elapsed time.Duration)
	// Retry is called before each retry with why: "429", "5xx", "network", "401" or
	// "token" (the token endpoint failed).
	Retry func(method, route, reason string)
	// RateLimitWait is called after a wait: source "client" for the client's own limiter,
	// "server" for a Retry-After the tenant asked for.
	RateLimitWait func(source string, waited time.Duration)
	// TokenRefresh is called once each time the client asks the token endpoint for a new
	// access token, with the failure (a *TokenError, never holding the secret) or nil.
	TokenRefresh func(err error)
}

// Option adjusts a Client.
type Option func(*options)

type options struct {
	transport http.RoundTripper
	logger    *slog.Logger
	hooks     Hooks
	clock     clock.Clock
	jitter    func() float64
}

// WithTransport sends requests through rt instead of a clone of http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithLogger logs requests (debug), retries and waits (warn) to l. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithHooks installs metric hooks.
func WithHooks(h Hooks) Option { return func(o *options) { o.hooks = h } }

// WithClock makes every wait and expiry of the client use c instead of the system clock:
// the Retry-After pause, the backoff between retries, the client-side rate limit, token
// expiry and the reading of Retry-After dates. A nil c is the system clock. Request
// durations given to Hooks.Request are still measured on the system clock: they time
// real I/O.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// Client calls one tenant. It is safe for concurrent use; all its goroutines share one
// token, one rate limiter and one Retry-After pause. ReadOnly returns a view that refuses
// writes.
type Client struct {
	*shared
	readOnly bool
}

type shared struct {
	s      Settings
	http   *http.Client
	tokens *tokenCache
	window *window // the client-side rate limit and the Retry-After pause
	log    *slog.Logger
	hooks  Hooks
	clock  clock.Clock
	jitter func() float64
}

// New makes a client from validated settings. It makes no request.
func New(s Settings, opts ...Option) (*Client, error) {
	if s.BaseURL == "" || s.TokenURL == "" || s.ClientID == "" || s.ClientSecret.IsZero() || s.APIVersion == "" {
		return nil, errors.New("tenant.New: incomplete settings (build them with Config.Settings)")
	}
	if s.RateLimit <= 0 || s.RateWindow <= 0 || s.RequestTimeout <= 0 {
		return nil, errors.New("tenant.New: the rate limit, its window and the request timeout must be positive")
	}
	o := options{jitter: rand.Float64}
	for _, opt := range opts {
		opt(&o)
	}
	o.clock = clock.Or(o.clock)
	if o.transport == nil {
		o.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if s.UserAgent == "" {
		s.UserAgent = "sdim-sync/dev"
	}
	// Redirects are not followed: an API call redirected elsewhere (a login page, another
	// host) is an error that says where it was sent, not a silent change of host or method.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc := &http.Client{Transport: o.transport, CheckRedirect: noRedirect}
	tokenHC := &http.Client{Transport: htmlGuard{o.transport}, CheckRedirect: noRedirect}
	sh := &shared{
		s:      s,
		http:   hc,
		tokens: newTokenCache(s, tokenHC, o.clock.Now, o.hooks.TokenRefresh),
		window: newWindow(s.RateLimit, s.RateWindow),
		log:    o.logger,
		hooks:  o.hooks,
		clock:  o.clock,
		jitter: o.jitter,
	}
	return &Client{shared: sh}, nil
}

// now is the time on the client's clock.
func (s *shared) now() time.Time { return s.clock.Now() }

// ReadOnly returns a client sharing c's token, limiter and hooks that refuses every write
// before any I/O. plan and observe mode use it.
func (c *Client) ReadOnly() *Client { return &Client{shared: c.shared, readOnly: true} }

// IsReadOnly reports whether c refuses writes.
func (c *Client) IsReadOnly() bool { return c.readOnly }

// maxTokenRefusals bounds the 401 answers one call renews its token after.
const maxTokenRefusals = 4

// request is one call of the API.
type request struct {
	op, object   string // for errors: "get service desk integration", its name or id
	method       string
	route        string // path pattern for metrics and logs: /v3/service-desk-integrations/{id}
	path         string // the path sent
	query        url.Values
	body         []byte
	contentType  string
	experimental bool // send X-SailPoint-Experimental: true
}

// response is a successful answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

const maxResponseBytes = 64 << 20

// do sends r until it succeeds or fails for good: a 401 is retried once with a fresh token;
// a 429 waits its Retry-After; 5xx answers and network errors are retried with backoff,
// except for a POST that may have reached the tenant.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	if c.readOnly && r.method != http.MethodGet {
		what := r.op
		if r.object != "" {
			what += fmt.Sprintf(" %q", r.object)
		}
		return nil, fmt.Errorf("%s: %w", what, ErrReadOnly)
	}
	var retries, limited int
	// refused is the last token the tenant answered 401 to, and refusals counts them: each
	// refused token gets one fresh one, so a token that expires early during a long wait
	// (a backoff, a Retry-After) after an earlier refresh is renewed again; a fresh token
	// refused at once, or too many refusals, end the call.
	refused, refusals := "", 0
	for {
		if err := c.waitTurn(ctx); err != nil {
			return nil, &RequestError{Op: r.op, Object: r.object, Method: r.method, Path: r.path, Err: err}
		}
		tok, err := c.tokens.get(ctx)
		if err != nil {
			if retryableTokenError(err) && retries < retryLimit(err, c.s.MaxRetries) && ctx.Err() == nil {
				retries++
				var wait time.Duration
				if te := (*TokenError)(nil); errors.As(err, &te) {
					wait = te.RetryAfter
				}
				if wait > c.s.MaxRetryAfter {
					return nil, &RequestError{Op: r.op, Object: r.object, Method: r.method, Path: r.path,
						Err: fmt.Errorf("%w: %w: asked to wait %s, the ceiling is %s", err, ErrRetryAfterTooLong, wait, c.s.MaxRetryAfter)}
				}
				if err := c.backoffAtLeast(ctx, r, "token", retries, err, wait); err != nil {
					return nil, &RequestError{Op: r.op, Object: r.object, Method: r.method, Path: r.path, Err: err}
				}
				continue
			}
			return nil, &RequestError{Op: r.op, Object: r.object, Method: r.method, Path: r.path, Err: err}
		}
		resp, err := c.send(ctx, r, tok)
		if err != nil {
			notSent := isDialError(err)
			if ctx.Err() != nil {
				// Cut off by the caller: a POST already on its way may have been made.
				return nil, &RequestError{Op: r.op, Object: r.object, Method: r.method, Path: r.path,
					Ambiguous: r.method == http.MethodPost && !notSent, Err: ctx.Err()}
			}
			if (r.method != http.MethodPost || notSent) && retries < retryLimit(err, c.s.MaxRetries) {
				retries++
				if err := c.backoff(ctx, r, "network", retries, err); err != nil {
					return nil, &RequestError{Op: r.op, Object: r.object, Method: r.method, Path: r.path, Err: err}
				}
				continue
			}
			return nil, &RequestError{Op: r.op, Object: r.object, Method: r.method, Path: r.path,
				Ambiguous: r.method == http.MethodPost && !notSent, Err: err}
		}
		switch s := resp.status; {
		case s >= 200 && s < 300 && isHTML(resp.header, resp.body):
			// A login page or a proxy answering for the API: no retry can help.
			return nil, c.apiError(r, resp, tok)
		case s >= 200 && s < 300:
			return resp, nil
		case s >= 300 && s < 400:
			// The client follows no redirect (see New): the URL is not where the API answers.
			e := c.apiError(r, resp, tok)
			e.Err = redirectError(resp.header.Get("Location"))
			return nil, e
		case s == http.StatusUnauthorized && tok != refused && refusals < maxTokenRefusals:
			// The token expired or was revoked early: a fresh token, one more try. The
			// tenant refused the request, so even a POST is safe to repeat.
			refused = tok
			refusals++
			c.tokens.invalidate(tok)
			c.retryHook(r, "401")
			c.log.WarnContext(ctx, "tenant refused the token; fetching a new one", "op", r.op, "route", r.route)
			continue
		case s == http.StatusTooManyRequests:
			wait, ok := parseRetryAfter(resp.header.Get("Retry-After"), c.now())
			if !ok {
				wait = c.backoffDelay(limited + 1)
			}
			if wait > c.s.MaxRetryAfter {
				e := c.apiError(r, resp, tok)
				e.RetryAfter = wait
				e.Err = fmt.Errorf("%w: asked to wait %s, the ceiling is %s (maxRetryAfter)", ErrRetryAfterTooLong, wait, c.s.MaxRetryAfter)
				return nil, e
			}
			if limited >= c.s.MaxRateLimitRetries {
				e := c.apiError(r, resp, tok)
				e.RetryAfter = wait
				waits := "waits"
				if limited == 1 {
					waits = "wait"
				}
				e.Err = fmt.Errorf("still rate limited after %d %s", limited, waits)
				return nil, e
			}
			limited++
			// A 429 means the tenant did not act on the request: any method may be repeated.
			c.pause(wait)
			c.retryHook(r, "429")
			c.log.WarnContext(ctx, "tenant rate limit: waiting as told", "op", r.op, "route", r.route, "retryAfter", wait)
			continue
		case retryableStatus(s) && r.method != http.MethodPost && retries < c.s.MaxRetries:
			retries++
			if err := c.backoff(ctx, r, "5xx", retries, fmt.Errorf("status %d", s)); err != nil {
				return nil, &RequestError{Op: r.op, Object: r.object, Method: r.method, Path: r.path, Err: err}
			}
			continue
		default:
			e := c.apiError(r, resp, tok)
			e.Ambiguous = r.method == http.MethodPost && s >= 500
			return nil, e
		}
	}
}

// send makes one HTTP exchange and reads the whole answer.
func (c *Client) send(ctx context.Context, r *request, tok string) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.s.RequestTimeout)
	defer cancel()
	u := c.s.BaseURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.s.UserAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.experimental {
		req.Header.Set("X-SailPoint-Experimental", "true")
	}
	// The duration reported to Hooks.Request times real I/O, so it is measured on the system
	// clock, not on the injected one (a fake clock would report every exchange as instant).
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.requestHook(r, 0, time.Since(start))
		// Do's error repeats the URL; the path is already in the caller's error.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		err = explainConnError(c.s.BaseURL, err)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %w", c.s.RequestTimeout, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	elapsed := time.Since(start)
	c.requestHook(r, resp.StatusCode, elapsed)
	if err != nil {
		return nil, fmt.Errorf("reading the answer (status %d): %w", resp.StatusCode, err)
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("the answer is larger than %d MiB", maxResponseBytes>>20)
	}
	c.log.DebugContext(ctx, "tenant request", "op", r.op, "method", r.method, "route", r.route, "status", resp.StatusCode, "elapsed", elapsed)
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// waitTurn waits until this request may leave: the window (the client-side limit and any
// Retry-After pause, one mechanism) admits it at a time, and it sleeps until then. A pause
// that a 429 in another goroutine sets or extends while it sleeps holds it back too: it
// gives its turn back and asks again, so that no request leaves inside an announced pause
// and the held-back requests then leave at the limit's pace, not all at once.
func (c *Client) waitTurn(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil { // an ended call takes no turn
			return fmt.Errorf("waiting for the client rate limit: %w", err)
		}
		now := c.clock.Now()
		r := c.window.reserve(now)
		d := r.at.Sub(now)
		if d > 0 {
			if err := clock.Sleep(ctx, c.clock, d); err != nil {
				c.window.cancel(r)
				return fmt.Errorf("waiting for the client rate limit: %w", err)
			}
		}
		if c.window.pausedAt(c.clock.Now()) {
			c.window.cancel(r)
			continue
		}
		if r.paused > 0 && c.hooks.RateLimitWait != nil {
			c.hooks.RateLimitWait("server", r.paused)
		}
		if own := d - r.paused; own > time.Millisecond {
			if c.hooks.RateLimitWait != nil {
				c.hooks.RateLimitWait("client", own)
			}
			c.log.DebugContext(ctx, "client rate limit: waited", "waited", own)
		}
		return nil
	}
}

// pause holds every request of this client until d from now, unless a later pause is set.
func (c *Client) pause(d time.Duration) { c.window.pause(c.clock.Now().Add(d)) }

// backoffDelay is the wait before retry n (1-based): RetryBaseDelay doubled n-1 times,
// capped at RetryMaxDelay, with the upper half jittered.
func (c *Client) backoffDelay(n int) time.Duration {
	d := c.s.RetryBaseDelay
	for i := 1; i < n && d < c.s.RetryMaxDelay; i++ {
		d *= 2
	}
	d = min(d, c.s.RetryMaxDelay)
	return d/2 + time.Duration(c.jitter()*float64(d/2))
}

func (c *Client) backoff(ctx context.Context, r *request, reason string, n int, cause error) error {
	return c.backoffAtLeast(ctx, r, reason, n, cause, 0)
}

// backoffAtLeast waits the backoff of retry n, or atLeast when that is longer (a
// Retry-After the answer carried).
func (c *Client) backoffAtLeast(ctx context.Context, r *request, reason string, n int, cause error, atLeast time.Duration) error {
	d := max(c.backoffDelay(n), atLeast)
	c.retryHook(r, reason)
	c.log.WarnContext(ctx, "retrying tenant request", "op", r.op, "method", r.method, "route", r.route,
		"reason", reason, "error", cause.Error(), "retry", n, "of", c.s.MaxRetries, "wait", d)
	return clock.Sleep(ctx, c.clock, d)
}

func (c *Client) retryHook(r *request, reason string) {
	if c.hooks.Retry != nil {
		c.hooks.Retry(r.method, r.route, reason)
	}
}

func (c *Client) requestHook(r *request, status int, d time.Duration) {
	if c.hooks.Request != nil {
		c.hooks.Request(r.method, r.route, status, d)
	}
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func retryableStatus(s int) bool {
	return s >= 500 && s != http.StatusNotImplemented && s != http.StatusHTTPVersionNotSupported
}

// isDialError reports whether the request never left: the connection could not be made.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// apiError is the error of an answer other than success, with the secrets of this client
// kept out of it.
func (c *Client) apiError(r *request, resp *response, tok string) *APIError {
	return newAPIError(r, resp.status, resp.header, resp.body, c.s.ClientSecret.Reveal(), tok)
}

// redirectError says where a redirect pointed.
func redirectError(location string) error {
	if location == "" {
		return errors.New("redirected without a Location: the URL is not where the API answers; the base URL is the API root, such as https://acme.api.identitynow.com")
	}
	hint := ""
	if u, err := url.Parse(location); err == nil && u.IsAbs() && u.Host != "" {
		hint = fmt.Sprintf(" (%s://%s, if that is the API)", u.Scheme, u.Host)
	}
	return fmt.Errorf("redirected to %s: sdim-sync follows no redirects; point the URL at where the API answers%s", location, hint)
}

// htmlGuard turns an HTML answer of the token endpoint into an error that says so: oauth2
// would report it as JSON it cannot parse, or as a status without its meaning.
type htmlGuard struct{ base http.RoundTripper }

func (g htmlGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(req)
	if err != nil || resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return resp, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !isHTML(resp.Header, nil) {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if isHTML(resp.Header, body) {
		return nil, &htmlAnswerError{status: resp.StatusCode, title: htmlTitle(body)}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
