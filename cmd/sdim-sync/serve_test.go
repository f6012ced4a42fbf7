package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// binary builds sdim-sync once for the tests that run the real binary.
func binary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sdim-sync-bin")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "sdim-sync")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// daemonProc is a running `sdim-sync serve`.
type daemonProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  strings.Builder
	done chan error
}

// startServe starts the binary's serve on dir against the tenant at baseURL.
func startServe(t *testing.T, baseURL, dir string, args ...string) *daemonProc {
	t.Helper()
	all := append([]string{"serve", dir, "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug",
		"--api-version", "v2024", "--schedule", "@every 1h"}, args...)
	cmd := exec.Command(binary(t), all...)
	cmd.Env = append(os.Environ(), "SAIL_BASE_URL="+baseURL, "SAIL_CLIENT_ID="+emulator.DemoClientID,
		"SAIL_CLIENT_SECRET="+emulator.DemoClientSecret)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{t: t, cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct {
				Msg     string `json:"msg"`
				Address string `json:"address"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving HTTP" {
				addr <- strings.TrimPrefix(rec.Address, "http://")
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", p.logText())
		}
	})
	select {
	case p.addr = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not start HTTP within 20 s:\n%s", p.logText())
	}
	return p
}

func (p *daemonProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type statusDoc struct {
	Running *struct{ ID string } `json:"running"`
	Runs    []struct {
		ID      string `json:"id"`
		Trigger string `json:"trigger"`
		Result  string `json:"result"`
		Error   string `json:"error"`
	} `json:"runs"`
}

func (p *daemonProc) status() statusDoc {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + "/status")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statusDoc
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		p.t.Fatal(err)
	}
	return st
}

// runs counts the finished runs with the trigger.
func (p *daemonProc) runs(trigger string) int {
	n := 0
	for _, r := range p.status().Runs {
		if r.Trigger == trigger {
			n++
		}
	}
	return n
}

// eventually polls cond every 20 ms for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sdDoc declares the password the ServiceNowSDIM template holds (a literal under a secret
// key is held as a secret), so that a put of it clears no credential and is not blocked.
func sdDoc(name, description string) string {
	return fmt.Sprintf("kind: ServiceDeskIntegration\nname: %s\nspec:\n  description: %s\n  type: ServiceNowSDIM\n  attributes: {url: https://acme.service-now.com, password: test-only}\n", name, description)
}

// descriptions maps the tenant's integration names to their descriptions.
func descriptions(e *emulator.Emulator) map[string]string {
	out := map[string]string{}
	for _, o := range e.State().ServiceDeskIntegrations {
		d, _ := o["description"].(string)
		out[o["name"].(string)] = d
	}
	return out
}

// TestServeAppliesFileChanges runs the real binary on a real file system: each way a
// desired file changes in practice leads to exactly one run, which applies the change.
func TestServeAppliesFileChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	tests := []struct {
		name string
		// setup writes the first desired state; change changes it.
		setup  func(t *testing.T, dir string)
		change func(t *testing.T, dir string)
		// want is the description of the integration named "A" or "B" after the change.
		wantName, wantDescription string
	}{
		{
			name:  "editor writes a temp file and renames it",
			setup: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "a.yaml"), sdDoc("A", "first")) },
			change: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ".a.yaml.swp"), "editor swap file")
				writeFile(t, filepath.Join(dir, "a.yaml.tmp~"), sdDoc("A", "edited"))
				if err := os.Rename(filepath.Join(dir, "a.yaml.tmp~"), filepath.Join(dir, "a.yaml")); err != nil {
					t.Fatal(err)
				}
				_ = os.Remove(filepath.Join(dir, ".a.yaml.swp"))
			},
			wantName: "A", wantDescription: "edited",
		},
		{
			name:  "a new subdirectory with a file in it",
			setup: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "a.yaml"), sdDoc("A", "first")) },
			change: func(t *testing.T, dir string) {
				mkdir(t, filepath.Join(dir, "team", "emea"))
				writeFile(t, filepath.Join(dir, "team", "emea", "b.yaml"), sdDoc("B", "in a new directory"))
			},
			wantName: "B", wantDescription: "in a new directory",
		},
		{
			name: "a Kubernetes ConfigMap update swaps the ..data symlink",
			setup: func(t *testing.T, dir string) {
				mkdir(t, filepath.Join(dir, "..2026_12_01_09_00_00.1"))
				writeFile(t, filepath.Join(dir, "..2026_12_01_09_00_00.1", "a.yaml"), sdDoc("A", "first"))
				symlink(t, "..2026_12_01_09_00_00.1", filepath.Join(dir, "..data"))
				symlink(t, "..data/a.yaml", filepath.Join(dir, "a.yaml"))
			},
			change: func(t *testing.T, dir string) {
				mkdir(t, filepath.Join(dir, "..2026_12_01_09_05_00.2"))
				writeFile(t, filepath.Join(dir, "..2026_12_01_09_05_00.2", "a.yaml"), sdDoc("A", "from the new ConfigMap"))
				symlink(t, "..2026_12_01_09_05_00.2", filepath.Join(dir, "..data_tmp"))
				if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(filepath.Join(dir, "..2026_12_01_09_00_00.1")); err != nil {
					t.Fatal(err)
				}
			},
			wantName: "A", wantDescription: "from the new ConfigMap",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, err := emulator.New(emulator.Config{})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(emu)
			defer srv.Close()
			dir := t.TempDir()
			tt.setup(t, dir)
			p := startServe(t, srv.URL, dir, "--mode", "enforce", "--debounce", "300ms")
			eventually(t, "the startup run", func() bool { return p.runs("startup") == 1 })
			if got := descriptions(emu)["A"]; got != "first" {
				t.Fatalf("after the startup run the tenant holds %q for A", got)
			}
			tt.change(t, dir)
			eventually(t, "the change in the tenant", func() bool { return descriptions(emu)[tt.wantName] == tt.wantDescription })
			eventually(t, "the watch run recorded", func() bool { return p.runs("watch") >= 1 && p.status().Running == nil })
			time.Sleep(time.Second) // three debounces: a second run would have started by now
			st := p.status()
			watchRuns := 0
			for _, r := range st.Runs {
				if r.Trigger == "watch" {
					watchRuns++
					if r.Result != "success" {
						t.Errorf("watch run %s: %s %s", r.ID, r.Result, r.Error)
					}
				}
			}
			if watchRuns != 1 || len(st.Runs) != 2 {
				t.Errorf("%d runs, %d by the watcher; want the startup run and exactly one watch run", len(st.Runs), watchRuns)
			}
		})
	}
}

// TestServeStopsOnSIGTERM: exit 0, and the log says so.
func TestServeStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	emu, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), sdDoc("A", "first"))
	p := startServe(t, srv.URL, dir)
	eventually(t, "the startup run", func() bool { return p.runs("startup") == 1 })
	resp, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %d %s", resp.StatusCode, body)
	}
	if w := emu.Counters().Writes; len(w) != 0 {
		t.Errorf("observe mode (the default) wrote: %v", w)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM, want 0", err)
		}
	case <-ctx.Done():
		t.Fatal("serve did not exit within 10 s of SIGTERM")
	}
	if !strings.Contains(p.logText(), `"msg":"sdim-sync serve exited"`) {
		t.Errorf("no exit line in the log")
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
