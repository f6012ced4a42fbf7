package applier_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// BenchmarkApplyRateLimited applies creates against an emulator that allows 100 requests
// per window, with the client's limiter set to the same figure, and reports the rate the
// apply reached as a share of the limit. A 429 fails it: a matched limiter must never
// meet the tenant's. The full case (1,000 changes, 100 per 10 s) takes about 100 s and
// is skipped with -short; the scaled case (100 per second) keeps the shape for CI.
func BenchmarkApplyRateLimited(b *testing.B) {
	cases := []struct {
		changes int
		window  time.Duration
		long    bool
	}{
		{changes: 200, window: time.Second},
		{changes: 1000, window: 10 * time.Second, long: true},
	}
	for _, bc := range cases {
		b.Run(fmt.Sprintf("changes=%d/limit=100per%s", bc.changes, bc.window), func(b *testing.B) {
			if bc.long && testing.Short() {
				b.Skip("takes about 100 s; run without -short")
			}
			for b.Loop() {
				b.StopTimer()
				e := newEnv(b, emulator.Config{RateLimit: 100, RateWindow: bc.window}, func(s *tenant.Settings) {
					s.RateLimit, s.RateWindow = 100, bc.window
				})
				want := writeDesired(b, bc.changes, "")
				res := plan(b, e, want, planner.DefaultPolicy())
				e.emu.ResetCounters()
				b.StartTimer()
				start := time.Now()
				rep, err := applier.Apply(b.Context(), e.c, res, applier.Options{Desired: want})
				elapsed := time.Since(start)
				b.StopTimer()
				if err != nil || rep.Err() != nil {
					b.Fatalf("apply: %v %v", err, rep.Err())
				}
				cnt := e.emu.Counters()
				if cnt.Responses["429"] != 0 {
					b.Fatalf("the tenant answered %d 429s to a client whose limiter matches its limit", cnt.Responses["429"])
				}
				reqs := cnt.TotalRequests() - cnt.Requests["POST "+emulator.TokenPath]
				rate := float64(reqs) / elapsed.Seconds()
				limit := 100 / bc.window.Seconds()
				b.ReportMetric(rate, "req/s")
				b.ReportMetric(100*rate/limit, "%limit")
				b.ReportMetric(float64(reqs), "requests")
				b.StartTimer()
			}
		})
	}
}
