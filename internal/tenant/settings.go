package tenant

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// The environment variables the SailPoint ecosystem (SDKs, CLI) uses for a tenant connection.
const (
	EnvBaseURL      = "SAIL_BASE_URL"
	EnvClientID     = "SAIL_CLIENT_ID"
	EnvClientSecret = "SAIL_CLIENT_SECRET"
)

// Defaults of the connection settings.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRetries     = 5
	DefaultRetryBaseDelay = 500 * time.Millisecond
	DefaultRetryMaxDelay  = 30 * time.Second
	DefaultMaxRetryAfter  = 5 * time.Minute
	// DefaultRateLimit requests per DefaultRateWindow: just under the documented 100
	// requests per client and API version per 10 seconds.
	DefaultRateLimit  = 95
	DefaultRateWindow = 10 * time.Second
)

// Config is one layer of connection settings as a user writes them: the `tenant` section of
// the config file, the environment or the command-line flags. Empty fields are unset, so
// layers can be stacked with Overlay. Settings validates the result.
type Config struct {
	BaseURL    string `yaml:"baseURL"`
	TokenURL   string `yaml:"tokenURL"`
	ClientID   string `yaml:"clientID"`
	APIVersion string `yaml:"apiVersion"`
	// ClientSecretFile names a file holding the client secret (one trailing newline is
	// dropped). The secret itself is never a flag or a config value: it would end up in
	// shell history, process lists and repositories.
	ClientSecretFile string `yaml:"clientSecretFile"`
	// ClientSecret is set from the environment (SAIL_CLIENT_SECRET) only.
	ClientSecret sdim.Secret `yaml:"-"`

	RequestTimeout string `yaml:"requestTimeout"` // per attempt, a Go duration such as 30s
	MaxRetries     string `yaml:"maxRetries"`     // retries of 5xx and network errors
	MaxRetryAfter  string `yaml:"maxRetryAfter"`  // longest Retry-After waited before giving up
	RateLimit      string `yaml:"rateLimit"`      // requests per rateWindow
	RateWindow     string `yaml:"rateWindow"`
}

// ConfigFromEnv reads SAIL_BASE_URL, SAIL_CLIENT_ID and SAIL_CLIENT_SECRET through lookup
// (os.LookupEnv in production).
func ConfigFromEnv(lookup func(string) (string, bool)) Config {
	var c Config
	if v, ok := lookup(EnvBaseURL); ok {
		c.BaseURL = strings.TrimSpace(v)
	}
	if v, ok := lookup(EnvClientID); ok {
		c.ClientID = strings.TrimSpace(v)
	}
	if v, ok := lookup(EnvClientSecret); ok && v != "" {
		c.ClientSecret = sdim.NewSecret(v, "env:"+EnvClientSecret)
	}
	return c
}

// Overlay returns c with every field that o sets replaced by o's. A client secret in o,
// from the environment or a file, replaces both kinds in c.
func (c Config) Overlay(o Config) Config {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.BaseURL, o.BaseURL)
	set(&c.TokenURL, o.TokenURL)
	set(&c.ClientID, o.ClientID)
	set(&c.APIVersion, o.APIVersion)
	if !o.ClientSecret.IsZero() || o.ClientSecretFile != "" {
		c.ClientSecret, c.ClientSecretFile = o.ClientSecret, o.ClientSecretFile
	}
	set(&c.RequestTimeout, o.RequestTimeout)
	set(&c.MaxRetries, o.MaxRetries)
	set(&c.MaxRetryAfter, o.MaxRetryAfter)
	set(&c.RateLimit, o.RateLimit)
	set(&c.RateWindow, o.RateWindow)
	return c
}

// Settings are validated connection settings: what New needs.
type Settings struct {
	BaseURL      string // scheme and host, such as https://acme.api.identitynow.com
	TokenURL     string // default BaseURL + /oauth/token
	ClientID     string
	ClientSecret sdim.Secret
	APIVersion   sdim.APIVersion

	RequestTimeout time.Duration // per attempt
	MaxRetries     int           // retries of 5xx, timeouts and resets (never of a POST)
	RetryBaseDelay time.Duration // first backoff; doubles each retry, with jitter
	RetryMaxDelay  time.Duration // backoff ceiling
	MaxRetryAfter  time.Duration // a longer Retry-After is an error, not a wait
	// MaxRateLimitRetries bounds how many 429 answers one call waits out.
	MaxRateLimitRetries int
	// RateLimit is the client-side limit: no RateWindow holds more requests than this.
	RateLimit  int
	RateWindow time.Duration
	UserAgent  string // sdim-sync/<version>
}

