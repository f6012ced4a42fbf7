package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// connFlags are the tenant connection flags of the commands that talk to a tenant.
// Precedence: flags, then the environment, then the config file.
type connFlags struct {
	config string
	cmd    *cobra.Command
	// lookupEnv and readFile are os.LookupEnv and os.ReadFile outside tests.
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
}

// configFile is the config file's layout. Unknown keys are errors, so a typo is caught.
type configFile struct {
	Tenant tenant.Config `yaml:"tenant"`
	// Serve holds the daemon's settings (serve only).
	Serve serveConfig `yaml:"serve"`
	// Emulator, when present, makes serve start the built-in emulated tenant in its own
	// process and connect to it, instead of a tenant the tenant section names.
	Emulator *emulatorConfig `yaml:"emulator"`

	// root is the parsed document, for the line of a value that fails validation.
	root *yaml.Node
}

// line returns the line of the value at path (section, key) in the config file, or 0.
func (cf configFile) line(path ...string) int {
	n := cf.root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return 0
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	if n == nil {
		return 0
	}
	return n.Line
}

// EnvConfig names the config file when --config is not given.
const EnvConfig = "SDIM_SYNC_CONFIG"

// readConfigFile reads and strictly decodes a config file; no path is an empty one. The
// path is --config, else SDIM_SYNC_CONFIG; relative paths in the tenant section resolve
// from the file's directory, as those of the serve and emulator sections do.
func (o *connFlags) readConfigFile() (configFile, error) {
	var cf configFile
	if o.config == "" && !o.cmd.Flags().Changed("config") {
		if v, ok := o.lookupEnv(EnvConfig); ok && v != "" {
			o.config = v
		}
	}
	if o.config == "" {
		return cf, nil
	}
	data, err := o.readFile(o.config)
	if err != nil {
		return cf, fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cf); err != nil && !errors.Is(err, io.EOF) {
		return cf, fmt.Errorf("config file %s: %w", o.config, explainYAMLError(err))
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		cf.root = &root
	}
	if p := cf.Tenant.ClientSecretFile; p != "" && !filepath.IsAbs(p) {
		cf.Tenant.ClientSecretFile = filepath.Join(filepath.Dir(o.config), p)
	}
	return cf, nil
}

// configSections are the config file's sections by the Go type yaml.v3 names in its
// errors, with the type whose keys they hold.
var configSections = map[string]struct {
	name string
	typ  reflect.Type
}{
	"main.configFile":     {"", reflect.TypeFor[configFile]()},
	"tenant.Config":       {"tenant", reflect.TypeFor[tenant.Config]()},
	"main.serveConfig":    {"serve", reflect.TypeFor[serveConfig]()},
	"main.emulatorConfig": {"emulator", reflect.TypeFor[emulatorConfig]()},
}

var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// explainYAMLError turns yaml.v3's "line 3: field baseUrl not found in type tenant.Config"
// into "line 3: unknown key tenant.baseUrl: did you mean baseURL?".
func explainYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		g := unknownFieldRE.FindStringSubmatch(m)
		if g == nil {
			continue
		}
		sec, ok := configSections[g[3]]
		if !ok {
			continue
		}
		key, known := g[2], yamlKeys(sec.typ)
		if sec.name != "" {
			key = sec.name + "." + key
		}
		msgs[i] = fmt.Sprintf("line %s: unknown key %s", g[1], key)
		if s := suggest(g[2], known); s != "" {
			msgs[i] += fmt.Sprintf(": did you mean %s?", s)
		} else {
			msgs[i] += fmt.Sprintf(" (known keys: %s)", strings.Join(known, ", "))
		}
	}
	if len(msgs) == 1 {
		return errors.New(msgs[0])
	}
	return errors.New("\n  " + strings.Join(msgs, "\n  "))
}

// yamlKeys lists the keys of a struct type as its yaml tags name them.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" && f.IsExported() {
			keys = append(keys, name)
		}
	}
	return keys
}

func addConnFlags(cmd *cobra.Command) *connFlags {
	o := &connFlags{cmd: cmd, lookupEnv: os.LookupEnv, readFile: os.ReadFile}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "config file (YAML) whose tenant: section holds connection settings (env "+EnvConfig+")")
	f.String("base-url", "", "tenant API URL, https://{tenant}.api.identitynow.com (env "+tenant.EnvBaseURL+")")
	f.String("client-id", "", "OAuth client id or personal access token id (env "+tenant.EnvClientID+")")
	f.String("client-secret-file", "", "file holding the client secret (or env "+tenant.EnvClientSecret+"; never a flag)")
	f.String("token-url", "", "OAuth token URL (default BASE_URL/oauth/token)")
	f.String("api-version", "", "API version: v3 (default), v2024, v2025 or v1")
	f.Duration("request-timeout", tenant.DefaultRequestTimeout, "timeout of each request attempt")
	f.Int("max-retries", tenant.DefaultMaxRetries, "retries of 5xx answers and network errors (never of a create)")
	f.Duration("max-retry-after", tenant.DefaultMaxRetryAfter, "longest Retry-After to wait; a longer one is an error")
	f.Int("rate-limit", tenant.DefaultRateLimit, "client-side limit: requests per --rate-window")
	f.Duration("rate-window", tenant.DefaultRateWindow, "window of --rate-limit")
	return o
}

// flagConfig is the layer the flags the user gave make.
func (o *connFlags) flagConfig() tenant.Config {
	f := o.cmd.Flags()
	val := func(name string) string {
		if !f.Changed(name) {
			return ""
		}
		return f.Lookup(name).Value.String()
	}
	return tenant.Config{
		BaseURL:          val("base-url"),
		ClientID:         val("client-id"),
		ClientSecretFile: val("client-secret-file"),
		TokenURL:         val("token-url"),
		APIVersion:       val("api-version"),
		RequestTimeout:   val("request-timeout"),
		MaxRetries:       val("max-retries"),
		MaxRetryAfter:    val("max-retry-after"),
		RateLimit:        val("rate-limit"),
		RateWindow:       val("rate-window"),
	}
}

// settings stacks the config file, the environment and the flags, and validates the
// result before any request is made.
func (o *connFlags) settings() (tenant.Settings, error) {
	cf, err := o.readConfigFile()
	if err != nil {
		return tenant.Settings{}, err
	}
	if cf.Emulator != nil && cf.Tenant == (tenant.Config{}) {
		return tenant.Settings{}, fmt.Errorf("config file %s: its emulator section starts an emulated tenant inside sdim-sync serve only; for this command start one with sdim-sync emulator and point SAIL_BASE_URL at it", o.config)
	}
	c := cf.Tenant.Overlay(tenant.ConfigFromEnv(o.lookupEnv)).Overlay(o.flagConfig())
	s, err := c.Settings(o.readFile)
	if err != nil {
		return tenant.Settings{}, err
	}
	s.UserAgent = "sdim-sync/" + version
	return s, nil
}

// cliLogger logs warnings (retries, rate-limit waits) to w, and with verbose every request.
func cliLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
