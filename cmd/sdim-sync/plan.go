package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

type planOpts struct {
	output           string
	out              string
	prune            bool
	scope            []string
	maxDeletes       int
	patchable        []string
	simPatchable     []string
	secretKeys       []string
	sim              bool
	noColor          bool
	detailedExitCode bool
	allowOutside     bool
	verbose          bool
	targets          []string
	allowSecretClear bool
	pushSecrets      bool
	// stateDir is where the ledgers live ("" until settled: the default).
	stateDir           string
	pruneUnownedByName bool
}

func newPlanCmd() *cobra.Command {
	var o planOpts
	cmd := &cobra.Command{
		Use:   "plan [DIR|FILE]",
		Short: "Show what it would take to make the tenant match the desired state",
		Long: `Read the desired state in DIR (default: the current directory; a single YAML file works
too), read the tenant through a read-only client, and print the changes that would make
the tenant match: creates, patches, puts (whole replacements) and deletes, each field as a
JSON pointer with its live and desired values (secrets masked). Nothing is written to the
tenant.

Live integrations no file declares are reported as unmanaged, unless --prune is given:
then those whose names --managed-scope matches are planned for deletion, up to
--max-deletes (a plan with more deletes is blocked). A document with state: absent
deletes its object without --prune.

A put that would clear a secret attribute its type's template declares (the tenant never
shows secrets, so the file must declare it, as an ${env:NAME} reference) blocks the plan,
unless --allow-secret-clear or the object's options.allowSecretClear allows it.

--target GLOB (repeatable) plans only the objects it matches; --push-secrets shows the
puts apply --push-secrets would make to send the current secret values.

Exit codes, as Terraform's: 0 the plan was made (whether or not it has changes), 1 an
error or a blocked plan. With --detailed-exitcode: 0 the tenant matches, 2 the plan has
changes (observe-only ones included), 1 an error or a blocked plan.`,
		Example: `  sdim-sync plan configs/prod
  sdim-sync plan configs/prod -o markdown > plan.md      # a pull-request comment
  sdim-sync plan configs/prod --prune --managed-scope 'ServiceNow*' --out plan.json
  sdim-sync plan configs/prod/jira.yaml --target 'sdim/Jira*'`,
		Args: cobra.MaximumNArgs(1),
	}
	conn := addConnFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or markdown")
	f.StringVar(&o.out, "out", "", "also save the plan to this file (JSON) for a later apply --plan")
	addPlanFlags(f, &o)
	addOneOffFlags(f, &o)
	f.BoolVar(&o.detailedExitCode, "detailed-exitcode", false, "exit 2 when the plan has changes (0 when none), for scheduled drift checks")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		dir := "."
		if len(args) == 1 {
			dir = args[0]
		}
		switch o.output {
		case "text", "json", "markdown":
		default:
			return fmt.Errorf("--output %q: use text, json or markdown", o.output)
		}
		o.settle(cmd)
		if err := o.settleStateDir(conn); err != nil {
			return err
		}
		return runPlan(cmd, conn, dir, o, o.colour(cmd, conn))
	}
	return cmd
}

