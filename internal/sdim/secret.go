package sdim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// Secret holds a value resolved from a secret reference (`${env:NAME}` or `${file:PATH}`).
// Every way of rendering it redacts: String, Format (all verbs, including %#v, %q and %x),
// MarshalJSON, MarshalText, MarshalYAML and slog's LogValue. Gob encoding is refused.
// The value sits behind a pointer so that reflection-based printers that cannot call
// methods (a Secret in an unexported struct field printed with %v) see an address, not
// the value.
//
// Reveal is the only way to read the value. The tenant client calls it when it encodes a
// request body; a test in this package fails when any other package does.
type Secret struct {
	v *secretValue
}

type secretValue struct {
	value  string
	source string
}

// NewSecret wraps value. source says where it came from ("env:SNOW_PASSWORD",
// "file:secrets/jira-token"); it is shown in place of the value and must not itself be
// secret.
func NewSecret(value, source string) Secret {
	return Secret{v: &secretValue{value: value, source: source}}
}

// Redacted is what every rendering of a Secret shows: "(sensitive)" or
// "(sensitive: env:NAME)" when its source is known.
func (s Secret) Redacted() string {
	if s.v == nil || s.v.source == "" {
		return "(sensitive)"
	}
	return "(sensitive: " + s.v.source + ")"
}

// Source is where the value came from, such as "env:SNOW_PASSWORD"; "" if unknown.
func (s Secret) Source() string {
	if s.v == nil {
		return ""
	}
	return s.v.source
}

// IsZero reports whether the secret holds nothing at all (not even an empty value).
func (s Secret) IsZero() bool { return s.v == nil }

// Equal reports whether two secrets hold the same value, without revealing either.
func (s Secret) Equal(o Secret) bool {
	if s.v == nil || o.v == nil {
		return s.v == o.v
	}
	return s.v.value == o.v.value
}

// Reveal returns the value. Only the tenant client's request encoding may call it.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return s.v.value
}

// Fingerprint is the keyed fingerprint of the value: the hex HMAC-SHA256 of the value
// under key. The ledger (internal/ledger) records it for each secret value sent, so that a
// rotated value is noticed without the value ever being stored.
//
// It is safe to compute outside the tenant client because it is keyed: the key is random,
// kept in the ledger file only (mode 0600), and never logged, printed or sent. Without the
// key the fingerprint tells nothing about the value (unlike an unkeyed hash, which a
// dictionary of likely passwords would reverse), and the value itself never leaves this
// package. An empty key gives "": no fingerprint without a key. A zero secret has the
// fingerprint of the empty value.
func (s Secret) Fingerprint(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, key)
	if s.v != nil {
		m.Write([]byte(s.v.value))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.Redacted() }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return s.Redacted() }

// Format implements fmt.Formatter so that no verb (%s, %v, %q, %x, %d...) reaches the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.Redacted())
		return
	}
	_, _ = f.Write([]byte(s.Redacted()))
}

// MarshalJSON implements json.Marshaler: the redacted text, as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.Redacted())
}

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.Redacted()), nil }

// MarshalYAML implements yaml.Marshaler (gopkg.in/yaml.v3).
func (s Secret) MarshalYAML() (any, error) { return s.Redacted(), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.Redacted()) }

// ErrSecretEncoding is returned by GobEncode: a secret is never serialized.
var ErrSecretEncoding = errors.New("sdim: a secret value cannot be serialized")

// GobEncode refuses: gob would otherwise carry the value across a process boundary.
func (s Secret) GobEncode() ([]byte, error) { return nil, ErrSecretEncoding }
