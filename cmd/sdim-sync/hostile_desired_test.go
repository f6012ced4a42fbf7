package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

// runCLIWithin is runCLI that fails the test when the command has not returned after a
// few seconds (a FIFO opened for reading blocks until a writer comes).
func runCLIWithin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCLI(t, args...)
		done <- result{code, out, errOut}
	}()
	select {
	case r := <-done:
		return r.code, r.out, r.errOut
	case <-time.After(10 * time.Second):
		t.Fatalf("%v blocked for 10 s", args)
		return 0, "", ""
	}
}

// TestSpecialFilesDoNotHang: validate and plan over a directory holding a FIFO named
// *.yaml, and a *.yaml link to a FIFO, return at once with a problem naming each file and
// what it is, and write nothing.
func TestSpecialFilesDoNotHang(t *testing.T) {
	e, url := startCLITenant(t, 1)
	t.Setenv("SAIL_BASE_URL", url)
	t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
	t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "good.yaml"), "kind: ServiceDeskIntegration\nname: Good\nspec: {type: T, attributes: {}}\n")
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".hidden"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, ".hidden", "p"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(".hidden", "p"), filepath.Join(dir, "linked.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"validate", "plan"} {
		start := time.Now()
		code, out, errOut := runCLIWithin(t, cmd, dir)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s%s", cmd, code, out, errOut)
		}
		for _, want := range []string{
			"linked.yaml: not a regular file but a named pipe (FIFO): a YAML file of the desired state must be a plain file",
			"pipe.yaml: not a regular file but a named pipe (FIFO): a YAML file of the desired state must be a plain file",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: the output lacks %q:\n%s", cmd, want, errOut)
			}
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v", cmd, d)
		}
	}
	if w := e.Counters().TotalWrites(); w != 0 {
		t.Errorf("%d writes", w)
	}
}

// TestNumbersExactThroughTheTenant: numbers that float64 would round go from the file to
// the tenant and back with every digit: plan shows a create, apply writes it, the
// emulator stores the exact digits, and the next plan has no changes. A float spelling of
// an integer is equal to that integer, and not to its float64 neighbour.
func TestNumbersExactThroughTheTenant(t *testing.T) {
	huge := "1" + strings.Repeat("234567890", 44) // 397 digits: beyond float64, read as text by the YAML parser
	tests := []struct {
		name   string
		value  string // as written in the file
		stored string // in the emulator's stored JSON
	}{
		{"beyond 64 bits", "123456789012345678901234567890", `"n":123456789012345678901234567890`},
		{"below int64", "-9223372036854775809", `"n":-9223372036854775809`},
		{"beyond uint64, tagged", "!!int 18446744073709551617", `"n":18446744073709551617`},
		{"beyond float64", huge, `"n":` + huge},
		{"float spelling of an integer", "9007199254740993.0", `"n":9007199254740993.0`},
		{"int64 past 2^53", "9007199254740993", `"n":9007199254740993`},
		{"exponent beyond float64", "1.5e400", `"n":1.5e400`},
		{"a fraction float64 cannot hold", "0.10000000000000000001", `"n":0.10000000000000000001`},
		{"in a list", "[123456789012345678901234567891, 2]", `"n":[123456789012345678901234567891,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, url := startCLITenant(t, 0)
			t.Setenv("SAIL_BASE_URL", url)
			t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
			t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
			t.Setenv("NO_COLOR", "1")
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "n.yaml"), "kind: ServiceDeskIntegration\nname: Numbers\nspec:\n  type: ServiceNowSDIM\n  attributes:\n    n: "+tt.value+"\n")
			if code, out, errOut := runCLI(t, "validate", dir); code != 0 {
				t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut := runCLI(t, "plan", dir)
			if code != 0 || !strings.Contains(out, `+ create ServiceDeskIntegration "Numbers"`) {
				t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = runCLI(t, "apply", dir, "--auto-approve")
			if code != 0 || !strings.Contains(out, "Read back: the tenant holds what was written.") {
				t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
			}
			b, err := json.Marshal(e.State())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.stored) {
				t.Errorf("the emulator stored %s, want %s in it", b, tt.stored)
			}
			code, out, errOut = runCLI(t, "plan", dir)
			if code != 0 || !strings.Contains(out, "No changes.") {
				t.Errorf("plan after apply: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// TestNumbersCompareExactly: against a tenant holding an integer, the float spelling of
// the same integer plans no change, and a neighbour that float64 cannot tell apart plans
// an update.
func TestNumbersCompareExactly(t *testing.T) {
	for _, tt := range []struct {
		live, desired string
		changes       bool
	}{
		{"9007199254740993", "9007199254740993.0", false},
		{"9007199254740993", "9.007199254740993e15", false},
		{"9007199254740992", "9007199254740993.0", true},
		{"123456789012345678901234567890", "123456789012345678901234567890.000", false},
		{"123456789012345678901234567890", "123456789012345678901234567891", true},
		{"1000", "1e3", false},
	} {
		t.Run(tt.live+" vs "+tt.desired, func(t *testing.T) {
			e, err := emulator.New(emulator.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Seed(emulator.State{FormatVersion: emulator.StateFormatVersion, ServiceDeskIntegrations: []map[string]any{
				sd("Numbers", map[string]any{"n": json.Number(tt.live)}),
			}}); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(e)
			t.Cleanup(func() { srv.Close(); _ = e.Close() })
			t.Setenv("SAIL_BASE_URL", srv.URL)
			t.Setenv("SAIL_CLIENT_ID", emulator.DemoClientID)
			t.Setenv("SAIL_CLIENT_SECRET", emulator.DemoClientSecret)
			t.Setenv("NO_COLOR", "1")
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "n.yaml"), "kind: ServiceDeskIntegration\nname: Numbers\nspec:\n  type: ServiceNowSDIM\n  attributes:\n    n: "+tt.desired+"\n")
			code, out, errOut := runCLI(t, "plan", dir, "--detailed-exitcode", "--allow-secret-clear")
			if tt.changes && (code != 2 || !strings.Contains(out, "/attributes/n: "+tt.live+" -> ")) || !tt.changes && code != 0 {
				t.Fatalf("plan: exit %d, want changes %v\n%s%s", code, tt.changes, out, errOut)
			}
			if !tt.changes {
				return
			}
			if code, out, errOut := runCLI(t, "apply", dir, "--auto-approve", "--allow-secret-clear"); code != 0 {
				t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
			}
			b, _ := json.Marshal(e.State())
			if !strings.Contains(string(b), `"n":`+tt.desired) {
				t.Errorf("the emulator stored %s, want n: %s", b, tt.desired)
			}
			if code, out, errOut := runCLI(t, "plan", dir, "--detailed-exitcode"); code != 0 {
				t.Errorf("plan after apply: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
