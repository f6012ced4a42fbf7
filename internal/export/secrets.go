package export

import (
	"regexp"
	"strings"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// An export must never write a secret, even one the tenant returns under a key that is
// not a secret key (the planner's list decides what is compared; this decides what is
// written). A value is left out, and named in the object's comment, when any of these
// holds:
//
//   - its key is a secret key (Options.SecretKeys) or looks like one (SecretLookingKeys,
//     compared without case, "-", "_", "." or spaces: access_token is accessToken);
//   - it looks like a credential whatever its key (CredentialLooking): an Authorization
//     value ("Bearer ...", "Basic ...", "Token ..."), or a PEM block other than a
//     certificate or a public key;
//   - it holds a value the desired state resolves from a secret reference
//     (Options.Secrets, compared with sdim.Secret.ContainedIn, never revealed).

// SecretLookingKeys are the attribute keys whose values the export never writes, in
// addition to the secret keys.
func SecretLookingKeys() []string {
	return []string{"authorization", "credential", "credentials", "passphrase", "accessToken", "refreshToken",
		"sessionToken", "bearerToken", "apiToken", "authToken", "clientSecret", "privateKey", "password",
		"passwd", "secret", "token", "apiKey"}
}

// foldKey is a key as SecretLookingKeys are compared: lower case, without separators.
func foldKey(k string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(k) {
		if c == '-' || c == '_' || c == '.' || c == ' ' {
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

var secretLooking = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range SecretLookingKeys() {
		m[foldKey(k)] = true
	}
	return m
}()

// authValue finds an Authorization scheme followed by its credential anywhere in a text.
var authValue = regexp.MustCompile(`(?i)(?:^|[^a-z0-9])(?:bearer|basic|token)[ \t]+([A-Za-z0-9\-._~+/]+=*)`)

// pemLabel finds the label of each PEM block.
var pemLabel = regexp.MustCompile(`-----BEGIN ([^-\r\n]*)-----`)

// publicPEM are the PEM labels that hold nothing secret.
var publicPEM = map[string]bool{"CERTIFICATE": true, "TRUSTED CERTIFICATE": true, "X509 CRL": true,
	"CERTIFICATE REQUEST": true, "NEW CERTIFICATE REQUEST": true, "PUBLIC KEY": true, "RSA PUBLIC KEY": true,
	"PGP PUBLIC KEY BLOCK": true, "PGP SIGNATURE": true}

// CredentialLooking reports whether a text looks like a credential whatever its key: it
// holds an Authorization scheme (Bearer, Basic or Token, any case) followed by a
// credential (8 or more characters of the token68 alphabet holding a digit, a symbol or
// an upper-case letter after a lower-case one, so that "Basic authentication" is text),
// or a PEM block ("-----BEGIN") other than a certificate, a CRL, a request or a public
// key, or one whose label cannot be read.
func CredentialLooking(s string) bool {
	for _, m := range authValue.FindAllStringSubmatch(s, -1) {
		if credential(m[1]) {
			return true
		}
	}
	if strings.Contains(s, "-----BEGIN") {
		labels := pemLabel.FindAllStringSubmatch(s, -1)
		if len(labels) != strings.Count(s, "-----BEGIN") {
			return true
		}
		for _, l := range labels {
			if !publicPEM[strings.TrimSpace(l[1])] {
				return true
			}
		}
	}
	return false
}

// credential reports whether a token68 word looks generated rather than written.
func credential(w string) bool {
	if len(w) < 8 {
		return false
	}
	var prev byte
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c >= '0' && c <= '9', strings.IndexByte("-._~+/=", c) >= 0:
			return true
		case c >= 'A' && c <= 'Z' && prev >= 'a' && prev <= 'z':
			return true
		}
		prev = c
	}
	return false
}

// DesiredSecrets are the values a desired state resolves from secret references (and the
// values it holds under secret keys), wherever they sit: attributes, and a SIM
// integration's request and statusMap.
func DesiredSecrets(st *desired.State) []sdim.Secret {
	var out []sdim.Secret
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case sdim.Secret:
			if !t.IsZero() {
				out = append(out, t)
			}
		case *sdim.Secret:
			if t != nil {
				walk(*t)
			}
		case map[string]any:
			for _, e := range t {
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	if st == nil {
		return nil
	}
	for _, r := range st.ServiceDesk {
		walk(r.Spec.Attributes)
	}
	for _, r := range st.SIM {
		walk(r.Spec.Attributes)
		walk(r.Spec.Request)
		walk(r.Spec.StatusMap)
	}
	return out
}

// Why a value was left out, for the comment.
const (
	leftKey     = ""                                          // under a secret or secret-looking key
	leftForm    = "looks like a credential"                   // CredentialLooking
	leftDesired = "holds a secret value of the desired state" // Options.Secrets
	leftInList  = "a list holding a value under a secret key" // a secret key inside a list
)

// leftOut is one value the export did not write.
type leftOut struct {
	ptr, key, why string
	scheme        string // "Bearer " when the value is an Authorization value, for the comment
	typed         bool   // a typed field, which cannot hold a reference
}

// scheme is the Authorization scheme a value starts with, and a space ("Bearer "), when
// the rest is one word: the comment then suggests "Bearer ${env:NAME}". The scheme is
// not secret; the rest is never shown.
func scheme(v any) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	word, rest, ok := strings.Cut(s, " ")
	if !ok || rest == "" || strings.ContainsAny(rest, " \t\r\n") {
		return ""
	}
	switch strings.ToLower(word) {
	case "bearer", "basic", "token":
		return word + " "
	}
	return ""
}

// secretFilter decides which values are written.
type secretFilter struct {
	keys    sdim.SecretKeySet
	secrets []sdim.Secret
}

// secretKey reports whether the values under the key k of an open map are left out.
func (f *secretFilter) secretKey(k string) bool {
	return f.keys.Has(k) || secretLooking[foldKey(k)]
}

// textWhy says why a text is left out: leftForm, leftDesired, or "" when it is written.
// form says whether CredentialLooking applies.
func (f *secretFilter) textWhy(s string, form bool) (string, bool) {
	for _, sec := range f.secrets {
		if sec.ContainedIn(s) {
			return leftDesired, true
		}
	}
	if form && CredentialLooking(s) {
		return leftForm, true
	}
	return "", false
}
