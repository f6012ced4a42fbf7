package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while the command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "sdim-sync ") {
		t.Errorf("version printed %q", out.String())
	}
}

func TestEmulatorFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"emulator", "--client", "nosecret"}, `--client "(value hidden)": want ID:SECRET`},
		{[]string{"emulator", "--client", "id:"}, `--client "id:***"`},
		{[]string{"emulator", "--rate-limit", "0"}, "use a negative value to turn the limit off"},
		{[]string{"emulator", "--fault-retry-after", "1500ms"}, "whole seconds"},
		{[]string{"emulator", "--fault-error-rate", "2"}, "between 0 and 1"},
		{[]string{"emulator", "--token-ttl", "10ms"}, "under the 1 s minimum"},
		{[]string{"emulator", "--seed", "/nonexistent/seed.yaml"}, "seed /nonexistent/seed.yaml"},
		{[]string{"emulator", "--listen", "256.0.0.1:1"}, "listen on 256.0.0.1:1"},
		{[]string{"nope"}, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != 1 || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut.String(), tc.want)
			}
			if strings.Contains(errOut.String(), "nosecret") {
				t.Errorf("a client secret was printed: %q", errOut.String())
			}
		})
	}
}

func TestEmulatorServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"emulator", "--listen", "127.0.0.1:0", "--generate", "3", "--client", "ci:ci-secret"}, &out, &errOut)
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s := strings.TrimSpace(out.String()); s != "" {
			base = s
			break
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no base URL printed; stderr: %s", errOut.String())
	}
	resp, err := http.PostForm(base+"/oauth/token", map[string][]string{
		"grant_type": {"client_credentials"}, "client_id": {"ci"}, "client_secret": {"ci-secret"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token from the started emulator: %v %v", resp, err)
	}
	resp.Body.Close()
	if strings.Contains(errOut.String(), "ci-secret") {
		t.Errorf("the client secret was logged: %s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "integrations=3") {
		t.Errorf("start-up log does not say what it serves: %s", errOut.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancel: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator did not stop when cancelled")
	}
}
