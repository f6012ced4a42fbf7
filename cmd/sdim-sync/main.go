// Command sdim-sync keeps the Service Desk Integrations of SailPoint Identity Security
// Cloud tenants in the state declared in a directory of YAML files.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx (a running apply stops starting changes and lets the
	// running ones end); a second one, with the default handling restored, ends the process.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries an exit code other than 1 up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// run executes the CLI and returns the process exit code; it never calls os.Exit.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command ") {
		// cobra's own text, with its suggestion of the nearest command.
		msg = strings.TrimRight(msg, "\n") + "\nSee 'sdim-sync --help'."
	}
	fmt.Fprintln(stderr, "Error:", msg)
	return 1
}
