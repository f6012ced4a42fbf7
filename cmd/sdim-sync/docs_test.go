package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

// TestDocumentedCommands runs every sdim-sync command that README.md and docs/*.md show in
// a shell block (```sh, ```bash, ```shell), in the order each file shows them, against a
// fresh emulated tenant per file, in a workspace holding a copy of configs/ and a
// desired/ directory (a copy of configs/examples). A command passes when it exits as its
// comment says ("exit N"), else 0 (or 0 or 2 with --detailed-exitcode). Long-running
// commands (serve, emulator) pass when they are still running after a moment and then
// stop cleanly on cancellation. Synopsis lines ([DIR], [flags]) are skipped. So a doc that
// names a directory that does not exist, a flag that was renamed or an exit code that
// changed fails CI.
func TestDocumentedCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every documented command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, docs...)
	total := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cmds := documentedCommands(string(data))
		if len(cmds) == 0 {
			continue
		}
		total += len(cmds)
		rel, _ := filepath.Rel(root, file)
		t.Run(rel, func(t *testing.T) {
			emu, err := emulator.New(emulator.Config{RateLimit: -1})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(emu)
			defer srv.Close()
			ws := t.TempDir()
			copyTree(t, filepath.Join(root, "configs"), filepath.Join(ws, "configs"))
			copyTree(t, filepath.Join(root, "configs", "examples"), filepath.Join(ws, "desired"))
			t.Chdir(ws)
			for k, v := range map[string]string{
				"SAIL_BASE_URL": srv.URL, "SAIL_CLIENT_ID": emulator.DemoClientID, "SAIL_CLIENT_SECRET": emulator.DemoClientSecret,
				"SNOW_PASSWORD": "docs-snow", "JIRA_API_TOKEN": "docs-jira", "FACILITIES_API_TOKEN": "docs-facilities",
				"NO_COLOR": "1", "SDIM_SYNC_CONFIG": "",
			} {
				t.Setenv(k, v)
			}
			for _, c := range cmds {
				t.Run(fmt.Sprintf("line %d", c.line), func(t *testing.T) { c.run(t, root) })
			}
		})
	}
	if total < 10 {
		t.Errorf("found only %d documented commands: is the extraction broken?", total)
	}
}

// docCommand is one sdim-sync command line of a doc.
type docCommand struct {
	line   int
	text   string
	args   []string
	stdout string // a file the output is redirected to
	want   []int
}

var exitComment = regexp.MustCompile(`\bexit (\d)\b`)

// documentedCommands extracts the sdim-sync commands of the shell blocks of a Markdown text.
func documentedCommands(md string) []docCommand {
	var out []docCommand
	lines := strings.Split(md, "\n")
	in := false
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "```") {
			lang := strings.TrimPrefix(l, "```")
			in = !in && (lang == "sh" || lang == "bash" || lang == "shell")
			continue
		}
		if !in {
			continue
		}
		start := i
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[i])
		}
		code, comment, _ := strings.Cut(l, " #")
		words, ok := shellWords(code)
		if !ok {
			continue
		}
		// cmd1 && cmd2: each part is a command of its own, run in order.
		for len(words) > 0 {
			part := words
			if k := slices.Index(words, "&&"); k >= 0 {
				part, words = words[:k], words[k+1:]
			} else {
				words = nil
			}
			if c, ok := parseCommand(part, start+1, l, comment); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// parseCommand makes a docCommand of a command's words, or reports that it is not an
// sdim-sync command to run.
func parseCommand(words []string, line int, text, comment string) (docCommand, bool) {
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		words = words[1:] // VAR=value prefixes: the test sets the environment itself
	}
	switch {
	case len(words) > 2 && words[0] == "go" && (words[1] == "install" || words[1] == "build") && words[len(words)-1] == "./cmd/sdim-sync":
		return docCommand{line: line, text: text, args: words, want: []int{0}}, true
	case len(words) > 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/sdim-sync":
		words = words[3:]
	case len(words) > 1 && words[0] == "sdim-sync":
		words = words[1:]
	default:
		return docCommand{}, false
	}
	c := docCommand{line: line, text: text, want: []int{0}}
	for j := 0; j < len(words); j++ {
		w := words[j]
		switch {
		case strings.HasPrefix(w, "[") || w == "DIR" || w == "FILE" || w == "...":
			return docCommand{}, false // a synopsis, not a command
		case w == ">" && j+1 < len(words):
			c.stdout = words[j+1]
			j++
		case w == "|" || strings.HasPrefix(w, "2>"):
			j = len(words)
		default:
			c.args = append(c.args, os.ExpandEnv(w))
		}
	}
	if len(c.args) == 0 {
		return docCommand{}, false
	}
	if slices.Contains(c.args, "--detailed-exitcode") {
		c.want = []int{0, 2}
	}
	if m := exitComment.FindStringSubmatch(comment); m != nil {
		c.want = []int{int(m[1][0] - '0')}
	}
	return c, true
}

// shellWords splits a command line as a POSIX shell would for the plain cases docs use:
// quotes and spaces. It refuses command substitution.
func shellWords(s string) ([]string, bool) {
	if strings.Contains(s, "$(") || strings.Contains(s, "`") {
		return nil, false
	}
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, false
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, true
}

func (c docCommand) run(t *testing.T, root string) {
	t.Helper()
	args := slices.Clone(c.args)
	if args[0] == "go" {
		c.build(t, root)
		return
	}
	longRunning := args[0] == "serve" || args[0] == "emulator"
	if longRunning {
		args = loopbackAnyPort(args)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	var code int
	if longRunning {
		select {
		case code = <-done:
			t.Fatalf("%s\nexited %d at once:\n%s", c.text, code, stderr.String())
		case <-time.After(1500 * time.Millisecond):
		}
		cancel()
		select {
		case code = <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("%s\ndid not stop within 15 s of cancellation", c.text)
		}
	} else {
		select {
		case code = <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s\ndid not end within 60 s", c.text)
		}
	}
	if !slices.Contains(c.want, code) {
		t.Fatalf("%s\nexited %d, want %v\nstdout:\n%s\nstderr:\n%s", c.text, code, c.want, stdout.String(), stderr.String())
	}
	if c.stdout != "" {
		if err := os.WriteFile(c.stdout, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loopbackAnyPort makes a long-running command listen on a free loopback port, so the docs'
// fixed ports (7100, 9477) cannot clash with anything on the machine.
func loopbackAnyPort(args []string) []string {
	for i := range args {
		if args[i] == "--listen" && i+1 < len(args) {
			args[i+1] = "127.0.0.1:0"
			return args
		}
	}
	return append(args, "--listen", "127.0.0.1:0")
}

// copyTree copies a directory tree of regular files.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// build runs a documented go install or go build of the binary in the repository, with
// its output sent to a temporary directory.
func (c docCommand) build(t *testing.T, root string) {
	t.Helper()
	bin := t.TempDir()
	args := slices.Clone(c.args[1:])
	for i := range args {
		if args[i] == "-o" && i+1 < len(args) {
			args[i+1] = filepath.Join(bin, filepath.Base(args[i+1]))
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s\n%v\n%s", c.text, err, out)
	}
	if _, err := os.Stat(filepath.Join(bin, "sdim-sync")); err != nil {
		t.Fatalf("%s\nmade no sdim-sync binary: %v", c.text, err)
	}
}
