package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

type applyOpts struct {
	planOpts
	planFile    string
	autoApprove bool
	concurrency int
}

func newApplyCmd() *cobra.Command {
	var o applyOpts
	cmd := &cobra.Command{
		Use:   "apply [DIR|FILE]",
		Short: "Make the tenant match the desired state",
		Long: `Plan as sdim-sync plan does, show the plan, ask for confirmation, then make the changes:
creates, then updates, then deletes, a few at a time under the client's rate limit. A
create whose answer is lost is looked up by name before it is tried again, so no name is
ever created twice; a delete of an object already gone succeeds; a PATCH the tenant
refuses is sent as a PUT. Afterwards the touched objects are read back and planned
again: a field the tenant did not keep is reported as not converging.

On a terminal apply asks before writing; without one it needs --auto-approve.

A put that would clear a secret attribute the type's template declares and the file does
not is refused with the plan (blocked), unless --allow-secret-clear or the object's
options.allowSecretClear allows it. --push-secrets puts every integration that declares
a secret, even when the tenant matches, to send rotated values (narrow it with --target).

With --plan FILE (saved by plan --out) apply reads DIR (default: the directory the plan
was given, as it was written, so a later CI job in another checkout of the same commit
finds it) and the tenant again, and refuses when the desired state's content is not the
one the plan was made from, or anything the plan touches has changed since.

Exit codes: 0 every change applied and converged (or nothing to do), 1 otherwise.`,
		Example: `  sdim-sync apply configs/prod
  sdim-sync plan configs/prod --out plan.json && sdim-sync apply --plan plan.json
  sdim-sync apply configs/prod --prune --managed-scope 'ServiceNow*' --auto-approve
  sdim-sync apply configs/prod --push-secrets --target 'sdim/ServiceNow*'   # after rotating a password`,
		Args: cobra.MaximumNArgs(1),
	}
	conn := addConnFlags(cmd)
	f := cmd.Flags()
	addPlanFlags(f, &o.planOpts)
	addOneOffFlags(f, &o.planOpts)
	f.StringVar(&o.planFile, "plan", "", "apply this saved plan (from plan --out) if the tenant has not moved since")
	f.BoolVar(&o.autoApprove, "auto-approve", false, "apply without asking (required without a terminal)")
	f.IntVar(&o.concurrency, "concurrency", applier.DefaultConcurrency, "changes run at once within each phase")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if o.concurrency < 1 {
			return fmt.Errorf("--concurrency %d: want at least 1", o.concurrency)
		}
		o.settle(cmd)
		if err := o.settleStateDir(conn); err != nil {
			return err
		}
		return runApply(cmd, conn, args, o)
	}
	return cmd
}

