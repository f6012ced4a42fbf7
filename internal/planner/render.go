package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// FormatVersion is the version of the JSON plan format (docs/plan-format.md).
const FormatVersion = 1

// MarkdownLimit is the size the Markdown rendering stays under: GitHub refuses comments
// over 65,536 characters.
const MarkdownLimit = 60_000

// jsonPlan is the JSON plan format, version 1.
type jsonPlan struct {
	FormatVersion int             `json:"formatVersion"`
	APIVersion    sdim.APIVersion `json:"apiVersion,omitempty"`
	ReadAt        string          `json:"readAt,omitempty"`
	Counts        Counts          `json:"counts"`
	Targets       []string        `json:"targets,omitempty"`
	Blocked       []string        `json:"blocked"`
	Changes       []Change        `json:"changes"`
	Unmanaged     []Object        `json:"unmanaged"`
	Saved         *savedInfo      `json:"saved,omitempty"`
	// Ownership says the plan was made with the ledger: pruning deleted only objects
	// sdim-sync owns (unless the policy's pruneUnownedByName), and changes carry a class.
	Ownership bool `json:"ownership"`
}

func toJSON(r *Result) jsonPlan {
	p := jsonPlan{FormatVersion: FormatVersion, APIVersion: r.APIVersion, Counts: r.Counts, Targets: r.Policy.Targets,
		Blocked: r.Blocked, Changes: r.Changes, Unmanaged: r.Unmanaged, Ownership: r.Ownership}
	if !r.ReadAt.IsZero() {
		p.ReadAt = r.ReadAt.UTC().Format(time.RFC3339)
	}
	if p.Blocked == nil {
		p.Blocked = []string{}
	}
	if p.Changes == nil {
		p.Changes = []Change{}
	}
	if p.Unmanaged == nil {
		p.Unmanaged = []Object{}
	}
	return p
}

// WriteJSON writes the plan in the JSON plan format (docs/plan-format.md). Secrets are
// redacted: the objects a change sends are never encoded.
func WriteJSON(w io.Writer, r *Result) error {
	return writeIndented(w, toJSON(r))
}

