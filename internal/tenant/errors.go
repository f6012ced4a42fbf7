package tenant

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// ErrReadOnly is the cause of every write a read-only client refuses.
var ErrReadOnly = errors.New("refused by the read-only client: plan and observe mode never write to the tenant")

// ErrRetryAfterTooLong is the cause when the tenant asks to wait longer than the ceiling.
var ErrRetryAfterTooLong = errors.New("the tenant's Retry-After is longer than the configured ceiling")

// APIError is an answer of the tenant other than success: its status and what the body
// said (an ErrorResponseDto, a 401's {error} or a 429's {message}).
type APIError struct {
	Op     string // what was being done: "create service desk integration"
	Object string // the object concerned: its name, or its id when the name is unknown
	Method string
	Path   string

	Status     int
	DetailCode string
	TrackingID string
	Messages   []string // texts of messages[] (and of error or message)
	Causes     []string // texts of causes[]
	RetryAfter time.Duration
	// Ambiguous is set when the request may have taken effect although no success came
	// back: a POST answered 5xx. The caller must look before trying again.
	Ambiguous bool
	// Err is set when the error has a cause of its own, such as ErrRetryAfterTooLong.
	Err error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Object != "" {
		fmt.Fprintf(&b, " %q", e.Object)
	}
	fmt.Fprintf(&b, ": %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if len(e.Messages) > 0 {
		b.WriteString(": " + strings.Join(e.Messages, "; "))
	}
	if len(e.Causes) > 0 {
		b.WriteString(" (causes: " + strings.Join(e.Causes, "; ") + ")")
	}
	var ids []string
	if e.DetailCode != "" {
		ids = append(ids, "detailCode "+e.DetailCode)
	}
	if e.TrackingID != "" {
		ids = append(ids, "trackingId "+e.TrackingID)
	}
	if len(ids) > 0 {
		b.WriteString(" [" + strings.Join(ids, ", ") + "]")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if hint := e.hint(); hint != "" {
		b.WriteString(": " + hint)
	}
	return b.String()
}

func (e *APIError) hint() string {
	var he *htmlAnswerError
	switch {
	case errors.As(e.Err, &he):
		return ""
	case e.Status == http.StatusUnauthorized:
		return "the tenant refused the token even after a fresh one; check the client id and secret and that the client is enabled"
	case e.Status == http.StatusForbidden && e.Method == http.MethodPatch:
		return "the tenant does not allow this PATCH (the patchable fields are configuration; a PUT can make the change)"
	case e.Status == http.StatusForbidden:
		return "the API client lacks the scope or user level for this call (idn:service-desk-integration:manage, ORG_ADMIN)"
	case e.Ambiguous:
		return "the write may or may not have been made; look the object up before trying again"
	}
	return ""
}

func (e *APIError) Unwrap() error { return e.Err }

// RequestError is a request that got no answer: a timeout, a reset connection, a refused
// dial, or the token endpoint failing.
type RequestError struct {
	Op, Object   string
	Method, Path string
	// Ambiguous is set when a POST may have reached the tenant: only a failed dial proves it
	// did not.
	Ambiguous bool
	Err       error
}

func (e *RequestError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Object != "" {
		fmt.Fprintf(&b, " %q", e.Object)
	}
	fmt.Fprintf(&b, ": %s %s: %v", e.Method, e.Path, e.Err)
	if e.Ambiguous {
		b.WriteString(": the write may or may not have been made; look the object up before trying again")
	}
	return b.String()
}

func (e *RequestError) Unwrap() error { return e.Err }

// StatusCode returns the tenant's status in err's chain, or 0 when it got no answer.
func StatusCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// IsNotFound reports whether the tenant answered 404.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsAmbiguous reports whether a write may have taken effect although it failed: the
// caller must look before it tries again.
func IsAmbiguous(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Ambiguous
	}
	var re *RequestError
	if errors.As(err, &re) {
		return re.Ambiguous
	}
	return false
}

// errorBody is every shape of error body the tenant sends.
type errorBody struct {
	DetailCode string        `json:"detailCode"`
	TrackingID string        `json:"trackingId"`
	Messages   []messageText `json:"messages"`
	Causes     []messageText `json:"causes"`
	Error      string        `json:"error"`   // 401
	Message    string        `json:"message"` // 429
}

type messageText struct {
	Text string `json:"text"`
}

// newAPIError reads what it can from the answer's body: an error body's texts; an HTML
// page by its title (with what it means, below 500); any other text quoted, its first 200
// characters. The values of secrets (the client secret, the access token) are never
// repeated, should the answer echo them.
func newAPIError(r *request, status int, header http.Header, body []byte, secrets ...string) *APIError {
	e := &APIError{Op: r.op, Object: r.object, Method: r.method, Path: r.path, Status: status}
	var eb errorBody
	switch {
	case isHTML(header, body):
		he := &htmlAnswerError{status: status, title: htmlTitle(body), statusShown: true}
		if status < 500 {
			e.Err = he
		} else if he.title != "" {
			e.Messages = []string{fmt.Sprintf("an HTML page titled %q (from a proxy or load balancer?)", he.title)}
		} else {
			e.Messages = []string{"an HTML page (from a proxy or load balancer?)"}
		}
	case json.Unmarshal(body, &eb) == nil:
		e.DetailCode, e.TrackingID = eb.DetailCode, eb.TrackingID
		for _, m := range eb.Messages {
			if m.Text != "" {
				e.Messages = append(e.Messages, m.Text)
			}
		}
		for _, c := range eb.Causes {
			if c.Text != "" {
				e.Causes = append(e.Causes, c.Text)
			}
		}
		for _, s := range []string{eb.Error, eb.Message} {
			if s != "" {
				e.Messages = append(e.Messages, s)
			}
		}
	default:
		if text := strings.TrimSpace(string(body)); text != "" {
			if strings.Contains(text, "HTTP request to an HTTPS server") {
				e.Err = errors.New("the server speaks HTTPS: use an https:// URL")
			}
			e.Messages = []string{fmt.Sprintf("%q", shorten(redact(text, secrets...), 200))}
		}
	}
	for i := range e.Messages {
		e.Messages[i] = redact(e.Messages[i], secrets...)
	}
	for i := range e.Causes {
		e.Causes[i] = redact(e.Causes[i], secrets...)
	}
	return e
}

