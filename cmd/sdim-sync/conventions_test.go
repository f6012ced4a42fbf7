package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// cli runs the binary's commands in-process.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestFlagAndArgumentErrors: an unknown flag suggests the nearest one and points at
// --help; --client-secret says where the secret comes from instead; an argument too many
// says what the command takes rather than calling it an unknown command; an unknown
// command still suggests the nearest one.
func TestFlagAndArgumentErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"plan", "--prun"}, []string{"unknown flag --prun for sdim-sync plan: did you mean --prune?", "See 'sdim-sync plan --help'."}, nil},
		{[]string{"apply", "--auto-aprove"}, []string{"did you mean --auto-approve?"}, nil},
		{[]string{"serve", "--mdoe", "enforce"}, []string{"did you mean --mode?"}, nil},
		{[]string{"validate", "--onlin"}, []string{"did you mean --online?"}, nil},
		{[]string{"plan", "--Prune"}, []string{"did you mean --prune?"}, nil},
		{[]string{"plan", "--detailed"}, []string{"did you mean --detailed-exitcode?"}, nil},
		{[]string{"export", "--baseurl", "x"}, []string{"did you mean --base-url?"}, nil},
		{[]string{"plan", "--zzzzzzzz"}, []string{"unknown flag --zzzzzzzz for sdim-sync plan", "See 'sdim-sync plan --help'."}, []string{"did you mean"}},
		{[]string{"plan", "-Z"}, []string{"unknown flag -Z", "See 'sdim-sync plan --help'."}, nil},
		{[]string{"plan", "--client-secret", "hunter2-value"}, []string{"the client secret is never a flag", "SAIL_CLIENT_SECRET", "--client-secret-file FILE"}, []string{"hunter2-value"}},
		{[]string{"export", "--client-secret=hunter2-value"}, []string{"the client secret is never a flag", "SAIL_CLIENT_SECRET"}, []string{"hunter2-value"}},
		{[]string{"plan", "--max-deletes", "many"}, []string{`invalid argument "many" for "--max-deletes"`, "See 'sdim-sync plan --help'."}, nil},
		{[]string{"plan", "a", "b"}, []string{"sdim-sync plan takes at most one argument, [DIR", `; got "a" "b"`, "See 'sdim-sync plan --help'."}, []string{"unknown command"}},
		{[]string{"version", "x"}, []string{`sdim-sync version takes no arguments; got "x"`}, []string{"unknown command"}},
		{[]string{"emulator", "extra"}, []string{"sdim-sync emulator takes no arguments"}, []string{"unknown command"}},
		{[]string{"validate", "a", "b"}, []string{"sdim-sync validate takes at most one argument, [DIR]"}, []string{"unknown command"}},
		{[]string{"completion", "bash", "x"}, []string{"sdim-sync completion bash takes no arguments"}, []string{"unknown command"}},
		{[]string{"plna"}, []string{`unknown command "plna" for "sdim-sync"`, "Did you mean this?\n\tplan", "See 'sdim-sync --help'."}, nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := cli(t, tc.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out+errOut, n) {
					t.Errorf("output has %q:\n%s", n, errOut)
				}
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	code, cmdOut, _ := cli(t, "version")
	code2, flagOut, errOut := cli(t, "--version")
	if code != 0 || code2 != 0 {
		t.Fatalf("exit %d and %d: %s", code, code2, errOut)
	}
	if cmdOut != flagOut || !strings.HasPrefix(flagOut, "sdim-sync ") || strings.Count(flagOut, "\n") != 1 {
		t.Errorf("--version printed %q, version printed %q", flagOut, cmdOut)
	}
}

func TestColourAllowed(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, true},
		{map[string]string{"TERM": "xterm-256color"}, true},
		{map[string]string{"NO_COLOR": ""}, true}, // https://no-color.org: only a non-empty value counts
		{map[string]string{"NO_COLOR": "1"}, false},
		{map[string]string{"NO_COLOR": "0"}, false}, // any non-empty value, even "0"
		{map[string]string{"TERM": "dumb"}, false},
		{map[string]string{"TERM": "dumb", "NO_COLOR": ""}, false},
	}
	for _, tc := range tests {
		got := colourAllowed(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if got != tc.want {
			t.Errorf("%v: colour %v, want %v", tc.env, got, tc.want)
		}
	}
	// The plan's decision goes through it: a terminal is never assumed for a buffer, and
	// --no-color turns colour off whatever the environment says.
	var o planOpts
	cmd := &cobra.Command{}
	cmd.SetOut(os.Stdout)
	conn := &connFlags{lookupEnv: func(string) (string, bool) { return "", false }}
	o.noColor = true
	if o.colour(cmd, conn) {
		t.Error("--no-color coloured")
	}
}

// complete asks the hidden __complete command, as a shell does, and returns the values
// offered (without descriptions) and the directive.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	code, out, errOut := cli(t, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, code, errOut)
	}
	var values []string
	directive := ""
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			continue
		}
		v, _, _ := strings.Cut(line, "\t")
		values = append(values, v)
	}
	return values, directive
}

