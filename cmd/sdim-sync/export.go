package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/export"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

type exportOpts struct {
	dir        string
	out        string
	force      bool
	sim        bool
	targets    []string
	secretKeys []string
	desired    string
	outside    bool
	verbose    bool
}

func newExportCmd() *cobra.Command {
	var o exportOpts
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the tenant's live integrations as desired-state YAML",
		Long: `Read the tenant's service desk integrations and status-check configuration (and its
SIM integrations with --sim) through a read-only client, page by page, and write them in
the desired-state format: a starting point for managing a tenant whose integrations were
made by hand. A plan of the export against the same tenant has no changes.

With --dir, every object gets its own file (service-desk/NAME.yaml, sim/NAME.yaml,
status-check.yaml); an existing file is never overwritten without --force, and nothing is
written unless the whole export succeeds. With --out, every document goes into one file,
refused when it would be larger than the 4 MiB the loader reads. With neither, the
documents go to standard output.

The tenant never returns secret attributes (passwords, client secrets, tokens). A comment
above each object names the ones its type's template declares; add them to the exported
files as ${env:NAME} or ${file:PATH} references before applying: a PUT without them would
clear them.

The export never writes a secret the tenant returns: values under the secret keys and
under keys that look secret (authorization, credential, accessToken...), values that
look like credentials ("Bearer ...", "Basic ...", a private key) and, with --desired DIR,
any text holding a value that DIR's desired state supplies through a secret reference.
Each is left out, put in the object's options.ignore and named in its comment.`,
		Example: `  SAIL_BASE_URL=https://acme.api.identitynow.com SAIL_CLIENT_ID=... SAIL_CLIENT_SECRET=... \
    sdim-sync export --dir desired
  sdim-sync export --out integrations.yaml --target 'ServiceNow*'`,
		Args: cobra.NoArgs,
	}
	conn := addConnFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "write one file per object into this directory (created when missing)")
	f.StringVar(&o.out, "out", "", "write every object into this one file instead of standard output")
	f.BoolVar(&o.force, "force", false, "with --dir, overwrite existing files (files of objects no longer in the tenant are left as they are)")
	f.BoolVar(&o.sim, "sim", false, "also export SIM integrations (API versions v2024, v2025 and v1)")
	f.StringArrayVar(&o.targets, "target", nil, "export only the objects this glob matches: NAME-GLOB or KIND/NAME-GLOB (repeatable)")
	f.StringSliceVar(&o.secretKeys, "secret-keys", sdim.DefaultSecretAttributeKeys(), "attribute keys the tenant never returns (case-insensitive): never written")
	f.StringVar(&o.desired, "desired", "", "also leave out every value holding a secret this desired-state directory resolves (its references must resolve)")
	f.BoolVar(&o.outside, "allow-secret-files-outside", false, "with --desired, let ${file:PATH} name files outside its directory")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log every request to standard error")
	cmd.MarkFlagsMutuallyExclusive("dir", "out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.force && o.dir == "" {
			return fmt.Errorf("--force only applies to --dir (--out always replaces its file)")
		}
		targets, err := sdim.ParseTargets(o.targets)
		if err != nil {
			return err
		}
		var secrets []sdim.Secret
		if o.desired != "" {
			st, err := desired.Load(o.desired, desired.WithSecretFilesOutside(o.outside), desired.WithSecretKeys(o.secretKeys))
			if err != nil {
				return fmt.Errorf("--desired %s: %w", o.desired, err)
			}
			secrets = export.DesiredSecrets(st)
		} else if o.outside {
			return fmt.Errorf("--allow-secret-files-outside only applies to --desired")
		}
		s, err := conn.settings()
		if err != nil {
			return err
		}
		if o.sim && !s.APIVersion.HasSIM() {
			return fmt.Errorf("--sim: SIM integrations need API version v2024, v2025 or v1, not %s: set --api-version", s.APIVersion)
		}
		log := cliLogger(cmd.ErrOrStderr(), o.verbose)
		c, err := tenant.New(s, tenant.WithLogger(log))
		if err != nil {
			return err
		}
		stderr := cmd.ErrOrStderr()
		sum, err := export.Run(cmd.Context(), c.ReadOnly(), export.Options{
			Dir: o.dir, Out: o.out, W: cmd.OutOrStdout(), Force: o.force, SIM: o.sim,
			Match: targets.Match, SecretKeys: o.secretKeys, Secrets: secrets,
			Header: []string{
				fmt.Sprintf("Exported by sdim-sync %s from %s (API %s).", version, s.BaseURL, s.APIVersion),
				"The tenant never returns secret attributes: add each one as ${env:NAME} or ${file:PATH}",
				"before applying, or a PUT will clear it.",
			},
			Warn: func(msg string) { fmt.Fprintf(stderr, "warning: %s\n", msg) },
		})
		if err != nil {
			return err
		}
		dest := o.dir
		if dest == "" {
			dest = o.out
		}
		if dest != "" {
			sc := "and the status-check configuration"
			if !sum.StatusCheck {
				sc = "and not the status-check configuration"
			}
			fmt.Fprintf(stderr, "exported %d service desk integrations, %d SIM integrations %s to %s\n",
				sum.ServiceDesk, sum.SIM, sc, dest)
		}
		return nil
	}
	return cmd
}

// writeFileAtomic writes data to a temporary file beside path and renames it into place.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
