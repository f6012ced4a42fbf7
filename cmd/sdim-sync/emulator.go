package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

type emulatorOpts struct {
	listen         string
	clients        []string
	tokenTTL       time.Duration
	secretKeys     []string
	patchable      []string
	simPatchable   []string
	rateLimit      int
	rateWindow     time.Duration
	seed           string
	generate       int
	state          string
	verbose        bool
	faults         emulator.Faults
	faultLatency   time.Duration
	faultRetryWait time.Duration
}

func newEmulatorCmd() *cobra.Command {
	var o emulatorOpts
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Serve an emulated ISC tenant (service desk and SIM APIs) on loopback",
		Long: `Serve an in-memory Identity Security Cloud tenant that answers the service desk
integration API (v3, v2024, v2025, v1) and the experimental SIM integration API as
SailPoint's OpenAPI definitions describe them, with OAuth2 client credentials at
/oauth/token, a rate limit, and faults to switch on. Admin endpoints live under
/_emulator/ (counters, faults, state, healthz).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEmulator(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:7100", "address to listen on")
	f.StringArrayVar(&o.clients, "client", nil, "an OAuth client as ID:SECRET (repeatable; default "+emulator.DemoClientID+":"+emulator.DemoClientSecret+")")
	f.DurationVar(&o.tokenTTL, "token-ttl", emulator.DefaultTokenTTL, "lifetime of access tokens (at least 1s)")
	f.StringSliceVar(&o.secretKeys, "secret-keys", nil, "attribute keys stored but never returned (default password,clientSecret,secret,token,apiKey,privateKey)")
	f.StringSliceVar(&o.patchable, "patchable-paths", nil, "JSON pointers a service desk PATCH may replace (default /beforeProvisioningRule)")
	f.StringSliceVar(&o.simPatchable, "sim-patchable-paths", nil, "JSON pointers a SIM PATCH may replace (default /beforeProvisioningRule)")
	f.IntVar(&o.rateLimit, "rate-limit", emulator.DefaultRateLimit, "requests per client and API version per --rate-window; negative turns the limit off")
	f.DurationVar(&o.rateWindow, "rate-window", emulator.DefaultRateWindow, "window of --rate-limit")
	f.StringVar(&o.seed, "seed", "", "a JSON or YAML state file whose objects are created at start")
	f.IntVar(&o.generate, "generate", 0, "create this many generated service desk integrations at start")
	f.StringVar(&o.state, "state", "", "keep the objects in this file across restarts (it holds secrets; written 0600)")
	f.BoolVar(&o.verbose, "verbose", false, "log every request")
	f.Float64Var(&o.faults.ErrorRate, "fault-error-rate", 0, "share of API requests answered with a 5xx (0-1)")
	f.IntSliceVar(&o.faults.ErrorCodes, "fault-error-codes", nil, "status codes of injected errors (default 500,502,503)")
	f.DurationVar(&o.faultLatency, "fault-latency", 0, "latency added to every API request")
	f.Float64Var(&o.faults.DropRate, "fault-drop-rate", 0, "share of API requests whose connection is dropped unanswered (0-1)")
	f.Float64Var(&o.faults.LostWriteRate, "fault-lost-write-rate", 0, "share of writes committed whose answer is then lost (0-1)")
	f.IntVar(&o.faults.LostWriteStatus, "fault-lost-write-status", 0, "answer lost writes with this 5xx instead of dropping the connection")
	f.IntVar(&o.faults.Force429, "fault-429", 0, "answer the next N API requests with 429")
	f.DurationVar(&o.faultRetryWait, "fault-retry-after", time.Second, "Retry-After of the forced 429s (whole seconds)")
	f.Uint64Var(&o.faults.Seed, "fault-seed", 0, "seed of the fault draws, for repeatable runs (0: random)")
	return cmd
}

func (o emulatorOpts) config(logger *slog.Logger) (emulator.Config, error) {
	cfg := emulator.Config{
		TokenTTL:          o.tokenTTL,
		SecretKeys:        o.secretKeys,
		PatchablePaths:    o.patchable,
		SIMPatchablePaths: o.simPatchable,
		RateLimit:         o.rateLimit,
		RateWindow:        o.rateWindow,
		StatePath:         o.state,
		Logger:            logger,
		Faults:            o.faults,
	}
	if o.rateLimit == 0 {
		return cfg, errors.New("--rate-limit 0 would refuse every request: use a negative value to turn the limit off")
	}
	for _, c := range o.clients {
		id, secret, ok := strings.Cut(c, ":")
		if !ok || id == "" || secret == "" {
			return cfg, fmt.Errorf("--client %q: want ID:SECRET", redactClient(c))
		}
		if cfg.Clients == nil {
			cfg.Clients = map[string]string{}
		}
		cfg.Clients[id] = secret
	}
	cfg.Faults.LatencyMS = int(o.faultLatency / time.Millisecond)
	if o.faultRetryWait%time.Second != 0 || o.faultRetryWait < time.Second {
		return cfg, fmt.Errorf("--fault-retry-after %s: Retry-After is whole seconds, at least 1s", o.faultRetryWait)
	}
	cfg.Faults.RetryAfterSeconds = int(o.faultRetryWait / time.Second)
	return cfg, nil
}

// redactClient keeps the id of an ID:SECRET flag value and hides the rest.
func redactClient(c string) string {
	id, _, ok := strings.Cut(c, ":")
	if !ok {
		return "(value hidden)"
	}
	return id + ":***"
}

func runEmulator(cmd *cobra.Command, o emulatorOpts) error {
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	cfg, err := o.config(logger)
	if err != nil {
		return err
	}
	e, err := emulator.New(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := e.Close(); err != nil {
			logger.Error("closing the emulator", "error", err)
		}
	}()
	if o.seed != "" {
		if err := e.SeedFile(o.seed); err != nil {
			return err
		}
	}
	if o.generate > 0 {
		if err := e.Generate(o.generate); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	base, exposed := emulatorURL(o.listen, ln.Addr())
	clients := make([]string, 0, len(cfg.Clients))
	for id := range cfg.Clients {
		clients = append(clients, id)
	}
	slices.Sort(clients)
	if len(clients) == 0 {
		clients = append(clients, emulator.DemoClientID)
	}
	if exposed {
		what := "its clients"
		if len(cfg.Clients) == 0 {
			what = "the demo credentials " + emulator.DemoClientID + ":" + emulator.DemoClientSecret + " (documented, not secret)"
		}
		logger.Warn("the emulator listens beyond loopback: whoever reaches "+ln.Addr().String()+" can use "+what+
			" and its unauthenticated admin endpoints ("+emulator.AdminPrefix+"); use --listen 127.0.0.1:PORT unless that is meant",
			"listen", ln.Addr().String())
	}
	st := e.State()
	logger.Info("emulated tenant serving", "listen", ln.Addr().String(), "base_url", base, "token_url", base+emulator.TokenPath,
		"clients", strings.Join(clients, ","), "integrations", len(st.ServiceDeskIntegrations),
		"sim_integrations", len(st.SIMIntegrations), "admin", base+emulator.AdminPrefix)
	fmt.Fprintln(cmd.OutOrStdout(), base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-cmd.Context().Done():
	}
	logger.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// emulatorURL is a URL that reaches a listener at addr, which --listen asked for: the
// loopback address of the same family for a wildcard address (http://0.0.0.0:7100 is no
// address to connect to), the port actually chosen for :0. exposed reports whether the
// listener is reachable beyond loopback.
func emulatorURL(listen string, addr net.Addr) (base string, exposed bool) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String(), true
	}
	ip := ta.IP
	switch {
	case ip.IsUnspecified():
		host, _, _ := net.SplitHostPort(listen)
		ip = net.IPv4(127, 0, 0, 1)
		if h := net.ParseIP(host); h != nil && h.To4() == nil {
			ip = net.IPv6loopback // --listen [::]:PORT asked for IPv6 by name
		}
		exposed = true
	case !ip.IsLoopback():
		exposed = true
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port)), exposed
}
