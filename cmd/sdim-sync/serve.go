package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/daemon"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/metrics"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// DefaultListen is where serve answers HTTP unless told otherwise.
const DefaultListen = "127.0.0.1:9477"

// serveConfig is the config file's serve section. Every key has a flag of the same
// meaning; a flag given on the command line wins. Relative paths resolve from the config
// file's directory.
type serveConfig struct {
	Dir                      string   `yaml:"dir"`
	Schedule                 string   `yaml:"schedule"`
	Watch                    *bool    `yaml:"watch"`
	Debounce                 string   `yaml:"debounce"`
	Mode                     string   `yaml:"mode"`
	Listen                   string   `yaml:"listen"`
	LogFormat                string   `yaml:"logFormat"`
	LogLevel                 string   `yaml:"logLevel"`
	ShutdownGrace            string   `yaml:"shutdownGrace"`
	Prune                    *bool    `yaml:"prune"`
	ManagedScope             []string `yaml:"managedScope"`
	MaxDeletes               *int     `yaml:"maxDeletes"`
	PatchableFields          []string `yaml:"patchableFields"`
	SIMPatchableFields       []string `yaml:"simPatchableFields"`
	SecretKeys               []string `yaml:"secretKeys"`
	SIM                      *bool    `yaml:"sim"`
	AllowSecretFilesOutside  *bool    `yaml:"allowSecretFilesOutside"`
	AllowSecretClear         *bool    `yaml:"allowSecretClear"`
	Concurrency              *int     `yaml:"concurrency"`
	DriftedObjectSeries      *bool    `yaml:"driftedObjectSeries"`
	DriftedObjectSeriesLimit *int     `yaml:"driftedObjectSeriesLimit"`
	StateDir                 string   `yaml:"stateDir"`
	PruneUnownedByName       *bool    `yaml:"pruneUnownedByName"`
}

// emulatorConfig is the config file's emulator section: the built-in emulated tenant that
// serve starts in its own process, for the demo and for trying sdim-sync out.
type emulatorConfig struct {
	// Listen is where the emulated tenant answers (default 127.0.0.1:0, a free port).
	Listen string `yaml:"listen"`
	// Seed is a state file (docs/emulator.md) whose objects the tenant starts with.
	Seed string `yaml:"seed"`
	// Generate adds this many generated integrations at start.
	Generate int `yaml:"generate"`
}

type serveOpts struct {
	planOpts
	schedule      string
	watch         bool
	debounce      time.Duration
	mode          string
	listen        string
	logFormat     string
	logLevel      string
	shutdownGrace time.Duration
	concurrency   int
	driftSeries   bool
	driftLimit    int
}

func newServeCmd() *cobra.Command { return newServeCmdWith(runServe) }

// newServeCmdWith builds the serve command around run (tests pass their own).
func newServeCmdWith(run func(cmd *cobra.Command, conn *connFlags, args []string, o serveOpts) error) *cobra.Command {
	var o serveOpts
	cmd := &cobra.Command{
		Use:   "serve [DIR]",
		Short: "Run as a daemon: reconcile on a schedule and on file changes, serve metrics and status",
		Long: `Keep the tenant in line with the desired state in DIR, as a long-running service. A run
(load, read the tenant, plan, and in enforce mode apply and read back: the steps of plan
and apply) starts at once, then on the --schedule, when a file in DIR or a secret file
it names changes (after --debounce, and only when their content changed), and on SIGHUP.
Runs never overlap: whatever asks for a run during one gets exactly one run after it.

In observe mode (the default) nothing is ever written: drift is reported in the metrics,
the logs and /status. In enforce mode each plan is applied with the refusals of
apply --auto-approve: a blocked plan or one over --max-deletes writes nothing.

HTTP on --listen: /metrics (Prometheus), /healthz (alive), /readyz (a run reached the
tenant within three schedule intervals), /status (JSON: settings, the last runs, the
current drift).

SIGTERM or SIGINT: no new run starts, changes in flight get --shutdown-grace, exit 0.

Settings come from flags, the environment (SAIL_* for the tenant) and the config file's
tenant and serve sections; a flag given on the command line wins. A config file with an
emulator section starts the built-in emulated tenant in this process instead
(configs/demo.yaml).`,
		Example: `  sdim-sync serve --config configs/demo.yaml                       # the demo, on the emulated tenant
  sdim-sync serve desired/ --mode enforce --schedule '@every 10m'
  sdim-sync serve --config /etc/sdim-sync/config.yaml --listen 0.0.0.0:9477`,
		Args: cobra.MaximumNArgs(1),
	}
	conn := addConnFlags(cmd)
	f := cmd.Flags()
	addPlanFlags(f, &o.planOpts)
	f.StringVar(&o.schedule, "schedule", daemon.DefaultSchedule, "when to run: five cron fields (optionally six, with seconds) or @every DURATION, @hourly...")
	f.BoolVar(&o.watch, "watch", true, "also run when the desired files or the secret files they name change")
	f.DurationVar(&o.debounce, "debounce", daemon.DefaultDebounce, "quiet time after a file event before the change is checked")
	f.StringVar(&o.mode, "mode", string(daemon.ModeObserve), "observe (report drift, never write) or enforce (apply each plan)")
	f.StringVar(&o.listen, "listen", DefaultListen, "HTTP address of /metrics, /healthz, /readyz and /status")
	f.StringVar(&o.logFormat, "log-format", "auto", "auto (JSON unless standard error is a terminal), json or text")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&o.shutdownGrace, "shutdown-grace", daemon.DefaultShutdownGrace, "on SIGTERM, how long changes in flight may take to end")
	f.IntVar(&o.concurrency, "concurrency", applier.DefaultConcurrency, "changes applied at once within each phase (enforce mode)")
	f.BoolVar(&o.driftSeries, "drifted-object-series", false, "export one metric series per drifted object (kind and name)")
	f.IntVar(&o.driftLimit, "drifted-object-series-limit", 100, "cap of the per-object series")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.settle(cmd)
		return run(cmd, conn, args, o)
	}
	return cmd
}