func runApply(cmd *cobra.Command, conn *connFlags, args []string, o applyOpts) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	dir := "."
	if len(args) == 1 {
		dir = args[0]
	}
	pol := o.policy()
	var saved *planner.Saved
	if o.planFile != "" {
		f, err := os.Open(o.planFile)
		if err != nil {
			return fmt.Errorf("read the saved plan: %w", err)
		}
		saved, err = planner.ReadSaved(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read the saved plan %s: %w", o.planFile, err)
		}
		if len(args) == 0 {
			dir = saved.Target.DesiredDir
		}
		for _, name := range []string{"prune", "managed-scope", "max-deletes", "patchable-fields", "sim-patchable-fields", "secret-keys",
			"sim", "allow-secret-files-outside", "target", "allow-secret-clear", "push-secrets", "prune-unowned-by-name"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s cannot change a saved plan: the plan's own settings apply; plan again to change them", name)
			}
		}
		pol = saved.Policy
		o.sim, o.allowOutside = saved.Target.ReadSIM, saved.Target.SecretFilesOutside
	}
	if err := pol.Validate(); err != nil {
		return err
	}
	eng, settings := newEngine(cmd, conn, o.verbose)
	var out *applyOutput
	approve := func(ctx context.Context, run *engine.Run) (bool, error) {
		if saved != nil {
			if got := run.Desired.Digest; got != saved.Target.DesiredDigest {
				return false, &exitError{code: 1, err: fmt.Errorf("the saved plan %s was made from another desired state than the one in %s (content digest %.12s, now %.12s): nothing was written; plan again",
					o.planFile, dir, saved.Target.DesiredDigest, got)}
			}
			if err := saved.Check(run.Plan, settings.BaseURL); err != nil {
				return false, &exitError{code: 1, err: fmt.Errorf("the saved plan %s no longer holds, nothing was written: %w", o.planFile, err)}
			}
		}
		warnEmpty(cmd, run, dir)
		if err := planner.WriteText(stdout, run.Plan, planner.TextOptions{Color: o.colour(cmd, conn)}); err != nil {
			return false, err
		}
		if err := run.Plan.BlockedError(); err != nil {
			return false, &exitError{code: 1, err: fmt.Errorf("%w; nothing was written", err)}
		}
		todo := run.Plan.Applicable()
		if len(todo) == 0 {
			fmt.Fprintln(stdout, "\nNothing to apply.")
			return false, nil
		}
		if !o.autoApprove {
			in := cmd.InOrStdin()
			ok, err := confirm(ctx, in, stdout, isTerminal(in), len(todo), settings.BaseURL)
			if err != nil {
				return false, err
			}
			if !ok {
				return false, &exitError{code: 1, err: errors.New("apply cancelled: nothing was written")}
			}
		}
		out = &applyOutput{w: stdout, total: len(todo), bar: isTerminal(stderr) && len(todo) >= 20, barW: stderr}
		fmt.Fprintln(stdout)
		return true, nil
	}
	run := eng.Reconcile(cmd.Context(), engine.Request{Trigger: engine.TriggerCLI, Dir: dir, SecretFilesOutside: o.allowOutside,
		Policy: pol, ReadSIM: o.sim, StateDir: o.stateDir, Apply: true, Approve: approve, Concurrency: o.concurrency,
		OnResult: func(r applier.Result) { out.line(r) }, ShowsResults: true})
	rep := run.Report
	if rep == nil {
		if run.Err != nil {
			return runError(cmd, run)
		}
		if run.Refused != "" {
			return &exitError{code: 1, err: fmt.Errorf("apply refused, nothing was written: %s", run.Refused)}
		}
		return nil
	}
	out.finish()
	writeSummary(stdout, rep, cmd.Context().Err() != nil)
	if err := rep.Err(); err != nil {
		return &exitError{code: 1}
	}
	return nil
}

// confirm asks on a terminal and accepts only "yes". Cancelling ctx (Ctrl-C) answers no.
func confirm(ctx context.Context, in io.Reader, out io.Writer, tty bool, n int, tenantURL string) (bool, error) {
	if !tty {
		return false, &exitError{code: 1, err: errors.New("apply needs confirmation and standard input is not a terminal: review the plan and pass --auto-approve")}
	}
	fmt.Fprintf(out, "\nApply %s to %s? Only 'yes' will be accepted: ", sdim.Count(n, "change", "changes"), tenantURL)
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1) // the reader may outlive the question; it must not block
	go func() {
		line, err := bufio.NewReader(in).ReadString('\n')
		got <- answer{line, err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(out)
		return false, nil
	case a := <-got:
		if a.err != nil && !errors.Is(a.err, io.EOF) {
			return false, a.err
		}
		return strings.TrimSpace(a.line) == "yes", nil
	}
}

// applyOutput prints a line per change and, on a terminal, a progress bar for long runs.
type applyOutput struct {
	mu    sync.Mutex
	w     io.Writer
	barW  io.Writer
	bar   bool
	total int
	done  int
}