// connError is a failure to reach the API with what it most likely means and whether
// retrying can help.
type connError struct {
	hint string
	// fatal: retrying cannot help (plain HTTP where TLS was asked, an unknown host, a
	// certificate that is not accepted, an HTML page instead of the API).
	fatal bool
	// refused: nothing listens; retried a few times only, in case the server is starting.
	refused bool
	err     error
}

func (e *connError) Error() string {
	if e.err == nil {
		return e.hint
	}
	return e.hint + " (" + e.err.Error() + ")"
}

func (e *connError) Unwrap() error { return e.err }

// maxRefusedRetries is how many times a refused connection is tried again: enough for a
// server that is starting, not the whole retry budget.
const maxRefusedRetries = 2

// retryLimit is how many retries err deserves when the settings allow max.
func retryLimit(err error, max int) int {
	var ce *connError
	var he *htmlAnswerError
	switch {
	case errors.As(err, &he):
		if he.status < 500 {
			return 0
		}
		return max
	case !errors.As(err, &ce):
		return max
	case ce.fatal:
		return 0
	case ce.refused:
		return min(max, maxRefusedRetries)
	}
	return max
}

// explainConnError says what a transport error of a request to rawURL means, when it is one
// whose cause is likely a wrong URL or server.
func explainConnError(rawURL string, err error) error {
	hostport := rawURL
	if u, perr := url.Parse(rawURL); perr == nil && u.Host != "" {
		hostport = u.Host
		if u.Port() == "" {
			port := "443"
			if u.Scheme == "http" {
				port = "80"
			}
			hostport = net.JoinHostPort(u.Hostname(), port)
		}
	}
	var (
		dns   *net.DNSError
		uae   x509.UnknownAuthorityError
		hn    x509.HostnameError
		ci    x509.CertificateInvalidError
		cve   *tls.CertificateVerificationError
		rh    tls.RecordHeaderError
		html  *htmlAnswerError
		exist *connError
	)
	switch {
	case errors.As(err, &exist), errors.As(err, &html):
		return err
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"), errors.As(err, &rh):
		return &connError{fatal: true, err: err, hint: fmt.Sprintf(
			"%s answers plain HTTP, not HTTPS: if that server is the one meant, use http://%s (the emulator speaks plain HTTP); otherwise the port is wrong", hostport, hostport)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &connError{refused: true, err: err, hint: fmt.Sprintf(
			"nothing listens at %s (connection refused): check the host and port of the URL and that the server is running", hostport)}
	case errors.As(err, &dns) && dns.IsNotFound:
		return &connError{fatal: true, err: err, hint: fmt.Sprintf(
			"no such host %s: check the host name in the URL (a tenant's API is https://{tenant}.api.identitynow.com)", dns.Name)}
	case errors.As(err, &uae), errors.As(err, &hn), errors.As(err, &ci), errors.As(err, &cve):
		return &connError{fatal: true, err: err, hint: fmt.Sprintf(
			"the TLS certificate of %s is not accepted: check the host name in the URL, or install the CA that signed it (a TLS-inspecting proxy needs its CA in the system's trust store)", hostport)}
	}
	return err
}

// htmlAnswerError is an HTML page where the API or its token endpoint should answer: a
// login page, a proxy's page or the tenant's user interface.
type htmlAnswerError struct {
	status int
	title  string
	// statusShown: the error around this one names the status already.
	statusShown bool
}

func (e *htmlAnswerError) Error() string {
	page := "an HTML page"
	if e.title != "" {
		page += fmt.Sprintf(" titled %q", e.title)
	}
	if !e.statusShown {
		page = fmt.Sprintf("answered %d with %s", e.status, page)
	}
	return page + ", not the ISC API: the URL reaches a login page, a proxy or the user interface; a tenant's API is https://{tenant}.api.identitynow.com (the user interface, https://{tenant}.identitynow.com, is not the API)"
}

// isHTML reports whether an answer is an HTML page, by its content type or its first bytes.
func isHTML(h http.Header, body []byte) bool {
	if ct, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && (ct == "text/html" || ct == "application/xhtml+xml") {
		return true
	}
	start := strings.ToLower(strings.TrimSpace(string(body[:min(len(body), 512)])))
	return strings.HasPrefix(start, "<!doctype html") || strings.HasPrefix(start, "<html")
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// htmlTitle is the text of an HTML page's title, shortened, or "".
func htmlTitle(body []byte) string {
	m := titleRE.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return shorten(strings.Join(strings.Fields(string(m[1])), " "), 80)
}

// shorten cuts s to at most n bytes (at a rune boundary), marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// redact replaces every secret value (and its URL-encoded form) in s.
func redact(s string, secrets ...string) string {
	for _, v := range secrets {
		if v == "" {
			continue
		}
		s = strings.ReplaceAll(s, v, "[redacted]")
		if q := url.QueryEscape(v); q != v {
			s = strings.ReplaceAll(s, q, "[redacted]")
		}
	}
	return s
}
