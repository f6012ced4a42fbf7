package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

type adoptOpts struct {
	targets      []string
	dryRun       bool
	stateDir     string
	secretKeys   []string
	sim          bool
	allowOutside bool
	verbose      bool
}

func newAdoptCmd() *cobra.Command {
	var o adoptOpts
	cmd := &cobra.Command{
		Use:   "adopt [DIR|FILE]",
		Short: "Record existing tenant objects as owned by sdim-sync (in the ledger)",
		Long: `Record in the ledger (docs/ledger.md) the live objects that the desired state in DIR
declares, matched by name (or options.previousNames), as owned by sdim-sync: --prune
deletes them once no file declares them any more, and their drift gets a class. Each
object adopted is printed, for review; --dry-run only prints.

--target GLOB (repeatable: NAME-GLOB or KIND/NAME-GLOB) narrows the declared objects,
and also adopts the live objects it matches that no file declares: pruning then deletes
those, which is the way to hand objects built by hand over to sdim-sync for removal.

sdim-sync adopts by itself only what it creates, and, after a run that applies, the
declared objects it finds in sync. A lost ledger owns nothing: adopt again to recover.`,
		Example: `  sdim-sync adopt configs/prod --dry-run
  sdim-sync adopt configs/prod
  sdim-sync adopt configs/prod --target 'sdim/ServiceNow*'`,
		Args: cobra.MaximumNArgs(1),
	}
	conn := addConnFlags(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "adopt only the objects matching this glob, declared or not: NAME-GLOB or KIND/NAME-GLOB (repeatable)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print what would be adopted; write nothing")
	f.StringVar(&o.stateDir, "state-dir", "", "directory of the ledger (default $XDG_STATE_HOME/sdim-sync or ~/.local/state/sdim-sync)")
	f.StringSliceVar(&o.secretKeys, "secret-keys", sdim.DefaultSecretAttributeKeys(), "attribute keys the tenant never returns (case-insensitive)")
	f.BoolVar(&o.sim, "sim", false, "also read SIM integrations when no file declares one (API v2024, v2025 and v1)")
	f.BoolVar(&o.allowOutside, "allow-secret-files-outside", false, "let ${file:PATH} name files outside DIR")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log every request to standard error")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		dir := "."
		if len(args) == 1 {
			dir = args[0]
		}
		if o.stateDir == "" {
			var err error
			if o.stateDir, err = defaultStateDir(conn.lookupEnv); err != nil {
				return err
			}
		}
		if _, err := sdim.ParseTargets(o.targets); err != nil {
			return err
		}
		eng, _ := newEngine(cmd, conn, o.verbose)
		run, adopted, err := eng.Adopt(cmd.Context(), engine.AdoptRequest{Dir: dir, SecretFilesOutside: o.allowOutside,
			ReadSIM: o.sim, StateDir: o.stateDir, SecretKeys: o.secretKeys, Targets: o.targets, DryRun: o.dryRun})
		if run != nil && run.LoadError != nil {
			return runError(cmd, run)
		}
		if err != nil {
			var se *engine.StageError
			if errors.As(err, &se) {
				return se.Err
			}
			return err
		}
		out := cmd.OutOrStdout()
		verb := "adopted"
		if o.dryRun {
			verb = "would adopt"
		}
		for _, a := range adopted {
			note := ""
			if a.AlreadyOwned {
				note = " (already owned)"
			}
			if !a.Declared {
				note += " (no file declares it: --prune deletes it)"
			}
			id := ""
			if a.ID != "" {
				id = " (id " + a.ID + ")"
			}
			fmt.Fprintf(out, "%s %s%s%s\n", verb, planner.Label(a.Kind, a.Name), id, note)
		}
		state := "Adopted"
		if o.dryRun {
			state = "Dry run: nothing written; would adopt"
		}
		fmt.Fprintf(out, "%s %s into %s.\n", state, sdim.Count(len(adopted), "object", "objects"), run.LedgerFile)
		return nil
	}
	return cmd
}
