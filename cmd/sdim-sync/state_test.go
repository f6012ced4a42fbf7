package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points the default state directory (the ledgers) into a temporary directory,
// so that no test writes below the user's home.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sdim-sync-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