func writeIndented(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode the plan: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// TextOptions tune WriteText.
type TextOptions struct {
	// Color adds ANSI colours (for a terminal).
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return code + s + ansiReset
}

func symbol(a Action) (string, string) {
	switch a {
	case ActionCreate:
		return "+", ansiGreen
	case ActionDelete:
		return "-", ansiRed
	}
	return "~", ansiYellow
}

func verb(c Change) string {
	switch c.Action {
	case ActionPut:
		if len(c.PushSecrets) > 0 && len(c.Fields) == 0 {
			if rotatedOnly(c.PushSecrets) {
				return "secret rotated"
			}
			return "push secrets"
		}
		return "replace"
	}
	return string(c.Action)
}

// rotatedOnly reports whether every secret a put pushes is there because it rotated.
func rotatedOnly(push []SecretPush) bool {
	for _, s := range push {
		if !s.Rotated {
			return false
		}
	}
	return len(push) > 0
}

// unmanagedNote is what the text says after an unmanaged object.
func unmanagedNote(u Object) string {
	if u.NotOwned {
		return " (not owned by sdim-sync: not pruned)"
	}
	return ""
}

// targetedText says which objects a targeted plan covers, or "".
func targetedText(r *Result) string {
	if len(r.Policy.Targets) == 0 {
		return ""
	}
	q := make([]string, len(r.Policy.Targets))
	for i, g := range r.Policy.Targets {
		q[i] = strconv.Quote(g)
	}
	return "Targeted: only objects matching " + strings.Join(q, ", ") + " were planned; the others were not compared."
}

// WriteText writes the plan for people, in the manner of terraform plan.
func WriteText(w io.Writer, r *Result, o TextOptions) error {
	var b strings.Builder
	p := painter(o.Color)
	if t := targetedText(r); t != "" {
		b.WriteString(p.paint(ansiBold, t) + "\n\n")
	}
	if len(r.Blocked) > 0 {
		b.WriteString(p.paint(ansiBold+ansiRed, "This plan is blocked and cannot be applied:") + "\n")
		for _, reason := range r.Blocked {
			b.WriteString("  - " + reason + "\n")
		}
		b.WriteString("\n")
	}
	if !r.HasChanges() {
		b.WriteString(p.paint(ansiGreen, "No changes. The tenant matches the desired state.") + "\n")
	} else {
		b.WriteString("sdim-sync will perform the following actions:\n\n")
	}
	for _, c := range r.Changes {
		writeTextChange(&b, c, p)
	}
	if len(r.Unmanaged) > 0 {
		if !r.HasChanges() {
			b.WriteString("\n")
		}
		b.WriteString("Unmanaged: in the tenant, not in the desired state, left alone:\n")
		for _, u := range r.Unmanaged {
			fmt.Fprintf(&b, "  %s (id %s)%s\n", Label(u.Kind, u.Name), u.ID, unmanagedNote(u))
		}
	}
	out := strings.TrimRight(b.String(), "\n") + "\n\n" + p.paint(ansiBold, Summary(r)) + "\n"
	_, err := io.WriteString(w, out)
	return err
}

func writeTextChange(b *strings.Builder, c Change, p painter) {
	sym, colour := symbol(c.Action)
	head := fmt.Sprintf("%s %s %s", sym, verb(c), c.Label())
	b.WriteString("  " + p.paint(colour, head))
	var notes []string
	if c.PreviousName != "" {
		notes = append(notes, fmt.Sprintf("renamed from %q", c.PreviousName))
	}
	if c.ID != "" {
		notes = append(notes, "id "+c.ID)
	}
	if c.Action == ActionPut {
		notes = append(notes, "PUT")
	}
	if c.Class != "" && c.Action != ActionCreate { // a create is always pending
		notes = append(notes, string(c.Class))
	}
	if c.Source != "" {
		if c.Absent {
			notes = append(notes, "declared absent at "+c.Source)
		} else {
			notes = append(notes, c.Source)
		}
	}
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, ", ") + ")")
	}
	if c.Observe {
		b.WriteString(" " + p.paint(ansiBold, "[observe only: not applied]"))
	}
	b.WriteString("\n")
	for _, f := range c.Fields {
		if c.Action == ActionCreate {
			fmt.Fprintf(b, "      %s = %s\n", f.Pointer, FormatValue(f.After))
			continue
		}
		fmt.Fprintf(b, "      %s: %s -> %s\n", f.Pointer, FormatValue(f.Before), FormatValue(f.After))
	}
	for _, s := range c.PushSecrets {
		what := "pushes the secret"
		if s.Rotated {
			what = "secret rotated: pushes"
		}
		fmt.Fprintf(b, "      %s %s = %s\n", what, s.Pointer, FormatValue(s.Value))
	}
	if len(c.Dropped) > 0 {
		fmt.Fprintf(b, "      %s\n", p.paint(ansiYellow, "drops live attributes the file does not declare: "+strings.Join(c.Dropped, ", ")))
	}
	for _, wn := range c.Warnings {
		fmt.Fprintf(b, "      %s\n", p.paint(ansiYellow, "warning: "+wn))
	}
	b.WriteString("\n")
}

// Summary is the plan's one-line summary, such as "Plan: 1 to create, 2 to update (1
// patch, 1 put), 0 to delete; 3 unmanaged; 10 in sync.".
func Summary(r *Result) string {
	n := r.Counts
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: %d to create, %d to update (%d patch, %d put), %d to delete",
		n.Create, n.Patch+n.Put, n.Patch, n.Put, n.Delete)
	if n.Observe > 0 {
		fmt.Fprintf(&b, "; %d observe-only", n.Observe)
	}
	fmt.Fprintf(&b, "; %d unmanaged; %d in sync.", n.Unmanaged, n.InSync)
	if len(r.Blocked) > 0 {
		b.WriteString(" BLOCKED: nothing will be applied.")
	}
	return b.String()
}

