package sdim

import "strings"

// DefaultSecretAttributeKeys are the attribute keys the tenant accepts on write and never
// returns on read. Matching is case-insensitive.
func DefaultSecretAttributeKeys() []string {
	return []string{"password", "clientSecret", "secret", "token", "apiKey", "privateKey"}
}

// SecretKeySet matches attribute keys against a list of secret keys, ignoring case.
type SecretKeySet map[string]struct{}

// NewSecretKeySet builds a set from keys; blank keys are skipped.
func NewSecretKeySet(keys []string) SecretKeySet {
	s := make(SecretKeySet, len(keys))
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			s[strings.ToLower(k)] = struct{}{}
		}
	}
	return s
}

// Has reports whether key is a secret key.
func (s SecretKeySet) Has(key string) bool {
	_, ok := s[strings.ToLower(key)]
	return ok
}

// MinContainedSecret is the shortest secret value ContainedIn looks for inside longer
// text; a shorter one is matched only by the whole text.
const MinContainedSecret = 4

// ContainedIn reports whether text holds the secret's value: equals it, or, for a value
// of at least MinContainedSecret bytes, contains it. A value of the form "SCHEME
// CREDENTIAL" (an Authorization header such as "Bearer abc..."), whose credential is at
// least 8 bytes, also matches text that holds the credential alone. An empty or zero
// secret matches nothing.
//
// It lets a writer (export) leave out a value the desired state supplies through a secret
// reference without revealing it: the value never leaves this package.
func (s Secret) ContainedIn(text string) bool {
	if s.v == nil || s.v.value == "" || text == "" {
		return false
	}
	v := s.v.value
	if text == v || len(v) >= MinContainedSecret && strings.Contains(text, v) {
		return true
	}
	if f := strings.Fields(v); len(f) == 2 && len(f[1]) >= 8 && isLetters(f[0]) {
		return strings.Contains(text, f[1])
	}
	return false
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}