// addPlanFlags adds the flags plan and apply share: the policy, what to read, output.
func addPlanFlags(f *pflag.FlagSet, o *planOpts) {
	f.BoolVar(&o.prune, "prune", false, "plan deletes of live integrations no file declares (inside --managed-scope)")
	f.StringArrayVar(&o.scope, "managed-scope", nil, "name glob of the live integrations --prune may delete (repeatable; default every name)")
	f.IntVar(&o.maxDeletes, "max-deletes", planner.DefaultMaxDeletes, "block the plan when it holds more deletes than this (-1: no limit)")
	f.StringSliceVar(&o.patchable, "patchable-fields", planner.DefaultPatchableFields(), "JSON pointers of the service desk fields the tenant lets PATCH replace")
	f.StringSliceVar(&o.simPatchable, "sim-patchable-fields", planner.DefaultPatchableFields(), "JSON pointers of the SIM integration fields the tenant lets PATCH replace")
	f.StringSliceVar(&o.secretKeys, "secret-keys", sdim.DefaultSecretAttributeKeys(), "attribute keys the tenant never returns (case-insensitive)")
	f.BoolVar(&o.sim, "sim", false, "also read SIM integrations when no file declares one (API v2024, v2025 and v1)")
	f.BoolVar(&o.noColor, "no-color", false, "no colours in text output (also when NO_COLOR is non-empty, TERM=dumb, or standard output is not a terminal)")
	f.BoolVar(&o.allowOutside, "allow-secret-files-outside", false, "let ${file:PATH} name files outside DIR")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log every request to standard error")
	f.StringVar(&o.stateDir, "state-dir", "", "directory of the ledger of what sdim-sync applied and owns (default $XDG_STATE_HOME/sdim-sync or ~/.local/state/sdim-sync; see docs/ledger.md)")
	f.BoolVar(&o.pruneUnownedByName, "prune-unowned-by-name", false, "DANGEROUS: let --prune delete every live integration no file declares whose name --managed-scope matches, even one sdim-sync never created or adopted (such as one an admin built by hand)")
	f.BoolVar(&o.allowSecretClear, "allow-secret-clear", false, "let a put clear secret attributes its type's template declares and the file does not (otherwise such a plan is blocked)")
}

// addOneOffFlags adds the flags of plan and apply that a daemon, which runs again and
// again, has no use for: working on a subset, pushing secrets once.
func addOneOffFlags(f *pflag.FlagSet, o *planOpts) {
	f.StringArrayVar(&o.targets, "target", nil, "plan only the objects matching this glob: NAME-GLOB or KIND/NAME-GLOB, KIND being sdim, sim or statuscheck (repeatable)")
	f.BoolVar(&o.pushSecrets, "push-secrets", false, "put every integration that declares a secret (${env:...}, ${file:...}), even when the tenant matches: to rotate credentials")
}

// settle turns the patchable-field flags the user did not give back into "the default".
func (o *planOpts) settle(cmd *cobra.Command) {
	if !cmd.Flags().Changed("sim-patchable-fields") {
		o.simPatchable = nil
	}
	if !cmd.Flags().Changed("patchable-fields") {
		o.patchable = nil
	}
}

// colour: only on a terminal, never with --no-color, with NO_COLOR set to anything but
// "" (https://no-color.org) or with TERM=dumb.
func (o planOpts) colour(cmd *cobra.Command, conn *connFlags) bool {
	return !o.noColor && colourAllowed(conn.lookupEnv) && isTerminal(cmd.OutOrStdout())
}

func (o planOpts) policy() planner.Policy {
	pol := planner.DefaultPolicy()
	pol.Prune = o.prune
	pol.ManagedScope = o.scope
	pol.MaxDeletes = o.maxDeletes
	pol.PatchableFields = nonNil(o.patchable)
	pol.SIMPatchableFields = nonNil(o.simPatchable)
	pol.SecretKeys = o.secretKeys
	pol.Targets = o.targets
	pol.AllowSecretClear = o.allowSecretClear
	pol.PushSecrets = o.pushSecrets
	pol.PruneUnownedByName = o.pruneUnownedByName
	return pol
}

// defaultStateDir is the per-user state directory of the ledgers:
// $XDG_STATE_HOME/sdim-sync, or ~/.local/state/sdim-sync.
func defaultStateDir(lookupEnv func(string) (string, bool)) (string, error) {
	if v, ok := lookupEnv("XDG_STATE_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "sdim-sync"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory for the ledger: %w; give --state-dir DIR", err)
	}
	return filepath.Join(home, ".local", "state", "sdim-sync"), nil
}