// Settings validates c, fills in the defaults and reads the client secret file (through
// readFile: os.ReadFile in production). Every problem is reported at once, before any
// request is made.
func (c Config) Settings(readFile func(string) ([]byte, error)) (Settings, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	s := Settings{
		ClientID:            c.ClientID,
		ClientSecret:        c.ClientSecret,
		RequestTimeout:      DefaultRequestTimeout,
		MaxRetries:          DefaultMaxRetries,
		RetryBaseDelay:      DefaultRetryBaseDelay,
		RetryMaxDelay:       DefaultRetryMaxDelay,
		MaxRetryAfter:       DefaultMaxRetryAfter,
		MaxRateLimitRetries: 30,
		RateLimit:           DefaultRateLimit,
		RateWindow:          DefaultRateWindow,
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	var err error
	if c.BaseURL == "" {
		bad("the tenant URL is not set: set %s, --base-url or tenant.baseURL (https://{tenant}.api.identitynow.com)", EnvBaseURL)
	} else if s.BaseURL, err = checkBaseURL(c.BaseURL); err != nil {
		bad("base URL: %w", err)
	}
	if c.TokenURL != "" {
		if s.TokenURL, err = checkURL(c.TokenURL); err != nil {
			bad("token URL: %w", err)
		}
	} else if s.BaseURL != "" {
		s.TokenURL = s.BaseURL + "/oauth/token"
	}
	if s.ClientID == "" {
		bad("the client id is not set: set %s, --client-id or tenant.clientID", EnvClientID)
	}
	if c.ClientSecretFile != "" {
		data, err := readFile(c.ClientSecretFile)
		switch {
		case err != nil:
			bad("client secret file: %w", err)
		case len(strings.TrimRight(string(data), "\r\n")) == 0:
			bad("client secret file %s is empty", c.ClientSecretFile)
		default:
			s.ClientSecret = sdim.NewSecret(strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r"), "file:"+c.ClientSecretFile)
		}
	} else if s.ClientSecret.IsZero() {
		bad("the client secret is not set: set %s or --client-secret-file (tenant.clientSecretFile)", EnvClientSecret)
	}
	s.APIVersion = sdim.V3
	if c.APIVersion != "" {
		if s.APIVersion, err = sdim.ParseAPIVersion(c.APIVersion); err != nil {
			bad("%w", err)
		}
	}
	duration := func(name, v string, dst *time.Duration) {
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad("%s %q: want a positive duration such as 30s or 2m", name, v)
			return
		}
		*dst = d
	}
	count := func(name, v string, min int, dst *int) {
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			bad("%s %q: want a whole number of at least %d", name, v, min)
			return
		}
		*dst = n
	}
	duration("request timeout", c.RequestTimeout, &s.RequestTimeout)
	duration("max Retry-After", c.MaxRetryAfter, &s.MaxRetryAfter)
	duration("rate window", c.RateWindow, &s.RateWindow)
	count("max retries", c.MaxRetries, 0, &s.MaxRetries)
	count("rate limit", c.RateLimit, 1, &s.RateLimit)
	if len(errs) > 0 {
		return Settings{}, &SettingsError{Problems: errs}
	}
	return s, nil
}

// SettingsError lists every problem of the connection settings.
type SettingsError struct {
	Problems []error
}

func (e *SettingsError) Error() string {
	var b strings.Builder
	b.WriteString("tenant connection settings:")
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.Error())
	}
	return b.String()
}

func (e *SettingsError) Unwrap() []error { return e.Problems }

// checkURL accepts an absolute http(s) URL without query, fragment or credentials and
// returns it without a trailing slash.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("%q: want an http or https URL such as https://acme.api.identitynow.com", raw)
	case u.Host == "":
		return "", fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return "", fmt.Errorf("a URL must not carry credentials: use the client id and secret settings")
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%q: a query or fragment is not allowed here", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// checkBaseURL is checkURL for the base URL, which must be the API root: a path such as
// /v3 would put every call and the token endpoint in the wrong place, and the tenant
// would answer 404 or 401, which reads as a refused secret.
func checkBaseURL(raw string) (string, error) {
	base, err := checkURL(raw)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Path != "" {
		root := u.Scheme + "://" + u.Host
		return "", fmt.Errorf("%q has a path (%s): the base URL must be the API root without a path, such as %s; sdim-sync adds the API paths (/v3/service-desk-integrations, /oauth/token) itself, and --api-version picks the version",
			raw, u.Path, root)
	}
	return base, nil
}
