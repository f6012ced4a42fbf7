package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdim-sync/sdim-sync/internal/daemon"
)

// serveSettingsOf parses a serve command line as the binary does and returns the merged
// settings, or the error, without starting anything.
func serveSettingsOf(t *testing.T, args ...string) (serveSettings, error) {
	t.Helper()
	var got serveSettings
	cmd := newServeCmdWith(func(cmd *cobra.Command, conn *connFlags, args []string, o serveOpts) error {
		conn.lookupEnv = func(string) (string, bool) { return "", false }
		var err error
		got, err = mergeServe(cmd, conn, args, o)
		return err
	})
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return got, err
}

func TestServeSettings(t *testing.T) {
	dir := t.TempDir()
	cfg := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	full := cfg("full.yaml", `serve:
  dir: desired
  schedule: "*/10 * * * *"
  watch: false
  debounce: 3s
  mode: enforce
  listen: 0.0.0.0:9999
  logFormat: json
  shutdownGrace: 10s
  prune: true
  managedScope: ["ServiceNow*"]
  maxDeletes: 2
  concurrency: 2
`)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, st serveSettings)
		err   []string
	}{
		{
			name: "defaults", args: []string{"desired"},
			check: func(t *testing.T, st serveSettings) {
				c := st.cfg
				if c.Dir != "desired" || c.Mode != daemon.ModeObserve || c.Schedule != "@every 5m" || !c.Watch ||
					c.Debounce != time.Second || c.Listen != "127.0.0.1:9477" || c.ShutdownGrace != 30*time.Second || c.Policy.Prune {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "the config file, relative dir from its directory", args: []string{"--config", full},
			check: func(t *testing.T, st serveSettings) {
				c := st.cfg
				if c.Dir != filepath.Join(dir, "desired") || c.Mode != daemon.ModeEnforce || c.Schedule != "*/10 * * * *" || c.Watch ||
					c.Debounce != 3*time.Second || c.Listen != "0.0.0.0:9999" || st.logFormat != "json" || c.ShutdownGrace != 10*time.Second ||
					!c.Policy.Prune || c.Policy.MaxDeletes != 2 || len(c.Policy.ManagedScope) != 1 || c.Concurrency != 2 {
					t.Errorf("from the file: %+v", c)
				}
			},
		},
		{
			name: "flags win over the file",
			args: []string{"--config", full, "other", "--mode", "observe", "--watch", "--schedule", "@every 1m", "--max-deletes", "7", "--listen", "127.0.0.1:1"},
			check: func(t *testing.T, st serveSettings) {
				c := st.cfg
				if c.Dir != "other" || c.Mode != daemon.ModeObserve || !c.Watch || c.Schedule != "@every 1m" || c.Policy.MaxDeletes != 7 ||
					c.Listen != "127.0.0.1:1" || c.Debounce != 3*time.Second {
					t.Errorf("flags over the file: %+v", c)
				}
			},
		},
		{
			name: "serve.allowSecretClear, and the flag over it",
			args: []string{"--config", cfg("clear.yaml", "serve:\n  dir: x\n  allowSecretClear: true\n")},
			check: func(t *testing.T, st serveSettings) {
				if !st.cfg.Policy.AllowSecretClear {
					t.Errorf("serve.allowSecretClear not taken: %+v", st.cfg.Policy)
				}
			},
		},
		{
			name: "--allow-secret-clear=false over the file",
			args: []string{"--config", cfg("clear2.yaml", "serve:\n  dir: x\n  allowSecretClear: true\n"), "--allow-secret-clear=false"},
			check: func(t *testing.T, st serveSettings) {
				if st.cfg.Policy.AllowSecretClear {
					t.Errorf("the flag does not win: %+v", st.cfg.Policy)
				}
			},
		},
		{
			name: "bad values name their line",
			args: []string{"--config", cfg("bad.yaml", "serve:\n  dir: x\n  schedule: every day\n  debounce: soon\n  mode: repair\n  logFormat: xml\n")},
			err:  []string{"line 3: serve.schedule", "line 4: serve.debounce", "line 5: serve.mode", "line 6: serve.logFormat"},
		},
		{
			name: "an unknown key is refused with its line",
			args: []string{"--config", cfg("typo.yaml", "serve:\n  dir: x\n  shedule: '@every 1m'\n")},
			err:  []string{"line 3: unknown key serve.shedule: did you mean schedule?"},
		},
		{
			name: "no directory",
			args: []string{},
			err:  []string{"no desired-state directory"},
		},
		{
			name: "a bad flag value",
			args: []string{"d", "--mode", "repair"},
			err:  []string{`serve.mode: "repair": use observe or enforce`},
		},
		{
			name: "tenant and emulator sections together",
			args: []string{"--config", cfg("both.yaml", "tenant: {baseURL: https://x.api.identitynow.com}\nemulator: {}\nserve: {dir: d}\n")},
			err:  []string{"both a tenant and an emulator section"},
		},
		{
			name: "the emulator section: seed relative to the file",
			args: []string{"--config", cfg("emu.yaml", "emulator: {seed: tenant.yaml}\nserve: {dir: d}\n")},
			check: func(t *testing.T, st serveSettings) {
				if st.emulator == nil || st.emulator.Seed != filepath.Join(dir, "tenant.yaml") || st.emulator.Listen != "127.0.0.1:0" {
					t.Errorf("emulator: %+v", st.emulator)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := serveSettingsOf(t, tt.args...)
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", tt.err)
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, st)
		})
	}
}