func (a *applyOutput) line(r applier.Result) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done++
	if a.bar {
		fmt.Fprint(a.barW, "\r\033[K")
	}
	ch := r.Change
	mark := "ok  "
	if r.Outcome == applier.Failed {
		mark = "FAIL"
	}
	id := ""
	if r.ID != "" {
		id = " (id " + r.ID + ")"
	}
	why := ""
	if r.Err != nil {
		why = ": " + failure(r)
	}
	fmt.Fprintf(a.w, "%s %-6s %s%s in %dms%s\n", mark, ch.Action, ch.Label(), id, r.Elapsed.Milliseconds(), why)
	for _, n := range r.Notes {
		fmt.Fprintf(a.w, "       note: %s\n", n)
	}
	if a.bar {
		const width = 30
		filled := width * a.done / a.total
		fmt.Fprintf(a.barW, "[%s%s] %d/%d", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), a.done, a.total)
	}
}

// clientOp matches the tenant client's own naming of a call ("patch service desk
// integration "X": "), which a failed change's line already says in its own words.
var clientOp = regexp.MustCompile(`^(?:create|replace|patch|delete|look up|read|update) (?:service desk integration|SIM integration|status-check configuration)(?: "(?:[^"\\]|\\.)*")?: `)

// failure is why a change failed, without the words its line already says: the applier
// prefixes the action and the object, the tenant client the call and the object again.
func failure(r applier.Result) string {
	msg := r.Err.Error()
	msg = strings.TrimPrefix(msg, fmt.Sprintf("%s %s: ", r.Change.Action, r.Change.Label()))
	return clientOp.ReplaceAllString(msg, "")
}

func (a *applyOutput) finish() {
	if a.bar {
		fmt.Fprint(a.barW, "\r\033[K")
	}
}

func writeSummary(w io.Writer, rep *applier.Report, cancelled bool) {
	fmt.Fprintln(w)
	for _, r := range rep.Results {
		if r.Outcome == applier.NotStarted {
			fmt.Fprintf(w, "not started: %s %s\n", r.Change.Action, r.Change.Label())
		}
	}
	for _, c := range rep.NotConverging {
		fmt.Fprintf(w, "NOT CONVERGING: %s\n", notConverging(c))
	}
	if rep.ReadBackErr != nil {
		fmt.Fprintf(w, "read-back failed: %v\n", rep.ReadBackErr)
	}
	state := "Apply complete"
	switch {
	case cancelled:
		state = "Apply cancelled"
	case rep.Count(applier.Failed) > 0 || rep.Count(applier.NotStarted) > 0:
		state = "Apply incomplete"
	}
	fmt.Fprintf(w, "%s: %d applied, %d failed, %d not started in %s.", state,
		rep.Count(applier.Applied), rep.Count(applier.Failed), rep.Count(applier.NotStarted), rep.Elapsed.Round(time.Millisecond))
	if rep.ReadBack && rep.ReadBackErr == nil {
		if len(rep.NotConverging) == 0 {
			fmt.Fprint(w, " Read back: the tenant holds what was written.")
		} else {
			fmt.Fprintf(w, " Read back: %s not converge.", sdim.Count(len(rep.NotConverging), "object does", "objects do"))
		}
	}
	fmt.Fprintln(w)
	if cancelled {
		fmt.Fprintln(w, "Run apply again to finish: what was applied is planned as in sync.")
	}
}

// notConverging says which fields still differ and what usually causes it.
func notConverging(c planner.Change) string {
	if c.Action == planner.ActionDelete && len(c.Fields) == 0 {
		return fmt.Sprintf("%s (id %s) is still in the tenant after its delete", c.Label(), c.ID)
	}
	var parts []string
	for _, f := range c.Fields {
		parts = append(parts, fmt.Sprintf("%s: tenant has %s, file says %s", f.Pointer, planner.FormatValue(f.Before), planner.FormatValue(f.After)))
	}
	return fmt.Sprintf("%s still differs after the apply: %s. The tenant changes or hides these fields: if one is a secret the tenant never returns, add its key to --secret-keys (the flag replaces the default list: give --secret-keys %s,KEY); otherwise list it under options.ignore",
		c.Label(), strings.Join(parts, "; "), strings.Join(sdim.DefaultSecretAttributeKeys(), ","))
}
