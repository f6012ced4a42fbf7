package deploy_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every sdim_sync_* metric the alert rules and the dashboard name is one the daemon
// serves: the test builds sdim-sync, runs it against the emulated tenant and reads its
// /metrics.
func TestMetricNamesExist(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs sdim-sync")
	}
	used := map[string][]string{} // name: the files naming it
	for _, f := range []string{rulesFile, dashboardFile} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`\bsdim_sync_[a-z0-9_]*[a-z0-9]`).FindAllString(string(data), -1) {
			if len(used[name]) == 0 || used[name][len(used[name])-1] != f {
				used[name] = append(used[name], f)
			}
		}
	}
	if len(used) == 0 {
		t.Fatal("no sdim_sync_ metric named in the rules or the dashboard")
	}

	served := servedMetricNames(t)
	for _, name := range sortedKeys(used) {
		if !served[name] {
			t.Errorf("%s (named in %s) is not served by sdim-sync serve", name, strings.Join(used[name], ", "))
		}
	}
}

// servedMetricNames runs the daemon in observe mode on configs/examples against the
// emulator and returns the names of the samples of its /metrics (histograms as their
// _bucket, _sum and _count series, counters with _total).
func servedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sdim-sync")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/sdim-sync").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := exec.Command(bin, "serve", "--help").Run(); err != nil {
		t.Skip("this sdim-sync has no serve command yet: the metric names are not checked")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	emu := exec.CommandContext(ctx, bin, "emulator", "--listen", "127.0.0.1:0")
	emuOut, err := emu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var emuLog strings.Builder
	emu.Stderr = &emuLog
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(emu) })
	line, err := bufio.NewReader(emuOut).ReadString('\n')
	baseURL := strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(baseURL, "http://") {
		t.Fatalf("the emulator printed %q (%v), want its URL\n%s", line, err, emuLog.String())
	}

	addr := freeAddr(t)
	daemon := exec.CommandContext(ctx, bin, "serve", "../configs/examples", "--listen", addr, "--mode", "observe", "--log-format", "json")
	daemon.Env = append(os.Environ(),
		"SAIL_BASE_URL="+baseURL, "SAIL_CLIENT_ID=sdim-sync-demo", "SAIL_CLIENT_SECRET=demo-secret",
		"SNOW_PASSWORD=test", "JIRA_API_TOKEN=test", "FACILITIES_API_TOKEN=test", "XDG_STATE_HOME="+t.TempDir())
	var daemonLog strings.Builder
	daemon.Stdout, daemon.Stderr = &daemonLog, &daemonLog
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(daemon) })

	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon was not ready within 30s (last: %v)\n%s", err, daemonLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			names[l[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !names["sdim_sync_build_info"] {
		t.Fatalf("/metrics has no sdim_sync_build_info: %d names", len(names))
	}
	return names
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// stopProcess ends a process this test started: SIGTERM, then SIGKILL after 5 s.
func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
