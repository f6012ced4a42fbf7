package soak

import (
	"bufio"
	"bytes"
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

// buildBinary builds sdim-sync into a temporary directory of the test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sdim-sync")
	var out []byte
	var err error
	// Another engineer's half-saved edit can break the build for a moment: try again.
	for attempt := 1; attempt <= 3; attempt++ {
		out, err = exec.Command("go", "build", "-o", bin, "github.com/sdim-sync/sdim-sync/cmd/sdim-sync").CombinedOutput()
		if err == nil {
			return bin
		}
		if attempt < 3 {
			time.Sleep(20 * time.Second)
		}
	}
	t.Fatalf("go build: %v\n%s", err, out)
	return ""
}

// tokenTap serves the emulator and remembers every access token it issues, so that the
// leak check can look for them. While lie is set it also tells the client that tokens live
// that long, when the tenant still drops them after TokenTTL: the client then learns of the
// expiry from a 401 only, as with a token revoked early or a skewed clock.
type tokenTap struct {
	next   http.Handler
	mu     sync.Mutex
	tokens map[string]bool
	lie    time.Duration
}

func (tt *tokenTap) setLie(d time.Duration) {
	tt.mu.Lock()
	tt.lie = d
	tt.mu.Unlock()
}

func (tt *tokenTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != emulator.TokenPath {
		tt.next.ServeHTTP(w, r) // the original writer: dropped connections hijack it
		return
	}
	rec := httptest.NewRecorder()
	tt.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	var answer map[string]any
	if json.Unmarshal(body, &answer) == nil {
		tt.mu.Lock()
		if tok, _ := answer["access_token"].(string); tok != "" {
			tt.tokens[tok] = true
			if tt.lie > 0 {
				answer["expires_in"] = int(tt.lie / time.Second)
				body, _ = json.Marshal(answer)
			}
		}
		tt.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// Tokens is a copy of the tokens issued so far.
func (tt *tokenTap) Tokens() map[string]bool {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	out := make(map[string]bool, len(tt.tokens))
	for k := range tt.tokens {
		out[k] = true
	}
	return out
}

// lockedBuffer is the daemon's captured output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemon is one running `sdim-sync serve`.
type daemon struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	out    *lockedBuffer
	done   chan struct{}
	err    error // the exit, once done is closed
	client *http.Client
}

// serveArgs are the soak's daemon flags for a mode.
func serveArgs(dir, mode string) []string {
	return []string{"serve", dir, "--mode", mode, "--schedule", "@every 2s", "--debounce", "200ms",
		"--prune", "--managed-scope", Scope, "--max-deletes", "50", "--listen", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "debug", "--shutdown-grace", "5s"}
}

// startDaemon starts the binary and waits for its HTTP address (at most 30 s).
func startDaemon(t *testing.T, name, bin string, env []string, args []string) *daemon {
	t.Helper()
	d := &daemon{name: name, out: &lockedBuffer{}, done: make(chan struct{}), client: &http.Client{Timeout: 10 * time.Second}}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = env
	d.cmd.Stdout = d.out
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = d.out.Write([]byte(line + "\n"))
			if strings.Contains(line, `"msg":"serving HTTP"`) {
				var rec struct {
					Address string `json:"address"`
				}
				if json.Unmarshal([]byte(line), &rec) == nil {
					select {
					case addr <- strings.TrimPrefix(rec.Address, "http://"):
					default:
					}
				}
			}
		}
		_, _ = io.Copy(d.out, stderr)
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		// SOAK_LOG_DIR keeps every daemon's whole log (it holds no secret: the soak checks).
		if dir := os.Getenv("SOAK_LOG_DIR"); dir != "" {
			name := strings.ReplaceAll(d.name, " ", "-") + ".log"
			if err := os.WriteFile(filepath.Join(dir, name), []byte(d.out.String()), 0o600); err != nil {
				t.Errorf("SOAK_LOG_DIR: %v", err)
			}
		}
	})
	select {
	case d.addr = <-addr:
	case <-d.done:
		t.Fatalf("%s exited before serving HTTP (%v):\n%s", name, d.err, tail(d.out.String(), 60))
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not serve HTTP within 30 s:\n%s", name, tail(d.out.String(), 60))
	}
	return d
}

// stop sends SIGTERM and waits (at most 40 s) for the exit, which must be 0.
func (d *daemon) stop() error {
	select {
	case <-d.done:
		return fmt.Errorf("%s had already exited: %v", d.name, d.err)
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-d.done:
		if d.err != nil {
			return fmt.Errorf("%s exited with %v after SIGTERM, want 0", d.name, d.err)
		}
		return nil
	case <-time.After(40 * time.Second):
		_ = d.cmd.Process.Kill()
		return fmt.Errorf("%s did not exit within 40 s of SIGTERM (a hang)", d.name)
	}
}