// serveSettings are serve's settings with flags, config file and defaults merged.
type serveSettings struct {
	dir         string
	cfg         daemon.Config
	logFormat   string
	logLevel    slog.Level
	driftSeries bool
	driftLimit  int
	emulator    *emulatorConfig
	configDir   string
	// ephemeralState: the ledger goes to a temporary directory removed at exit.
	ephemeralState bool
}

// mergeServe stacks the defaults, the config file's serve section and the flags given.
func mergeServe(cmd *cobra.Command, conn *connFlags, args []string, o serveOpts) (serveSettings, error) {
	cf, err := conn.readConfigFile()
	if err != nil {
		return serveSettings{}, err
	}
	sc := cf.Serve
	var st serveSettings
	if conn.config != "" {
		st.configDir = filepath.Dir(conn.config)
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) || st.configDir == "" {
			return p
		}
		return filepath.Join(st.configDir, p)
	}
	changed := cmd.Flags().Changed
	var problems []string
	// bad reports a value of the serve section; the flag of the same name, when given, is
	// what was checked, so the line is named only for a value from the file.
	bad := func(key, format string, a ...any) {
		where := "serve." + key
		if l := cf.line("serve", key); l > 0 {
			where = fmt.Sprintf("line %d: %s", l, where)
		}
		problems = append(problems, fmt.Sprintf("%s: %s", where, fmt.Sprintf(format, a...)))
	}
	str := func(flag string, flagVal, fileVal string) string {
		if changed(flag) || fileVal == "" {
			return flagVal
		}
		return fileVal
	}
	dur := func(flag, key string, flagVal time.Duration, fileVal string) time.Duration {
		if changed(flag) || fileVal == "" {
			return flagVal
		}
		d, err := time.ParseDuration(fileVal)
		if err != nil {
			bad(key, "%q is not a duration such as 30s or 5m", fileVal)
		}
		return d
	}
	boolean := func(flag string, flagVal bool, fileVal *bool) bool {
		if changed(flag) || fileVal == nil {
			return flagVal
		}
		return *fileVal
	}
	integer := func(flag string, flagVal int, fileVal *int) int {
		if changed(flag) || fileVal == nil {
			return flagVal
		}
		return *fileVal
	}
	list := func(flag string, flagVal, fileVal []string) []string {
		if changed(flag) || fileVal == nil {
			return flagVal
		}
		return fileVal
	}

	switch {
	case len(args) == 1:
		st.dir = args[0]
	case sc.Dir != "":
		st.dir = rel(sc.Dir)
	default:
		return st, errors.New("no desired-state directory: give DIR, or serve.dir in the config file")
	}
	o.prune = boolean("prune", o.prune, sc.Prune)
	o.scope = list("managed-scope", o.scope, sc.ManagedScope)
	o.maxDeletes = integer("max-deletes", o.maxDeletes, sc.MaxDeletes)
	if !changed("patchable-fields") && sc.PatchableFields != nil {
		o.patchable = sc.PatchableFields
	}
	if !changed("sim-patchable-fields") && sc.SIMPatchableFields != nil {
		o.simPatchable = sc.SIMPatchableFields
	}
	o.secretKeys = list("secret-keys", o.secretKeys, sc.SecretKeys)
	o.sim = boolean("sim", o.sim, sc.SIM)
	o.allowOutside = boolean("allow-secret-files-outside", o.allowOutside, sc.AllowSecretFilesOutside)
	o.allowSecretClear = boolean("allow-secret-clear", o.allowSecretClear, sc.AllowSecretClear)
	o.pruneUnownedByName = boolean("prune-unowned-by-name", o.pruneUnownedByName, sc.PruneUnownedByName)
	if !changed("state-dir") && sc.StateDir != "" {
		o.stateDir = rel(sc.StateDir)
	}
	// The emulated tenant of an emulator section lives in this process only: unless a
	// state directory is given, its ledger is a temporary one (runServe makes it), so
	// that demo runs leave no ledgers of tenants that are gone behind.
	st.ephemeralState = cf.Emulator != nil && o.stateDir == ""
	if !st.ephemeralState {
		if err := o.settleStateDir(conn); err != nil {
			problems = append(problems, err.Error())
		}
	}

	mode := daemon.Mode(str("mode", o.mode, sc.Mode))
	if mode != daemon.ModeObserve && mode != daemon.ModeEnforce {
		bad("mode", "%q: use observe or enforce", mode)
	}
	st.cfg = daemon.Config{
		Dir:                st.dir,
		Schedule:           str("schedule", o.schedule, sc.Schedule),
		Watch:              boolean("watch", o.watch, sc.Watch),
		Debounce:           dur("debounce", "debounce", o.debounce, sc.Debounce),
		Mode:               mode,
		Policy:             o.policy(),
		ReadSIM:            o.sim,
		SecretFilesOutside: o.allowOutside,
		StateDir:           o.stateDir,
		Concurrency:        integer("concurrency", o.concurrency, sc.Concurrency),
		ShutdownGrace:      dur("shutdown-grace", "shutdownGrace", o.shutdownGrace, sc.ShutdownGrace),
		Listen:             str("listen", o.listen, sc.Listen),
		Version:            version,
	}
	if _, err := daemon.ParseSchedule(st.cfg.Schedule); err != nil {
		bad("schedule", "%v", err)
	}
	if st.cfg.Debounce < 0 {
		bad("debounce", "%s: want zero or more", st.cfg.Debounce)
	}
	if st.cfg.ShutdownGrace <= 0 {
		bad("shutdownGrace", "%s: want more than zero", st.cfg.ShutdownGrace)
	}
	if st.cfg.Concurrency < 1 {
		bad("concurrency", "%d: want at least 1", st.cfg.Concurrency)
	}
	if err := st.cfg.Policy.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	st.logFormat = str("log-format", o.logFormat, sc.LogFormat)
	switch st.logFormat {
	case "auto", "json", "text":
	default:
		bad("logFormat", "%q: use auto, json or text", st.logFormat)
	}
	if err := st.logLevel.UnmarshalText([]byte(str("log-level", o.logLevel, sc.LogLevel))); err != nil {
		bad("logLevel", "%q: use debug, info, warn or error", str("log-level", o.logLevel, sc.LogLevel))
	}
	st.cfg.LogFormat = st.logFormat
	st.driftSeries = boolean("drifted-object-series", o.driftSeries, sc.DriftedObjectSeries)
	st.driftLimit = integer("drifted-object-series-limit", o.driftLimit, sc.DriftedObjectSeriesLimit)
	if st.driftLimit < 1 {
		bad("driftedObjectSeriesLimit", "%d: want at least 1", st.driftLimit)
	}
	if cf.Emulator != nil {
		e := *cf.Emulator
		e.Seed = rel(e.Seed)
		if e.Listen == "" {
			e.Listen = "127.0.0.1:0"
		}
		if e.Generate < 0 {
			problems = append(problems, fmt.Sprintf("line %d: emulator.generate: %d: want zero or more", cf.line("emulator", "generate"), e.Generate))
		}
		if cf.Tenant != (tenant.Config{}) {
			problems = append(problems, "the config file has both a tenant and an emulator section: keep one (emulator starts an emulated tenant in this process)")
		}
		st.emulator = &e
	}
	if len(problems) > 0 {
		where := "settings"
		if conn.config != "" {
			where = "config file " + conn.config
		}
		return st, fmt.Errorf("%s:\n  %s", where, strings.Join(problems, "\n  "))
	}
	return st, nil
}

