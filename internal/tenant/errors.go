package tenant

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
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
	switch {
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

// newAPIError reads what it can from the answer's body; a body that is not JSON is quoted,
// shortened, as the message.
func newAPIError(r *request, status int, body []byte) *APIError {
	e := &APIError{Op: r.op, Object: r.object, Method: r.method, Path: r.path, Status: status}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil {
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
	} else if text := strings.TrimSpace(string(body)); text != "" {
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		e.Messages = []string{fmt.Sprintf("%q", text)}
	}
	return e
}