func (d *daemon) get(path string) (string, error) {
	resp, err := d.client.Get("http://" + d.addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", path, resp.Status)
	}
	return string(b), nil
}

// runRecord is a run as /status shows it.
type runRecord struct {
	ID            string         `json:"id"`
	Trigger       string         `json:"trigger"`
	Coalesced     []string       `json:"coalescedTriggers"`
	Mode          string         `json:"mode"`
	Start         time.Time      `json:"start"`
	End           time.Time      `json:"end"`
	Result        string         `json:"result"`
	FailedStage   string         `json:"failedStage"`
	Error         string         `json:"error"`
	Refused       string         `json:"refused"`
	Counts        *planCounts    `json:"counts"`
	Applied       map[string]int `json:"applied"`
	NotConverging []string       `json:"notConverging"`
}

type planCounts struct {
	Create, Patch, Put, Delete, Observe, Unmanaged int
	InSync                                         int `json:"inSync"`
}

func (c *planCounts) changes() int { return c.Create + c.Patch + c.Put + c.Delete }

type statusDoc struct {
	Running *struct {
		ID string `json:"id"`
	} `json:"running"`
	DesiredStateValid *bool       `json:"desiredStateValid"`
	Runs              []runRecord `json:"runs"`
}

func (d *daemon) status() (statusDoc, string, error) {
	raw, err := d.get("/status")
	if err != nil {
		return statusDoc{}, raw, err
	}
	var st statusDoc
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return statusDoc{}, raw, fmt.Errorf("/status: %v", err)
	}
	return st, raw, nil
}

// settled waits (at most limit) for a run that started after since and succeeded; with
// noChanges, its plan must also have had nothing to do (the daemon converged). It returns
// the earliest such run.
func (d *daemon) settled(since time.Time, limit time.Duration, noChanges bool) (runRecord, error) {
	deadline := time.Now().Add(limit)
	var lastErr error
	for time.Now().Before(deadline) {
		st, _, err := d.status()
		if err != nil {
			lastErr = err
		} else {
			var found *runRecord
			for i := range st.Runs { // newest first: the last match is the earliest
				r := &st.Runs[i]
				if r.Start.After(since) && r.Result == "success" && r.Counts != nil && (!noChanges || r.Counts.changes() == 0) {
					found = r
				}
			}
			if found != nil {
				return *found, nil
			}
		}
		select {
		case <-d.done:
			return runRecord{}, fmt.Errorf("%s exited: %v", d.name, d.err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	what := "a successful run"
	if noChanges {
		what = "a successful run with nothing left to change"
	}
	return runRecord{}, fmt.Errorf("%s: no %s started after %s within %s (last /status error: %v)", d.name, what, since.Format(time.RFC3339Nano), limit, lastErr)
}

// runsSummary is one line per run of /status, for failure reports.
func (d *daemon) runsSummary() string {
	st, _, err := d.status()
	if err != nil {
		return "(/status: " + err.Error() + ")"
	}
	var b strings.Builder
	for _, r := range st.Runs {
		fmt.Fprintf(&b, "  %s %-8s %s %-7s", r.ID, r.Trigger, r.Start.Format("15:04:05.000"), r.Result)
		if r.Counts != nil {
			fmt.Fprintf(&b, " create %d put %d patch %d delete %d inSync %d", r.Counts.Create, r.Counts.Put, r.Counts.Patch, r.Counts.Delete, r.Counts.InSync)
		}
		if r.FailedStage != "" {
			fmt.Fprintf(&b, " failed in %s: %s", r.FailedStage, r.Error)
		}
		if r.Refused != "" {
			fmt.Fprintf(&b, " refused: %s", r.Refused)
		}
		if len(r.Applied) > 0 {
			fmt.Fprintf(&b, " applied %v", r.Applied)
		}
		if len(r.NotConverging) > 0 {
			fmt.Fprintf(&b, " not converging %v", r.NotConverging)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (d *daemon) metrics() ([]Sample, string, error) {
	raw, err := d.get("/metrics")
	if err != nil {
		return nil, raw, err
	}
	s, err := ParseMetrics(raw)
	return s, raw, err
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// envWithout is the environment without the variables of the tenant connection, so the
// daemon talks to the soak's tenant only.
func envWithout(prefixes ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
