package main

import (
	"errors"
	"fmt"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "sdim-sync",
		Short:         "Keep SailPoint ISC service desk integrations in the state declared in YAML files",
		Version:       versionText(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// sdim-sync --version prints what sdim-sync version prints.
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newVersionCmd(), newEmulatorCmd(), newValidateCmd(), newSchemaCmd(), newExportCmd(), newPlanCmd(), newApplyCmd(), newAdoptCmd(), newServeCmd())
	// The completion command is added now rather than at Execute, so that the walk below
	// sees it too.
	root.InitDefaultCompletionCmd()
	root.SetFlagErrorFunc(flagError)
	conventions(root)
	return root
}

// conventions applies, to every command of the tree (those other files build included),
// what each command must do alike: a plain message for an unexpected argument, and the
// completions of the flags and arguments it has.
func conventions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasParent() && c.Args != nil {
			c.Args = explainArgs(c.Args)
		}
		registerCompletions(c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func versionText() string {
	return fmt.Sprintf("sdim-sync %s (commit %s, %s, %s/%s)", version, revision(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of sdim-sync (also sdim-sync --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}

// buildSetting returns a setting of the binary's build information, or "".
func buildSetting(key string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == key {
				return s.Value
			}
		}
	}
	return ""
}

// explainArgs wraps a command's argument check: cobra calls an extra argument of a command
// without subcommands an "unknown command"; say instead what the command takes.
func explainArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return argsError(cmd, args)
		}
		return nil
	}
}

func argsError(cmd *cobra.Command, args []string) error {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	got := "got " + strings.Join(quoted, " ")
	takes := "takes no arguments"
	if use := strings.Fields(cmd.Use); len(use) > 1 {
		takes = "takes " + strings.Join(use[1:], " ")
		if strings.HasPrefix(use[1], "[") && len(use) == 2 {
			takes = "takes at most one argument, " + use[1]
		}
	}
	return seeHelp(cmd, fmt.Errorf("%s %s; %s", cmd.CommandPath(), takes, got))
}

// flagError rewrites pflag's errors about flags that do not exist: the nearest flag the
// command has, and a pointer at --help; the client secret is explained, as it is never a
// flag on purpose.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) {
		return seeHelp(cmd, err)
	}
	name := ne.GetSpecifiedName()
	if ne.GetSpecifiedShortnames() != "" {
		return seeHelp(cmd, fmt.Errorf("unknown flag -%s (in -%s) for %s", name, ne.GetSpecifiedShortnames(), cmd.CommandPath()))
	}
	if isSecretFlag(name) {
		return seeHelp(cmd, fmt.Errorf("unknown flag --%s: the client secret is never a flag (it would show in process lists and shell history); set %s or give --client-secret-file FILE",
			name, tenant.EnvClientSecret))
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	if s := suggest(name, names); s != "" {
		return seeHelp(cmd, fmt.Errorf("unknown flag --%s for %s: did you mean --%s?", name, cmd.CommandPath(), s))
	}
	return seeHelp(cmd, fmt.Errorf("unknown flag --%s for %s", name, cmd.CommandPath()))
}

// helpError is a usage error, followed by a pointer at the command's help.
type helpError struct {
	err error
	cmd string
}

func (e *helpError) Error() string { return e.err.Error() + "\nSee '" + e.cmd + " --help'." }
func (e *helpError) Unwrap() error { return e.err }

func seeHelp(cmd *cobra.Command, err error) error {
	return &helpError{err: err, cmd: cmd.CommandPath()}
}

// isSecretFlag reports whether name asks for the client secret as a flag value.
func isSecretFlag(name string) bool {
	n := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(name))
	return n == "clientsecret" || n == "secret" || n == "sailclientsecret"
}

// suggest returns the candidate nearest to word when it is close enough to be a likely
// typo (the same letters in another case, a prefix, or a few edits away), else "".
func suggest(word string, candidates []string) string {
	lw := strings.ToLower(word)
	best, bestDist := "", -1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := sdim.EditDistance(lw, lc)
		if len(lw) >= 3 && strings.HasPrefix(lc, lw) {
			d = min(d, 1) // a flag cut short: --prun for --prune, --detailed for --detailed-exitcode
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(1, min(3, len([]rune(word))/3))
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// colourAllowed reports whether the environment lets a terminal be coloured: not with
// NO_COLOR set to anything but "" (https://no-color.org), not with TERM=dumb.
func colourAllowed(lookupEnv func(string) (string, bool)) bool {
	if v, _ := lookupEnv("NO_COLOR"); v != "" {
		return false
	}
	term, _ := lookupEnv("TERM")
	return term != "dumb"
}
