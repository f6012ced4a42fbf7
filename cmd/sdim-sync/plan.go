package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sdim-sync/sdim-sync/internal/desired"
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
}

func newPlanCmd() *cobra.Command {
	var o planOpts
	cmd := &cobra.Command{
		Use:   "plan [DIR]",
		Short: "Show what it would take to make the tenant match the desired state",
		Long: `Read the desired state in DIR (default: the current directory), read the tenant through
a read-only client, and print the changes that would make the tenant match: creates,
patches, puts (whole replacements) and deletes, each field as a JSON pointer with its live
and desired values (secrets masked). Nothing is written to the tenant.

Live integrations no file declares are reported as unmanaged, unless --prune is given:
then those whose names --managed-scope matches are planned for deletion, up to
--max-deletes (a plan with more deletes is blocked).

Exit codes (with --detailed-exitcode, the default): 0 the tenant matches, 2 the plan has
changes (observe-only ones included), 1 an error or a blocked plan.`,
		Example: `  sdim-sync plan configs/prod
  sdim-sync plan configs/prod -o markdown > plan.md      # a pull-request comment
  sdim-sync plan configs/prod --prune --managed-scope 'ServiceNow*' --out plan.json`,
		Args: cobra.MaximumNArgs(1),
	}
	conn := addConnFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or markdown")
	f.StringVar(&o.out, "out", "", "also save the plan to this file (JSON) for a later apply --plan")
	addPlanFlags(f, &o)
	f.BoolVar(&o.detailedExitCode, "detailed-exitcode", true, "exit 2 when the plan has changes; with =false, exit 0")
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
	f.BoolVar(&o.noColor, "no-color", false, "no colours in text output (also when NO_COLOR is set or standard output is not a terminal)")
	f.BoolVar(&o.allowOutside, "allow-secret-files-outside", false, "let ${file:PATH} name files outside DIR")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log every request to standard error")
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

// colour: only on a terminal, never with --no-color or NO_COLOR.
func (o planOpts) colour(cmd *cobra.Command, conn *connFlags) bool {
	if _, set := conn.lookupEnv("NO_COLOR"); set || o.noColor {
		return false
	}
	return isTerminal(cmd.OutOrStdout())
}

func (o planOpts) policy() planner.Policy {
	pol := planner.DefaultPolicy()
	pol.Prune = o.prune
	pol.ManagedScope = o.scope
	pol.MaxDeletes = o.maxDeletes
	pol.PatchableFields = nonNil(o.patchable)
	pol.SIMPatchableFields = nonNil(o.simPatchable)
	pol.SecretKeys = o.secretKeys
	return pol
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

// prepared is a plan with what it was made from.
type prepared struct {
	want     *desired.State
	live     *sdim.Live
	res      *planner.Result
	client   *tenant.Client // writable: apply's; plan uses only its read-only view
	settings tenant.Settings
	log      *slog.Logger
}

// preparePlan loads the desired state, reads the tenant through a read-only client and
// plans. Nothing is written. A desired state that does not load is printed to stderr and
// nothing is read from the tenant.
func preparePlan(cmd *cobra.Command, conn *connFlags, dir string, o planOpts, pol planner.Policy) (*prepared, error) {
	ctx := cmd.Context()
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	want, err := desired.Load(dir, desired.WithSecretFilesOutside(o.allowOutside), desired.WithSecretKeys(pol.SecretKeys))
	var le *desired.LoadError
	if errors.As(err, &le) {
		fmt.Fprintln(cmd.ErrOrStderr(), le.Error())
		return nil, &exitError{code: 1, err: errors.New("nothing was planned: fix the desired state first")}
	}
	if err != nil {
		return nil, err
	}
	s, err := conn.settings()
	if err != nil {
		return nil, err
	}
	if len(want.SIM) > 0 && !s.APIVersion.HasSIM() {
		return nil, fmt.Errorf("the desired state in %s declares %d SIM integrations, which only API versions v2024, v2025 and v1 serve, not %s: set --api-version", dir, len(want.SIM), s.APIVersion)
	}
	log := cliLogger(cmd.ErrOrStderr(), o.verbose)
	c, err := tenant.New(s, tenant.WithLogger(log))
	if err != nil {
		return nil, err
	}
	ro := c.ReadOnly()
	live, err := ro.Snapshot(ctx, tenant.SnapshotOptions{SIM: len(want.SIM) > 0 || o.sim})
	if err != nil {
		return nil, err
	}
	res, err := planner.Plan(want, live, pol)
	if err != nil {
		return nil, err
	}
	if types := res.PutTypes(); len(types) > 0 {
		pol.TypeSecretKeys = typeSecretKeys(ctx, ro, types, sdim.NewSecretKeySet(secretKeysOr(pol.SecretKeys)), log)
		if res, err = planner.Plan(want, live, pol); err != nil {
			return nil, err
		}
	}
	return &prepared{want: want, live: live, res: res, client: c, settings: s, log: log}, nil
}

func secretKeysOr(keys []string) []string {
	if keys == nil {
		return sdim.DefaultSecretAttributeKeys()
	}
	return keys
}

func runPlan(cmd *cobra.Command, conn *connFlags, dir string, o planOpts, colour bool) error {
	p, err := preparePlan(cmd, conn, dir, o, o.policy())
	if err != nil {
		return err
	}
	res, s := p.res, p.settings
	if o.out != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("save the plan: %w", err)
		}
		var buf bytes.Buffer
		if err := planner.WriteSaved(&buf, res, planner.Target{TenantURL: s.BaseURL, DesiredDir: abs, CreatedAt: time.Now(),
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
		err = planner.WriteMarkdown(stdout, res)
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

// typeSecretKeys reads the templates of the given integration types and returns the
// secret keys of each. A type the tenant does not list, or a template it cannot read,
// is left out: the plan then warns in general terms.
func typeSecretKeys(ctx context.Context, c *tenant.Client, types []string, keys sdim.SecretKeySet, log *slog.Logger) map[string][]string {
	list, err := c.ListTypes(ctx)
	if err != nil {
		log.Warn("could not list the integration types; put warnings about secrets stay general", "error", err)
		return nil
	}
	out := map[string][]string{}
	for _, typ := range types {
		for _, it := range list {
			if it.Type != typ || it.ScriptName == "" {
				continue
			}
			t, err := c.GetTemplate(ctx, it.ScriptName)
			if err != nil {
				log.Warn("could not read an integration template; put warnings about secrets stay general", "type", typ, "error", err)
				break
			}
			out[typ] = planner.TemplateSecretKeys(t, keys)
			break
		}
	}
	return out
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
