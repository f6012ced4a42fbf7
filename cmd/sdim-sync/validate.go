package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// validateFormatVersion is the version of validate's JSON report (docs/cli.md).
const validateFormatVersion = 1

type validateOpts struct {
	allowOutside bool
	secretKeys   []string
	output       string
	online       bool
}

func newValidateCmd() *cobra.Command {
	var o validateOpts
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check a desired-state directory; with --online, also against the tenant's types",
		Long: `Read every *.yaml and *.yml file below DIR (default: the current directory) as
sdim-sync's desired state, resolve its secret references, and report either a count of
what it declares or every problem found, each as file:line:column: message (paths
relative to DIR). Exit 0 when the directory is valid, 1 otherwise.

Secret references ${env:NAME} must be set in the environment of this command, as they
will be where sdim-sync plans and applies.

With --online, also connect to the tenant (the connection settings of plan: flags,
SAIL_* variables, the config file) through a read-only client and check that every
service desk integration's type is one the tenant offers. Templates list the attributes
a type offers but do not mark any as required, so attributes are not required by this
check; an attribute whose key is a near miss of one the template lists (usrname for
username) is reported as a warning.

-o json prints a report (formatVersion, ok, counts, problems with file, line, column
and message) instead of text; see docs/cli.md.`,
		Example: `  sdim-sync validate configs/examples
  sdim-sync validate configs/examples -o json
  sdim-sync validate configs/examples --online     # SAIL_BASE_URL, SAIL_CLIENT_ID, SAIL_CLIENT_SECRET set`,
		Args: cobra.MaximumNArgs(1),
	}
	conn := addConnFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.allowOutside, "allow-secret-files-outside", false,
		"let ${file:PATH} name files outside DIR (such as /run/secrets/...)")
	f.StringSliceVar(&o.secretKeys, "secret-keys", sdim.DefaultSecretAttributeKeys(), "attribute keys whose values are secrets (case-insensitive), as for plan")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.online, "online", false, "also check the types against the tenant (read-only; needs the connection settings)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		dir := "."
		if len(args) == 1 {
			dir = args[0]
		}
		switch o.output {
		case "text", "json":
		default:
			return fmt.Errorf("--output %q: use text or json", o.output)
		}
		return runValidate(cmd, conn, dir, o)
	}
	return cmd
}

// validateReport is validate's result; -o json prints it as it is.
type validateReport struct {
	FormatVersion int               `json:"formatVersion"`
	OK            bool              `json:"ok"`
	Dir           string            `json:"dir"`
	Counts        validateCounts    `json:"counts"`
	Online        *validateOnline   `json:"online"`
	Problems      []validateProblem `json:"problems"`
	Warnings      []validateProblem `json:"warnings"`
	// Error is set when the check could not be made: the directory is unreadable, or the
	// tenant could not be read.
	Error string `json:"error,omitempty"`
}

type validateCounts struct {
	Files                     int `json:"files"`
	ServiceDeskIntegrations   int `json:"serviceDeskIntegrations"`
	StatusCheckConfigurations int `json:"statusCheckConfigurations"`
	SIMIntegrations           int `json:"simIntegrations"`
}

type validateOnline struct {
	BaseURL    string `json:"baseURL"`
	APIVersion string `json:"apiVersion"`
	// Types is how many integration types the tenant offers.
	Types int `json:"types"`
}

type validateProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (p validateProblem) String() string {
	return desired.Problem{File: p.File, Line: p.Line, Column: p.Column, Msg: p.Message}.String()
}

