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
