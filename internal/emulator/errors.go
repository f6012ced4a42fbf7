package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// apiError is an error the emulator answers with, shaped as the tenant's ErrorResponseDto.
type apiError struct {
	status     int
	detailCode string
	text       string
	causes     []string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.detailCode, e.text) }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, detailCode: "400.1 Bad Request Content", text: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, detailCode: "404 Not found", text: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *apiError {
	return &apiError{status: http.StatusForbidden, detailCode: "403 Forbidden", text: fmt.Sprintf(format, args...)}
}

func unsupportedMediaType(format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnsupportedMediaType, detailCode: "415 Unsupported Media Type", text: fmt.Sprintf(format, args...)}
}

func methodNotAllowed(method, route string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, detailCode: "405 Method Not Allowed",
		text: fmt.Sprintf("method %s is not allowed on %s", method, route)}
}

func internalFault(status int) *apiError {
	return &apiError{status: status, detailCode: strconv.Itoa(status) + ".0 Internal Fault",
		text: "An internal fault occurred (injected by the emulator)."}
}

type errorMessage struct {
	Locale       string `json:"locale"`
	LocaleOrigin string `json:"localeOrigin"`
	Text         string `json:"text"`
}

type errorResponse struct {
	DetailCode string         `json:"detailCode"`
	TrackingID string         `json:"trackingId"`
	Messages   []errorMessage `json:"messages"`
	Causes     []errorMessage `json:"causes"`
}

func newTrackingID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	body := errorResponse{
		DetailCode: e.detailCode,
		TrackingID: newTrackingID(),
		Messages:   []errorMessage{{Locale: "en-US", LocaleOrigin: "DEFAULT", Text: e.text}},
		Causes:     []errorMessage{},
	}
	for _, c := range e.causes {
		body.Causes = append(body.Causes, errorMessage{Locale: "en-US", LocaleOrigin: "DEFAULT", Text: c})
	}
	writeJSON(w, e.status, body)
}

// writeUnauthorized answers 401 with the gateway's {error} body.
func writeUnauthorized(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
}

// writeTooManyRequests answers 429 with {message} and Retry-After in whole seconds.
func writeTooManyRequests(w http.ResponseWriter, retryAfterSeconds int) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": " Rate Limit Exceeded "})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeRawJSON(w, status, b)
}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