func runValidate(cmd *cobra.Command, conn *connFlags, dir string, o validateOpts) error {
	rep := validateReport{FormatVersion: validateFormatVersion, Dir: dir, Problems: []validateProblem{}, Warnings: []validateProblem{}}
	st, err := desired.Load(dir, desired.WithSecretFilesOutside(o.allowOutside), desired.WithSecretKeys(o.secretKeys))
	var le *desired.LoadError
	switch {
	case errors.As(err, &le):
		for _, p := range le.Problems {
			rep.Problems = append(rep.Problems, validateProblem{File: p.File, Line: p.Line, Column: p.Column, Message: p.Msg})
		}
	case err != nil:
		rep.Error = err.Error()
	default:
		sc := 0
		if st.StatusCheck != nil {
			sc = 1
		}
		rep.Counts = validateCounts{Files: st.Files, ServiceDeskIntegrations: len(st.ServiceDesk), StatusCheckConfigurations: sc, SIMIntegrations: len(st.SIM)}
		if st.Files == 0 {
			rep.Warnings = append(rep.Warnings, validateProblem{Message: "no *.yaml or *.yml files in " + dir})
		}
		literalSecrets(st, &rep)
		if o.online {
			if err := validateOnlineChecks(cmd, conn, st, &rep); err != nil {
				rep.Error = err.Error()
			}
		}
	}
	byPlace := func(a, b validateProblem) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	}
	slices.SortStableFunc(rep.Problems, byPlace)
	slices.SortStableFunc(rep.Warnings, byPlace)
	rep.OK = len(rep.Problems) == 0 && rep.Error == ""

	if o.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
		if !rep.OK {
			return &exitError{code: 1}
		}
		return nil
	}
	stderr := cmd.ErrOrStderr()
	for _, w := range rep.Warnings {
		if w.File == "" {
			fmt.Fprintln(stderr, "warning:", w.Message)
		} else {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	if rep.Error != "" {
		return errors.New(rep.Error)
	}
	if le != nil || len(rep.Problems) > 0 {
		if le != nil {
			fmt.Fprintln(stderr, le.Error())
		} else {
			fmt.Fprintf(stderr, "desired state in %s does not fit the tenant: %s\n", dir, plural(len(rep.Problems), "problem", "problems"))
			for _, p := range rep.Problems {
				fmt.Fprintln(stderr, p)
			}
		}
		return &exitError{code: 1}
	}
	out := cmd.OutOrStdout()
	if _, err := fmt.Fprintf(out, "OK: %s\n", st.Summary()); err != nil {
		return err
	}
	if rep.Online != nil {
		_, err := fmt.Fprintf(out, "OK online: every type is one of the %s %s offers\n", plural(rep.Online.Types, "type", "types"), rep.Online.BaseURL)
		return err
	}
	return nil
}

// validateOnlineChecks reads the tenant's integration types (and the templates of those
// the directory uses) through a read-only client and adds a problem for every service
// desk integration whose type the tenant does not offer. Templates mark no attribute as
// required; a near miss of an attribute a template lists is a warning.
func validateOnlineChecks(cmd *cobra.Command, conn *connFlags, st *desired.State, rep *validateReport) error {
	s, err := conn.settings()
	if err != nil {
		return err
	}
	c, err := tenant.New(s, tenant.WithLogger(cliLogger(cmd.ErrOrStderr(), false)))
	if err != nil {
		return err
	}
	c = c.ReadOnly()
	ctx := cmd.Context()
	types, err := c.ListTypes(ctx)
	if err != nil {
		return err
	}
	rep.Online = &validateOnline{BaseURL: s.BaseURL, APIVersion: string(s.APIVersion), Types: len(types)}
	byType := map[string]sdim.IntegrationType{}
	var names []string
	for _, t := range types {
		byType[t.Type] = t
		names = append(names, t.Type)
	}
	slices.Sort(names)
	templates := map[string][]string{} // type: the attribute keys its template lists
	pos := newPositions(st.Dir)
	for _, r := range st.ServiceDesk {
		typ := r.Spec.Type
		t, ok := byType[typ]
		if !ok {
			msg := fmt.Sprintf("spec.type: %q is not a service desk integration type the tenant offers", typ)
			if sug := suggest(typ, names); sug != "" {
				msg += fmt.Sprintf("; did you mean %q?", sug)
			} else {
				msg += fmt.Sprintf(" (it offers %s)", quoteList(names))
			}
			line, col := pos.at(r.Source, false, "spec", "type")
			rep.Problems = append(rep.Problems, validateProblem{File: r.Source.File, Line: line, Column: col, Message: msg})
			continue
		}
		keys, seen := templates[typ]
		if !seen && t.ScriptName != "" {
			tpl, err := c.GetTemplate(ctx, t.ScriptName)
			switch {
			case tenant.IsNotFound(err):
			case err != nil:
				return err
			default:
				for k := range tpl.Attributes {
					keys = append(keys, k)
				}
				slices.Sort(keys)
			}
			templates[typ] = keys
		}
		if len(keys) == 0 {
			continue
		}
		var own []string
		for k := range r.Spec.Attributes {
			own = append(own, k)
		}
		slices.Sort(own)
		for _, k := range own {
			if slices.Contains(keys, k) {
				continue
			}
			if sug := suggest(k, keys); sug != "" && !slices.Contains(own, sug) {
				line, col := pos.at(r.Source, true, "spec", "attributes", k)
				rep.Warnings = append(rep.Warnings, validateProblem{File: r.Source.File, Line: line, Column: col,
					Message: fmt.Sprintf("spec.attributes.%s: the template of %s lists no %q; did you mean %q?", k, typ, k, sug)})
			}
		}
	}
	return nil
}

// literalSecrets warns about each attribute under a secret key (--secret-keys) whose
// value is written in the file rather than referenced: it would be in the repository.
func literalSecrets(st *desired.State, rep *validateReport) {
	pos := newPositions(st.Dir)
	check := func(src desired.Source, attrs map[string]any) {
		for k, v := range attrs {
			if sec, ok := v.(sdim.Secret); ok && sec.Source() == "" {
				line, col := pos.at(src, true, "spec", "attributes", k)
				rep.Warnings = append(rep.Warnings, validateProblem{File: src.File, Line: line, Column: col, Message: fmt.Sprintf(
					"spec.attributes.%s: a secret written in the file; keep it out of the repository with ${env:NAME} or ${file:PATH}", k)})
			}
		}
	}
	for _, r := range st.ServiceDesk {
		check(r.Source, r.Spec.Attributes)
	}
	for _, r := range st.SIM {
		check(r.Source, r.Spec.Attributes)
	}
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// plural is "1 problem" or "2 problems".
func plural(n int, one, many string) string { return sdim.Count(n, one, many) }

// positions finds the line of a key inside a document of the desired directory, for
// errors found after loading (which keeps only where each document starts).
type positions struct {
	dir   string
	files map[string][]*yaml.Node // the documents' top nodes, by file
}

func newPositions(dir string) *positions {
	return &positions{dir: dir, files: map[string][]*yaml.Node{}}
}

// at returns the line and column of the value at path (of its key, with key) in the
// document that starts at src, or src's own when it cannot be found.
func (p *positions) at(src desired.Source, key bool, path ...string) (int, int) {
	docs, ok := p.files[src.File]
	if !ok {
		if data, err := desired.ReadRegular(filepath.Join(p.dir, filepath.FromSlash(src.File)), desired.DefaultMaxFileSize); err == nil {
			dec := yaml.NewDecoder(bytes.NewReader(data))
			for {
				var doc yaml.Node
				if err := dec.Decode(&doc); err != nil {
					if !errors.Is(err, io.EOF) {
						docs = nil
					}
					break
				}
				if len(doc.Content) == 1 {
					docs = append(docs, doc.Content[0])
				}
			}
		}
		p.files[src.File] = docs
	}
	for _, n := range docs {
		if n.Line != src.Line || n.Column != src.Column {
			continue
		}
		var keyNode *yaml.Node
		for _, name := range path {
			if n == nil || n.Kind != yaml.MappingNode {
				return src.Line, src.Column
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					keyNode, next = n.Content[i], n.Content[i+1]
				}
			}
			n = next
		}
		if key && n != nil {
			n = keyNode
		}
		if n != nil {
			return n.Line, n.Column
		}
	}
	return src.Line, src.Column
}
