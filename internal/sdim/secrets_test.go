package sdim

import "testing"

// TestSecretContainedIn: a secret is found in text that equals it, contains it (when it is
// long enough to be told from ordinary text) or holds the credential of an Authorization
// value alone; never in text that does not hold it, and a zero or empty secret is found
// nowhere.
func TestSecretContainedIn(t *testing.T) {
	tests := []struct {
		secret Secret
		text   string
		want   bool
	}{
		{NewSecret("planted-7f3a9c", "env:A"), "planted-7f3a9c", true},
		{NewSecret("planted-7f3a9c", "env:A"), "Bearer planted-7f3a9c", true},
		{NewSecret("planted-7f3a9c", "env:A"), "planted-7f3a9", false},
		{NewSecret("Bearer planted-7f3a9c", "env:A"), "planted-7f3a9c", true},
		{NewSecret("Bearer planted-7f3a9c", "env:A"), "Token planted-7f3a9c", true},
		{NewSecret("Bearer short", "env:A"), "short", false},
		{NewSecret("Bearer short", "env:A"), "Bearer short", true},
		{NewSecret("two words here", "env:A"), "words", false},
		{NewSecret("abcd", "env:A"), "xabcdx", true},
		{NewSecret("abc", "env:A"), "xabcx", false},
		{NewSecret("abc", "env:A"), "abc", true},
		{NewSecret("", "env:A"), "", false},
		{NewSecret("", "env:A"), "anything", false},
		{Secret{}, "anything", false},
		{NewSecret("planted-7f3a9c", "env:A"), "", false},
	}
	for _, tt := range tests {
		if got := tt.secret.ContainedIn(tt.text); got != tt.want {
			t.Errorf("%s ContainedIn(%q) = %v, want %v", tt.secret, tt.text, got, tt.want)
		}
	}
}