func runServe(cmd *cobra.Command, conn *connFlags, args []string, o serveOpts) error {
	ctx := cmd.Context()
	st, err := mergeServe(cmd, conn, args, o)
	if err != nil {
		return err
	}
	log := daemonLogger(cmd.ErrOrStderr(), st.logFormat, st.logLevel)

	if st.ephemeralState {
		dir, err := os.MkdirTemp("", "sdim-sync-emulated-state-")
		if err != nil {
			return fmt.Errorf("a state directory for the emulated tenant: %w", err)
		}
		defer os.RemoveAll(dir)
		st.cfg.StateDir = dir
		log.Info("the emulated tenant lives in this process only, and so does its ledger: a temporary state directory, removed at exit", "stateDir", dir)
	}
	var settings tenant.Settings
	if st.emulator != nil {
		stop, s, err := startEmulator(ctx, st.emulator, log)
		if err != nil {
			return err
		}
		defer stop()
		settings = s
		if _, set := conn.lookupEnv(tenant.EnvBaseURL); set {
			log.Warn("the config file starts the emulated tenant: " + tenant.EnvBaseURL + " is not used")
		}
	} else if settings, err = conn.settings(); err != nil {
		return err
	}

	m := metrics.New(metrics.Options{Version: version, Revision: revision(), DriftedObjectSeries: st.driftSeries, DriftedObjectLimit: st.driftLimit})
	// The client logs with each call's context: its lines carry the run id and trigger.
	clientLog := slog.New(engine.ContextHandler(log.Handler()))
	client, err := tenant.New(settings, tenant.WithLogger(clientLog), tenant.WithHooks(m.TenantHooks()))
	if err != nil {
		return err
	}
	eng := engine.New(engine.Client(client), engine.Options{Logger: log})
	cfg := st.cfg
	cfg.Tenant = daemon.TenantInfo{BaseURL: settings.BaseURL, ClientID: settings.ClientID, APIVersion: string(settings.APIVersion)}
	d, err := daemon.New(cfg, daemon.Deps{Engine: eng, Observer: m, Metrics: m.Handler(), Logger: log})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (--listen, serve.listen): %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("serving HTTP", "address", "http://"+ln.Addr().String(), "endpoints", "/metrics /healthz /readyz /status")

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() {
		for {
			select {
			case <-runCtx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: a run is asked for")
				d.Trigger(engine.TriggerSignal)
			case err := <-serveErr:
				log.Error("the HTTP server stopped", "error", err)
				stopRun()
				return
			}
		}
	}()

	runErr := d.Run(runCtx)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("HTTP shutdown", "error", err)
	}
	if runErr != nil {
		return runErr
	}
	if ctx.Err() == nil && runCtx.Err() != nil {
		return errors.New("the HTTP server stopped; see the log")
	}
	log.Info("sdim-sync serve exited")
	return nil
}