// FormatValue renders a canonical value on one line: strings quoted, numbers and booleans
// as JSON, secrets redacted, lists and maps as compact JSON, an absent value as (none).
func FormatValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "(none)"
	case sdim.Secret:
		return t.Redacted()
	case string:
		return strconv.Quote(t)
	case json.Number:
		return string(t)
	case bool:
		return strconv.FormatBool(t)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("(%T)", v) // never the value: it could not be made safe
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// MarkdownOptions tune WriteMarkdown.
type MarkdownOptions struct {
	// Tenant is the tenant's API base URL and Dir the desired directory (or file), as the
	// plan was given them: the heading names both, so that comments of several plans in
	// one pull request (production, sandbox) are told apart. Either may be "".
	Tenant string
	Dir    string
}

// WriteMarkdown writes the plan as a pull-request comment: a heading naming the tenant
// and the directory, a summary table, blocked reasons and deletes first, each change
// folded in a <details> block. It stays under MarkdownLimit characters, leaving out the
// details of the last changes if it must.
func WriteMarkdown(w io.Writer, r *Result, o MarkdownOptions) error {
	var head strings.Builder
	head.WriteString("## sdim-sync plan")
	var of []string
	if o.Tenant != "" {
		of = append(of, "for "+mdCode(o.Tenant))
	}
	if o.Dir != "" {
		of = append(of, "from "+mdCode(o.Dir))
	}
	if len(of) > 0 {
		head.WriteString(" " + strings.Join(of, " "))
	}
	head.WriteString("\n\n")
	if t := targetedText(r); t != "" {
		head.WriteString("> [!NOTE]\n> " + mdText(t) + "\n\n")
	}
	if len(r.Blocked) > 0 {
		head.WriteString("> [!CAUTION]\n> **This plan is blocked and cannot be applied.**\n")
		for _, reason := range r.Blocked {
			head.WriteString(">\n> - " + mdText(reason) + "\n")
		}
		head.WriteString("\n")
	}
	var deletes []string
	for _, c := range r.Changes {
		if c.Action == ActionDelete {
			d := fmt.Sprintf("`%s` %s (id `%s`)", c.Kind, mdText(strconv.Quote(c.Name)), c.ID)
			if c.Absent {
				d += " (declared absent at " + mdCode(c.Source) + ")"
			}
			if c.Observe {
				d += " (observe only)"
			}
			deletes = append(deletes, d)
		}
	}
	if len(deletes) > 0 {
		fmt.Fprintf(&head, "> [!WARNING]\n> **%d %s will be deleted:**\n", len(deletes), plural(len(deletes), "integration", "integrations"))
		for _, d := range deletes {
			head.WriteString("> - " + d + "\n")
		}
		head.WriteString("\n")
	}
	if !r.HasChanges() {
		head.WriteString("**No changes.** The tenant matches the desired state.\n\n")
	}
	n := r.Counts
	head.WriteString("| action | count |\n| --- | ---: |\n")
	for _, row := range []struct {
		name  string
		count int
	}{
		{"create", n.Create}, {"update (patch)", n.Patch}, {"update (put)", n.Put}, {"**delete**", n.Delete},
		{"observe only", n.Observe}, {"unmanaged", n.Unmanaged}, {"in sync", n.InSync},
	} {
		fmt.Fprintf(&head, "| %s | %d |\n", row.name, row.count)
	}
	head.WriteString("\n")

	var tail strings.Builder
	if len(r.Unmanaged) > 0 {
		fmt.Fprintf(&tail, "<details><summary>%d unmanaged (in the tenant, not in the desired state, left alone)</summary>\n\n", len(r.Unmanaged))
		for _, u := range r.Unmanaged {
			fmt.Fprintf(&tail, "- `%s` %s (id `%s`)%s\n", u.Kind, mdText(strconv.Quote(u.Name)), u.ID, mdText(unmanagedNote(u)))
		}
		tail.WriteString("\n</details>\n\n")
	}
	tail.WriteString("_" + mdText(Summary(r)) + "_\n")

	out := head.String()
	budget := MarkdownLimit - len(out) - len(tail.String()) - 300
	for i, c := range r.Changes {
		block := markdownChange(c)
		if len(block) > budget {
			out += fmt.Sprintf("> [!NOTE]\n> The details of %d more %s are left out to stay under GitHub's comment limit: see the job log or `sdim-sync plan -o json`.\n\n",
				len(r.Changes)-i, plural(len(r.Changes)-i, "change", "changes"))
			break
		}
		budget -= len(block)
		out += block
	}
	out += tail.String()
	_, err := io.WriteString(w, out)
	return err
}