func TestCompletions(t *testing.T) {
	noFile := ":4"  // cobra.ShellCompDirectiveNoFileComp
	dirs := ":16"   // cobra.ShellCompDirectiveFilterDirs
	fileExt := ":8" // cobra.ShellCompDirectiveFilterFileExt
	// DIR arguments complete directories; DIR|FILE arguments (a single file too) both.
	argDirective := func(cmd string) string {
		root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
		c, _, _ := root.Find([]string{cmd})
		if strings.Contains(c.Use, "FILE") {
			return ":0"
		}
		return dirs
	}
	planArg, applyArg := argDirective("plan"), argDirective("apply")
	tests := []struct {
		args      []string
		values    []string
		directive string
	}{
		{[]string{"plan", "--output", ""}, []string{"text", "json", "markdown"}, noFile},
		{[]string{"plan", "-o", ""}, []string{"text", "json", "markdown"}, noFile},
		{[]string{"apply", "--api-version", ""}, []string{"v3", "v2024", "v2025", "v1"}, noFile},
		{[]string{"export", "--api-version", ""}, []string{"v3", "v2024", "v2025", "v1"}, noFile},
		{[]string{"validate", "-o", ""}, []string{"text", "json"}, noFile},
		{[]string{"serve", "--mode", ""}, []string{"observe", "enforce"}, noFile},
		{[]string{"serve", "--log-format", ""}, []string{"auto", "json", "text"}, noFile},
		{[]string{"serve", "--log-level", ""}, []string{"debug", "info", "warn", "error"}, noFile},
		{[]string{"plan", "--config", ""}, []string{"yaml", "yml"}, fileExt},
		{[]string{"plan", ""}, nil, planArg},
		{[]string{"validate", ""}, nil, dirs},
		{[]string{"serve", ""}, nil, dirs},
		{[]string{"apply", ""}, nil, applyArg},
		{[]string{"plan", "configs", ""}, nil, noFile},
		{[]string{"version", ""}, nil, noFile},
		{[]string{"completion", ""}, []string{"bash", "fish", "powershell", "zsh"}, noFile},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			values, directive := complete(t, tc.args...)
			if tc.values != nil && !slices.Equal(values, tc.values) {
				t.Errorf("values %q, want %q", values, tc.values)
			}
			if directive != tc.directive {
				t.Errorf("directive %s, want %s", directive, tc.directive)
			}
		})
	}
}