// settleStateDir fills in the default state directory.
func (o *planOpts) settleStateDir(conn *connFlags) error {
	if o.stateDir != "" {
		return nil
	}
	dir, err := defaultStateDir(conn.lookupEnv)
	o.stateDir = dir
	return err
}

// warnEmpty warns, as validate does, when the desired directory holds no YAML file: the
// plan then declares nothing, which is seldom what was meant.
func warnEmpty(cmd *cobra.Command, run *engine.Run, dir string) {
	if run.Desired != nil && run.Desired.Files == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: no *.yaml or *.yml files in %s\n", dir)
	}
}

// nonNil keeps nil (the default) apart from a flag given empty (nothing patchable).
func nonNil(s []string) []string {
	if s == nil {
		return nil
	}
	out := []string{}
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// newEngine returns an engine whose client is built from the connection flags when the
// first run reaches the tenant, and the settings it was built with (set by then).
func newEngine(cmd *cobra.Command, conn *connFlags, verbose bool) (*engine.Engine, *tenant.Settings) {
	log := cliLogger(cmd.ErrOrStderr(), verbose)
	s := new(tenant.Settings)
	connect := func() (*tenant.Client, error) {
		var err error
		if *s, err = conn.settings(); err != nil {
			return nil, err
		}
		return tenant.New(*s, tenant.WithLogger(log))
	}
	return engine.New(connect, engine.Options{Logger: log}), s
}

// runError turns a run that failed before the apply into the command's error: the
// problems of a desired state that did not load are printed; any other stage's error is
// returned as it is.
func runError(cmd *cobra.Command, run *engine.Run) error {
	if run.LoadError != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), run.LoadError.Error())
		return &exitError{code: 1, err: errors.New("nothing was planned: fix the desired state first")}
	}
	var se *engine.StageError
	if errors.As(run.Err, &se) {
		return se.Err
	}
	return run.Err
}

func runPlan(cmd *cobra.Command, conn *connFlags, dir string, o planOpts, colour bool) error {
	pol := o.policy()
	if err := pol.Validate(); err != nil {
		return err
	}
	eng, s := newEngine(cmd, conn, o.verbose)
	run := eng.Reconcile(cmd.Context(), engine.Request{Trigger: engine.TriggerCLI, Dir: dir, SecretFilesOutside: o.allowOutside,
		Policy: pol, ReadSIM: o.sim, StateDir: o.stateDir})
	warnEmpty(cmd, run, dir)
	if run.Err != nil {
		return runError(cmd, run)
	}
	res := run.Plan
	var err error
	if o.out != "" {
		var buf bytes.Buffer
		if err := planner.WriteSaved(&buf, res, planner.Target{TenantURL: s.BaseURL, DesiredDir: dir,
			DesiredDigest: run.Desired.Digest, CreatedAt: time.Now(),
			ReadSIM: o.sim, SecretFilesOutside: o.allowOutside}); err != nil {
			return err
		}
		if err := writeFileAtomic(o.out, buf.Bytes()); err != nil {
			return fmt.Errorf("save the plan: %w", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "saved the plan to %s: apply it with sdim-sync apply --plan %s\n", o.out, o.out)
	}
	stdout := cmd.OutOrStdout()
	switch o.output {
	case "json":
		err = planner.WriteJSON(stdout, res)
	case "markdown":
		err = planner.WriteMarkdown(stdout, res, planner.MarkdownOptions{Tenant: s.BaseURL, Dir: dir})
	default:
		err = planner.WriteText(stdout, res, planner.TextOptions{Color: colour})
	}
	if err != nil {
		return err
	}
	if err := res.BlockedError(); err != nil {
		return &exitError{code: 1, err: err}
	}
	if res.HasChanges() && o.detailedExitCode {
		return &exitError{code: 2}
	}
	return nil
}

// isTerminal reports whether v (standard input, output or error) is a terminal: a
// character device other than /dev/null, which is one too.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
		return false
	}
	return true
}