func markdownChange(c Change) string {
	var b strings.Builder
	sym, _ := symbol(c.Action)
	title := fmt.Sprintf("%s <b>%s</b> %s", sym, verb(c), htmlText(c.Label()))
	if c.PreviousName != "" {
		title += htmlText(fmt.Sprintf(" (renamed from %q)", c.PreviousName))
	}
	if c.Observe {
		title += " <i>(observe only)</i>"
	}
	fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n", title)
	var meta []string
	if c.ID != "" {
		meta = append(meta, "id `"+c.ID+"`")
	}
	if c.Class != "" && c.Action != ActionCreate {
		meta = append(meta, "drift: **"+string(c.Class)+"**")
	}
	if c.Action == ActionPut {
		meta = append(meta, "a PUT replaces the whole object")
	}
	if c.Source != "" {
		if c.Absent {
			meta = append(meta, "declared absent at "+mdCode(c.Source))
		} else {
			meta = append(meta, "declared at "+mdCode(c.Source))
		}
	}
	if len(meta) > 0 {
		b.WriteString(strings.Join(meta, " · ") + "\n\n")
	}
	if len(c.Fields) > 0 && c.Action == ActionCreate {
		b.WriteString("| field | value |\n| --- | --- |\n")
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "| %s | %s |\n", mdCode(f.Pointer), mdCell(f.After))
		}
		b.WriteString("\n")
	} else if len(c.Fields) > 0 {
		b.WriteString("| field | before | after |\n| --- | --- | --- |\n")
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCode(f.Pointer), mdCell(f.Before), mdCell(f.After))
		}
		b.WriteString("\n")
	}
	if len(c.PushSecrets) > 0 {
		b.WriteString("**Pushes the secrets** (their values are never shown, and the tenant never returns them):\n\n")
		for _, s := range c.PushSecrets {
			note := ""
			if s.Rotated {
				note = " (secret rotated)"
			}
			fmt.Fprintf(&b, "- %s = %s%s\n", mdCode(s.Pointer), mdCell(s.Value), note)
		}
		b.WriteString("\n")
	}
	if len(c.Dropped) > 0 {
		codes := make([]string, len(c.Dropped))
		for i, d := range c.Dropped {
			codes[i] = mdCode(d)
		}
		b.WriteString("**Drops live attributes the file does not declare:** " + strings.Join(codes, ", ") + "\n\n")
	}
	for _, wn := range c.Warnings {
		b.WriteString("> [!WARNING]\n> " + mdText(wn) + "\n\n")
	}
	b.WriteString("</details>\n\n")
	return b.String()
}

const mdCellMax = 300

func mdCell(v any) string {
	s := FormatValue(v)
	if len(s) > mdCellMax {
		s = s[:mdCellMax] + "…"
	}
	return mdCode(s)
}

// mdCode renders s as a code span that survives a table cell.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || len(fence) > 1 {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// htmlText escapes s for HTML text (quotes stay as they are, for readable source).
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdText escapes s for Markdown prose.
func mdText(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "`", "\\`", "*", "\\*", "_", "\\_", "<", "&lt;", ">", "&gt;", "|", "\\|", "[", "\\[", "]", "\\]", "\n", " ")
	return r.Replace(s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
