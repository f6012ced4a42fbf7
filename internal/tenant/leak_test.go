package tenant_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// TestNoSecretInLogsOrErrors runs a faulty session at debug level (5xx, dropped
// connections, lost answers, forced 429s, a token expiring mid-run, a refused PATCH, a
// refused secret) and searches every log line, error text and hook label (token refresh
// errors included) for the client secret, the attribute secrets sent and every access
// token the tenant issued.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	const clientSecret = "client-secret-7f3a9c"
	const attrSecret = "snow-password-41d2"
	fake := newFakeClock()
	logs := &logBuffer{}
	env := startEmulator(t, emulator.Config{
		Clients: map[string]string{emulator.DemoClientID: clientSecret},
		Now:     fake.Now,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	s := env.settings(t, sdim.V2025)
	s.ClientSecret = sdim.NewSecret(clientSecret, "env:SAIL_CLIENT_SECRET")

	var seen strings.Builder // errors and hook labels
	var mu sync.Mutex
	note := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(&seen, format+"\n", args...)
		mu.Unlock()
	}
	hooks := tenant.Hooks{
		Request:       func(m, r string, st int, _ time.Duration) { note("%s %s %d", m, r, st) },
		Retry:         func(m, r, reason string) { note("%s %s %s", m, r, reason) },
		RateLimitWait: func(src string, d time.Duration) { note("%s %s", src, d) },
		TokenRefresh:  func(err error) { note("token refresh: %v", err) },
	}
	c := env.client(t, s, tenant.WithLogger(logs.logger()), tenant.WithHooks(hooks))
	ctx := t.Context()

	obj := snow("Leak check")
	obj.Attributes["password"] = sdim.NewSecret(attrSecret, "env:SNOW_PASSWORD")
	run := func(name string, faults emulator.Faults, call func() error) {
		if err := env.emu.SetFaults(faults); err != nil {
			t.Fatal(err)
		}
		err := call()
		note("%s: %v", name, err)
		note("%s: %+v %#v", name, err, err)
		logs.logger().Error("step failed", "step", name, "error", err)
	}
	var id string
	run("create", emulator.Faults{}, func() error {
		o, err := c.CreateServiceDesk(ctx, obj)
		if err == nil {
			id = o.ID
		}
		return err
	})
	if id == "" {
		t.Fatal("the first create failed")
	}
	run("5xx", emulator.Faults{ErrorRate: 0.6, ErrorCodes: []int{500}, Seed: 7}, func() error {
		_, err := c.PutServiceDesk(ctx, id, obj)
		return err
	})
	run("drops", emulator.Faults{DropRate: 0.5, Seed: 3}, func() error { _, err := c.Snapshot(ctx, tenant.SnapshotOptions{SIM: true}); return err })
	run("lost create", emulator.Faults{LostWriteRate: 1, LostWriteStatus: 500}, func() error {
		o := obj
		o.Name = "Lost answer"
		_, err := c.CreateServiceDesk(ctx, o)
		return err
	})
	run("429", emulator.Faults{Force429: 1, RetryAfterSeconds: 1}, func() error { _, err := c.GetServiceDesk(ctx, id); return err })
	fake.Advance(time.Hour) // the token expires on the tenant's side
	run("expired token", emulator.Faults{}, func() error {
		_, err := c.PatchServiceDesk(ctx, id, obj.Name, []tenant.PatchOp{tenant.Replace("/attributes/password", obj.Attributes["password"])})
		return err
	})
	run("refused patch", emulator.Faults{}, func() error {
		_, err := c.PatchServiceDesk(ctx, id, obj.Name, []tenant.PatchOp{tenant.Replace("/attributes", obj.Attributes)})
		return err
	})
	s.ClientSecret = sdim.NewSecret(clientSecret+"-wrong", "env:SAIL_CLIENT_SECRET")
	run("bad secret", emulator.Faults{}, func() error {
		_, err := env.client(t, s, tenant.WithLogger(logs.logger()), tenant.WithHooks(hooks)).ListServiceDesk(ctx, tenant.ListOptions{})
		return err
	})
	run("read-only", emulator.Faults{}, func() error { _, err := c.ReadOnly().CreateServiceDesk(ctx, obj); return err })

	tokens := env.wire.tokens()
	if len(tokens) < 2 {
		t.Fatalf("the run should have used at least two tokens, used %d", len(tokens))
	}
	wire := env.wire.raw.String()
	if !strings.Contains(wire, attrSecret) || !strings.Contains(wire, tokens[0]) {
		t.Fatal("the recorder did not see the secrets on the wire: this test would prove nothing")
	}
	out := logs.String() + seen.String()
	if !strings.Contains(out, "retrying tenant request") || !strings.Contains(out, "tenant rate limit") || !strings.Contains(out, "tenant refused the token") {
		t.Errorf("the faulty run did not log its retries, waits and refreshes:\n%s", out)
	}
	for what, secret := range map[string]string{"client secret": clientSecret, "attribute secret": attrSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("the %s appears in the logs or errors", what)
		}
	}
	for i, tok := range tokens {
		if strings.Contains(out, tok) {
			t.Errorf("access token %d appears in the logs or errors", i+1)
		}
	}
	t.Logf("searched %d bytes of logs and errors for 2 secrets and %d tokens", len(out), len(tokens))
}