// daemonLogger logs in JSON unless told text, or told auto with a terminal on w.
func daemonLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" || format == "auto" && isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// startEmulator starts the built-in emulated tenant on loopback and returns the settings
// that reach it with its demo client.
func startEmulator(ctx context.Context, ec *emulatorConfig, log *slog.Logger) (func(), tenant.Settings, error) {
	e, err := emulator.New(emulator.Config{Logger: log.With("component", "emulator")})
	if err != nil {
		return nil, tenant.Settings{}, err
	}
	fail := func(err error) (func(), tenant.Settings, error) {
		_ = e.Close()
		return nil, tenant.Settings{}, err
	}
	if ec.Seed != "" {
		if err := e.SeedFile(ec.Seed); err != nil {
			return fail(fmt.Errorf("emulator.seed: %w", err))
		}
	}
	if ec.Generate > 0 {
		if err := e.Generate(ec.Generate); err != nil {
			return fail(fmt.Errorf("emulator.generate: %w", err))
		}
	}
	ln, err := net.Listen("tcp", ec.Listen)
	if err != nil {
		return fail(fmt.Errorf("emulator.listen %s: %w", ec.Listen, err))
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	base, exposed := emulatorURL(ec.Listen, ln.Addr())
	if exposed {
		log.Warn("the emulated tenant listens beyond loopback: anyone who reaches "+ec.Listen+" gets its demo credentials and its unauthenticated /_emulator/ admin endpoints; use emulator.listen: 127.0.0.1:PORT",
			"listen", ec.Listen)
	}
	st := e.State()
	log.Info("emulated tenant started in this process", "base_url", base, "client_id", emulator.DemoClientID,
		"integrations", len(st.ServiceDeskIntegrations), "admin", base+emulator.AdminPrefix)
	s, err := tenant.Config{BaseURL: base, ClientID: emulator.DemoClientID, APIVersion: string(sdim.V2024)}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "emulator demo client")}).Settings(nil)
	if err != nil {
		_ = srv.Close()
		return fail(err)
	}
	s.UserAgent = "sdim-sync/" + version
	stop := func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		_ = e.Close()
	}
	return stop, s, nil
}

// revision is the VCS revision the binary was built from, or "unknown".
func revision() string {
	if v := buildSetting("vcs.revision"); v != "" {
		return v
	}
	return "unknown"
}
