package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// flagValues are the values offered for a flag, by name, whichever command has it; a
// value may carry a description after a tab.
var flagValues = map[string][]string{
	"api-version": {"v3\tthe default", "v2024", "v2025", "v1\tthe per-service paths"},
	"mode":        {"observe\treport drift, never write", "enforce\tapply each plan"},
	"log-format":  {"auto\tJSON unless standard error is a terminal", "json", "text"},
	"log-level":   {"debug", "info", "warn", "error"},
}

// registerCompletions registers, on c, the completions of the flags it has and of a DIR
// argument. It is called for every command of the tree once the tree is built, so a
// command gets them by having the flag, without code of its own; a completion the command
// registered itself is kept.
func registerCompletions(c *cobra.Command) {
	register := func(name string, fn cobra.CompletionFunc) {
		if c.Flags().Lookup(name) == nil {
			return
		}
		if _, ok := c.GetFlagCompletionFunc(name); ok {
			return
		}
		_ = c.RegisterFlagCompletionFunc(name, fn)
	}
	for name, values := range flagValues {
		register(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	if f := c.Flags().Lookup("output"); f != nil {
		register("output", cobra.FixedCompletions(choices(f.Usage, []string{"text", "json", "markdown"}), cobra.ShellCompDirectiveNoFileComp))
	}
	register("config", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	if c.ValidArgsFunction != nil || len(c.ValidArgs) > 0 || !c.Runnable() {
		return
	}
	args := strings.Fields(c.Use)[1:]
	switch {
	case len(args) == 0:
		c.ValidArgsFunction = cobra.NoFileCompletions
	case slices.Contains(strings.Split(strings.Trim(args[0], "[]"), "|"), "DIR"):
		// DIR: directories; DIR|FILE: both, the shell's own completion.
		first := cobra.ShellCompDirectiveFilterDirs
		if strings.Contains(args[0], "FILE") {
			first = cobra.ShellCompDirectiveDefault
		}
		c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, first
		}
	}
}

// choices reads the values a flag's usage lists after its colon ("output format: text,
// json or markdown"), or returns def when it lists none.
func choices(usage string, def []string) []string {
	_, list, ok := strings.Cut(usage, ":")
	if !ok {
		return def
	}
	if i := strings.IndexAny(list, "(;"); i >= 0 {
		list = list[:i]
	}
	var out []string
	for _, part := range strings.Split(strings.ReplaceAll(list, " or ", ","), ",") {
		part = strings.TrimSpace(part)
		if part == "" || strings.ContainsAny(part, " \t") {
			return def
		}
		out = append(out, part)
	}
	if len(out) < 2 {
		return def
	}
	return out
}
