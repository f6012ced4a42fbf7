package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sdim-sync/sdim-sync/internal/desired"
)

func newSchemaCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of desired-state documents, for editors",
		Long: `Print the JSON Schema (draft 2020-12) of one document of a desired-state file.
Point your editor's YAML language server at it to get completion and checks while you
type; sdim-sync validate checks more (duplicate names across files, secret references).`,
		Example: `  sdim-sync schema --out .sdim-sync.schema.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				_, err := cmd.OutOrStdout().Write(desired.Schema())
				return err
			}
			if err := os.WriteFile(out, desired.Schema(), 0o644); err != nil {
				return fmt.Errorf("write the schema: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the schema to this file instead of standard output")
	return cmd
}