// TestEveryOutputFlagCompletes: the completions are registered by walking the command
// tree, so every command with -o/--output, --api-version or --mode offers values, whoever
// wrote it, and every value offered for --output is one the command accepts.
func TestEveryOutputFlagCompletes(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		for _, name := range []string{"output", "api-version", "mode", "log-format"} {
			if c.Flags().Lookup(name) == nil {
				continue
			}
			path := strings.Fields(c.CommandPath())[1:]
			values, directive := complete(t, append(path, "--"+name, "")...)
			if len(values) < 2 || directive != ":4" {
				t.Errorf("%s --%s: values %q, directive %s", c.CommandPath(), name, values, directive)
			}
			checked++
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if checked < 5 {
		t.Errorf("only %d flags checked", checked)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{"bash": "bash completion", "zsh": "#compdef sdim-sync", "fish": "fish completion", "powershell": "powershell completion"} {
		code, out, errOut := cli(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %d bytes without %q: %s", shell, code, len(out), want, errOut)
		}
	}
}

func TestSuggest(t *testing.T) {
	flags := []string{"prune", "managed-scope", "max-deletes", "output", "out", "base-url", "rate-limit", "rate-window"}
	tests := map[string]string{
		"prun": "prune", "purne": "prune", "max-delete": "max-deletes", "outptu": "output",
		"BASE-URL": "base-url", "xyzzy": "", "o": "", "managed": "managed-scope",
	}
	for word, want := range tests {
		if got := suggest(word, flags); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

// TestConfigFileErrors: an unknown key of the config file names its line and the key it
// likely meant, in each section.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		config string
		want   string
	}{
		{"tenant:\n  baseUrl: https://acme.api.identitynow.com\n", "line 2: unknown key tenant.baseUrl: did you mean baseURL?"},
		{"tenant:\n  clientId: x\n", "line 2: unknown key tenant.clientId: did you mean clientID?"},
		{"serve:\n  mode: observe\n  shedule: '@hourly'\n", "line 3: unknown key serve.shedule: did you mean schedule?"},
		{"tennant:\n  baseURL: x\n", "line 1: unknown key tennant: did you mean tenant?"},
		{"emulator:\n  generat: 3\n", "line 2: unknown key emulator.generat: did you mean generate?"},
		{"tenant:\n  colour: blue\n", "line 2: unknown key tenant.colour (known keys: baseURL, tokenURL, clientID, apiVersion, clientSecretFile,"},
	}
	dir := t.TempDir()
	for i, tc := range tests {
		path := filepath.Join(dir, "config"+string(rune('a'+i))+".yaml")
		if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := cli(t, "validate", "--online", "--config", path, t.TempDir())
		if code != 1 || !strings.Contains(errOut, "config file "+path+": "+tc.want) {
			t.Errorf("%q: exit %d, stderr %s\nwant %q", tc.config, code, errOut, tc.want)
		}
	}
}

// TestConfigFromEnvironment: SDIM_SYNC_CONFIG names the config file when --config is not
// given; --config wins; a relative clientSecretFile resolves from the config file's
// directory, wherever the command runs.
func TestConfigFromEnvironment(t *testing.T) {
	_, url := startValidateTenant(t)
	for _, k := range []string{"SAIL_BASE_URL", "SAIL_CLIENT_ID", "SAIL_CLIENT_SECRET"} {
		t.Setenv(k, "")
	}
	cfgDir := t.TempDir()
	writeConfig := func(name, body string) string {
		p := filepath.Join(cfgDir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeConfig("client-secret", "demo-secret\n")
	good := writeConfig("good.yaml", "tenant:\n  baseURL: "+url+"\n  clientID: sdim-sync-demo\n  clientSecretFile: client-secret\n")
	bad := writeConfig("bad.yaml", "tenant:\n  baseURL: "+url+"\n  clientID: sdim-sync-demo\n  clientSecretFile: no-such-file\n")
	dir := writeDir(t, map[string]string{"a.yaml": "kind: ServiceDeskIntegration\nname: A\nspec:\n  type: ServiceNowSDIM\n  attributes: {url: https://a.example}\n"})
	t.Chdir(t.TempDir()) // elsewhere than the config file

	t.Setenv(EnvConfig, good)
	if code, out, errOut := cli(t, "validate", "--online", dir); code != 0 || !strings.Contains(out, "OK online") {
		t.Errorf("config from %s: exit %d, %s%s", EnvConfig, code, out, errOut)
	}
	t.Setenv(EnvConfig, bad)
	if code, _, errOut := cli(t, "validate", "--online", dir); code != 1 || !strings.Contains(errOut, filepath.Join(cfgDir, "no-such-file")) {
		t.Errorf("a bad config from %s: exit %d, %s", EnvConfig, code, errOut)
	}
	if code, _, errOut := cli(t, "validate", "--online", "--config", good, dir); code != 0 {
		t.Errorf("--config over %s: exit %d, %s", EnvConfig, code, errOut)
	}
}

// TestEmulatorURL: the URL printed reaches the listener: loopback for a wildcard address,
// the real port for :0; anything beyond loopback is flagged.
func TestEmulatorURL(t *testing.T) {
	tests := []struct {
		listen  string
		addr    *net.TCPAddr
		want    string
		exposed bool
	}{
		{"127.0.0.1:7100", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7100}, "http://127.0.0.1:7100", false},
		{"127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}, "http://127.0.0.1:41234", false},
		{"0.0.0.0:7100", &net.TCPAddr{IP: net.IPv4zero, Port: 7100}, "http://127.0.0.1:7100", true},
		{":7100", &net.TCPAddr{IP: net.IPv6unspecified, Port: 7100}, "http://127.0.0.1:7100", true},
		{"[::]:7100", &net.TCPAddr{IP: net.IPv6unspecified, Port: 7100}, "http://[::1]:7100", true},
		{"[::1]:7100", &net.TCPAddr{IP: net.IPv6loopback, Port: 7100}, "http://[::1]:7100", false},
		{"192.0.2.10:7100", &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 7100}, "http://192.0.2.10:7100", true},
	}
	for _, tc := range tests {
		got, exposed := emulatorURL(tc.listen, tc.addr)
		if got != tc.want || exposed != tc.exposed {
			t.Errorf("%s: %s %v, want %s %v", tc.listen, got, exposed, tc.want, tc.exposed)
		}
	}
}

// TestEmulatorWarnsBeyondLoopback runs the command on every interface with a free port:
// it prints a loopback URL with the real port and warns about the demo credentials.
func TestEmulatorWarnsBeyondLoopback(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"emulator", "--listen", "0.0.0.0:0"}, &out, &errOut) }()
	defer func() { cancel(); <-done }()
	base := waitForLine(t, &out)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Errorf("printed %q", base)
	}
	if !strings.Contains(errOut.String(), "level=WARN") || !strings.Contains(errOut.String(), "listens beyond loopback") ||
		!strings.Contains(errOut.String(), "demo credentials") {
		t.Errorf("no warning: %s", errOut.String())
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	var out2, errOut2 syncBuffer
	done2 := make(chan int, 1)
	go func() { done2 <- run(ctx2, []string{"emulator", "--listen", "127.0.0.1:0"}, &out2, &errOut2) }()
	defer func() { cancel2(); <-done2 }()
	waitForLine(t, &out2)
	if strings.Contains(errOut2.String(), "beyond loopback") {
		t.Errorf("a warning on loopback: %s", errOut2.String())
	}
}

func waitForLine(t *testing.T, b *syncBuffer) string {
	t.Helper()
	for range 500 {
		if s := b.String(); strings.HasSuffix(s, "\n") {
			return strings.TrimSpace(s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("nothing printed")
	return ""
}
