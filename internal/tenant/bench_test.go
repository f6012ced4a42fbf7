package tenant_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// BenchmarkSnapshot10k reads 10,000 integrations and the status check through the client:
// 40 list calls and one GET over loopback, decoding included. The client-side limiter is
// opened up so that the figure is the client's own cost.
func BenchmarkSnapshot10k(b *testing.B) {
	e, err := emulator.New(emulator.Config{RateLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Generate(10_000); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(e)
	b.Cleanup(func() { srv.Close(); _ = e.Close() })
	s, err := tenant.Config{BaseURL: srv.URL, ClientID: emulator.DemoClientID}.
		Overlay(tenant.Config{ClientSecret: sdim.NewSecret(emulator.DemoClientSecret, "bench")}).Settings(nil)
	if err != nil {
		b.Fatal(err)
	}
	s.RateLimit, s.RateWindow = 1_000_000, time.Second
	c, err := tenant.New(s, tenant.WithTransport(srv.Client().Transport))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		live, err := c.Snapshot(b.Context(), tenant.SnapshotOptions{})
		if err != nil || len(live.ServiceDesk) != 10_000 {
			b.Fatalf("%v, %d objects", err, len(live.ServiceDesk))
		}
	}
}
