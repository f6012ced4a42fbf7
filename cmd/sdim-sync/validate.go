package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sdim-sync/sdim-sync/internal/desired"
)

type validateOpts struct {
	allowOutside bool
}

func newValidateCmd() *cobra.Command {
	var o validateOpts
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check a desired-state directory without contacting a tenant",
		Long: `Read every *.yaml and *.yml file below DIR (default: the current directory) as
sdim-sync's desired state, resolve its secret references, and report either a count of
what it declares or every problem found, each as file:line:column: message (paths
relative to DIR). Exit 0 when the directory is valid, 1 otherwise.

Secret references ${env:NAME} must be set in the environment of this command, as they
will be where sdim-sync plans and applies.`,
		Example: `  sdim-sync validate configs/examples`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runValidate(cmd, dir, o)
		},
	}
	cmd.Flags().BoolVar(&o.allowOutside, "allow-secret-files-outside", false,
		"let ${file:PATH} name files outside DIR (such as /run/secrets/...)")
	return cmd
}

func runValidate(cmd *cobra.Command, dir string, o validateOpts) error {
	st, err := desired.Load(dir, desired.WithSecretFilesOutside(o.allowOutside))
	var le *desired.LoadError
	if errors.As(err, &le) {
		fmt.Fprintln(cmd.ErrOrStderr(), le.Error())
		return &exitError{code: 1}
	}
	if err != nil {
		return err
	}
	if st.Files == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: no *.yaml or *.yml files in %s\n", dir)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "OK: %s\n", st.Summary())
	return err
}
