package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// BenchmarkFileWriteToTenant measures, on the real clock, the real file watcher and the
// client's default rate limit, the time from a desired file's rename (as an editor saves)
// to the change being in the emulated tenant, with the default debounce of 1 s. One op is
// one edit; the time per op is that latency.
func BenchmarkFileWriteToTenant(b *testing.B) {
	emu, err := emulator.New(emulator.Config{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	dir := b.TempDir()
	path := filepath.Join(dir, "a.yaml")
	write := func(desc string) {
		tmp := filepath.Join(dir, ".a.yaml.tmp")
		if err := os.WriteFile(tmp, []byte(integrationWithSecret("A", desc)), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("bench-password"), 0o600); err != nil {
		b.Fatal(err)
	}
	write("v0")
	s, err := tenant.Config{BaseURL: srv.URL, ClientID: emulator.DemoClientID, APIVersion: string(sdim.V2024)}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "bench")}).Settings(nil)
	if err != nil {
		b.Fatal(err)
	}
	client, err := tenant.New(s)
	if err != nil {
		b.Fatal(err)
	}
	runs := make(chan *engine.Run, 100)
	d, err := New(Config{Dir: dir, Schedule: "@every 1h", Watch: true, Debounce: DefaultDebounce, Mode: ModeEnforce,
		Policy: planner.DefaultPolicy(), OnRun: func(r *engine.Run) { runs <- r }},
		Deps{Engine: engine.New(engine.Client(client), engine.Options{}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-runs // the startup run creates A

	has := func(desc string) bool {
		for _, o := range emu.State().ServiceDeskIntegrations {
			if o["name"] == "A" && o["description"] == desc {
				return true
			}
		}
		return false
	}
	var inRun time.Duration
	requests := emu.Counters().Requests
	before := int64(0)
	for _, n := range requests {
		before += n
	}
	b.ResetTimer()
	for i := range b.N {
		desc := fmt.Sprintf("v%d", i+1)
		write(desc)
		deadline := time.Now().Add(30 * time.Second)
		for !has(desc) {
			if time.Now().After(deadline) {
				b.Fatalf("edit %d not in the tenant within 30 s", i+1)
			}
			time.Sleep(2 * time.Millisecond)
		}
		b.StopTimer()
		r := <-runs // let the run end (read-back) before the next edit
		inRun += r.Duration()
		b.StartTimer()
	}
	b.StopTimer()
	after := int64(0)
	for _, n := range emu.Counters().Requests {
		after += n
	}
	b.ReportMetric(float64(inRun.Milliseconds())/float64(b.N), "run-ms/op")
	b.ReportMetric(float64(after-before)/float64(b.N), "requests/op")
}

// integrationWithSecret declares the password the ServiceNowSDIM template names, from a
// file, so that its PUT is not refused for clearing it.
func integrationWithSecret(name, description string) string {
	return "kind: ServiceDeskIntegration\nname: " + name + "\nspec:\n  description: " + description +
		"\n  type: ServiceNowSDIM\n  attributes:\n    url: https://acme.service-now.com\n    password: ${file:secret}\n"
}
