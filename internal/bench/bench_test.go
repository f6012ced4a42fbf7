package bench_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/bench"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// The harness's benchmarks. Each reports, besides ns/op, the figures of the table
// (bench.Metric*): run each leaf in its own process (scripts/bench.sh does) for the peak
// memory to be its own, and with -benchtime 1x. With -short only the CI-sized cases run.

// driftEvery is the share of drifted integrations: 1 in 100.
const driftEvery = 100

// BenchmarkReadPlan reads n integrations and plans them (1 % drifted) three ways: ours with
// the client as shipped, ours with the client's limiter opened up, and the naive way (one
// GET per object) with the limiter opened up. The emulator's rate limit is off, so that
// the wall time is the work; "limit-s" is the time the tenant's documented limit would
// impose on the same requests.
func BenchmarkReadPlan(b *testing.B) {
	ways := []struct {
		name string
		read bench.Reader
		lim  bench.Limiter
	}{
		{bench.WayOursShipped, bench.ReadOurs, bench.Shipped},
		{bench.WayOursOpen, bench.ReadOurs, bench.Opened},
		{bench.WayNaiveOpen, bench.ReadNaive, bench.Opened},
	}
	for _, n := range []int{1_000, 10_000, 50_000} {
		for _, w := range ways {
			b.Run(fmt.Sprintf("n=%d/%s", n, w.name), func(b *testing.B) {
				if n > 1_000 && testing.Short() {
					b.Skip("large tenant: run without -short")
				}
				t, err := bench.NewTenant(emulator.Config{RateLimit: -1}, n)
				if err != nil {
					b.Fatal(err)
				}
				defer t.Close()
				want, drifted, err := t.Desired(driftEvery)
				if err != nil {
					b.Fatal(err)
				}
				var a acc
				for b.Loop() {
					b.StopTimer()
					c, err := t.Client(w.lim) // a fresh client per op, as each `plan` starts one
					if err != nil {
						b.Fatal(err)
					}
					t.Emu.ResetCounters()
					m := start(b)
					b.StartTimer()
					res, err := bench.ReadAndPlan(b.Context(), c, w.read, want)
					b.StopTimer()
					u := stop(b, m)
					if err != nil {
						b.Fatal(err)
					}
					if res.Counts.Put != drifted || res.Counts.InSync != n-drifted || len(res.Changes) != drifted {
						b.Fatalf("plan counts %+v, want %d puts and %d in sync", res.Counts, drifted, n-drifted)
					}
					a.add(u, t.Traffic())
					b.StartTimer()
				}
				a.report(b)
			})
		}
	}
}

// BenchmarkApplyThroughput sends puts against a tenant that allows 100 requests per
// second (the documented 100 per 10 s, ten times faster, so that the case runs in
// seconds): ours applies a plan of that many puts with the client's limiter at the same
// limit and concurrency 4, then reads them back; the naive way lists once and puts every
// object one after the other without pacing, waiting out each 429 as the tenant asks.
func BenchmarkApplyThroughput(b *testing.B) {
	const puts, limit, window = 200, 100, time.Second
	for _, way := range []string{bench.WayOurs, bench.WayNaive} {
		b.Run(fmt.Sprintf("puts=%d/%s", puts, way), func(b *testing.B) {
			var a acc
			for b.Loop() {
				b.StopTimer()
				t, err := bench.NewTenant(emulator.Config{RateLimit: limit, RateWindow: window}, puts)
				if err != nil {
					b.Fatal(err)
				}
				want, drifted, err := t.Desired(1) // every object differs
				if err != nil || drifted != puts {
					b.Fatal(err, drifted)
				}
				var run func() error
				if way == bench.WayOurs {
					c := client(b, t, bench.AtLimit(limit, window))
					res, err := bench.ReadAndPlan(b.Context(), c, bench.ReadOurs, want)
					if err != nil || res.Counts.Put != puts {
						b.Fatal(err, res.Counts)
					}
					run = func() error { _, err := bench.ApplyPlan(b.Context(), c, res, want); return err }
				} else {
					c := client(b, t, bench.Opened)
					run = func() error { _, err := bench.ApplyNaive(b.Context(), c, want); return err }
				}
				time.Sleep(window) // the tenant's bucket full again, whatever the setup took
				t.Emu.ResetCounters()
				m := start(b)
				b.StartTimer()
				err = run()
				b.StopTimer()
				u := stop(b, m)
				if err != nil {
					b.Fatal(err)
				}
				tr := t.Traffic()
				if tr.Committed != puts {
					b.Fatalf("%d writes committed, want %d", tr.Committed, puts)
				}
				converged(b, t, want)
				t.Close()
				a.add(u, tr)
				b.StartTimer()
			}
			a.report(b)
			a.reportRate(b, limit, window)
		})
	}
}

// BenchmarkApplyDrift brings a tenant of n integrations, 1 % of them drifted, to the
// desired state against the same scaled limit (100 requests per second): ours reconciles
// (snapshot, plan, apply the 1 % with the client at the limit, read back); the naive way
// lists once and puts every object, changed or not, without pacing.
func BenchmarkApplyDrift(b *testing.B) {
	const n, limit, window = 1_000, 100, time.Second
	for _, way := range []string{bench.WayOurs, bench.WayNaive} {
		b.Run(fmt.Sprintf("n=%d/%s", n, way), func(b *testing.B) {
			var a acc
			for b.Loop() {
				b.StopTimer()
				t, err := bench.NewTenant(emulator.Config{RateLimit: limit, RateWindow: window}, n)
				if err != nil {
					b.Fatal(err)
				}
				want, drifted, err := t.Desired(driftEvery)
				if err != nil {
					b.Fatal(err)
				}
				var run func() error
				if way == bench.WayOurs {
					c := client(b, t, bench.AtLimit(limit, window))
					run = func() error { _, err := bench.ApplyOurs(b.Context(), c, want); return err }
				} else {
					c := client(b, t, bench.Opened)
					run = func() error { _, err := bench.ApplyNaive(b.Context(), c, want); return err }
				}
				t.Emu.ResetCounters()
				m := start(b)
				b.StartTimer()
				err = run()
				b.StopTimer()
				u := stop(b, m)
				if err != nil {
					b.Fatal(err)
				}
				tr := t.Traffic()
				wantWrites := int64(drifted)
				if way == bench.WayNaive {
					wantWrites = n
				}
				if tr.Committed != wantWrites {
					b.Fatalf("%d writes committed, want %d", tr.Committed, wantWrites)
				}
				converged(b, t, want)
				t.Close()
				a.add(u, tr)
				b.StartTimer()
			}
			a.report(b)
			a.reportRate(b, limit, window)
		})
	}
}

func client(b *testing.B, t *bench.Tenant, lim bench.Limiter) *tenant.Client {
	b.Helper()
	c, err := t.Client(lim)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// converged fails unless a fresh plan finds the tenant in the desired state.
func converged(b *testing.B, t *bench.Tenant, want *desired.State) {
	b.Helper()
	c := client(b, t, bench.Opened)
	res, err := bench.ReadAndPlan(b.Context(), c, bench.ReadOurs, want)
	if err != nil {
		b.Fatal(err)
	}
	if res.HasChanges() {
		b.Fatalf("the tenant did not converge: %+v", res.Counts)
	}
}

func start(b *testing.B) *bench.Meter {
	b.Helper()
	m, err := bench.StartMeter()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func stop(b *testing.B, m *bench.Meter) bench.Usage {
	b.Helper()
	u, err := m.Stop()
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// acc sums the ops of a benchmark: it reports the mean of each figure and the largest peak.
type acc struct {
	ops                                  int
	requests, writes, limited, wall, cpu float64
	peak, added                          int64
	peakReset                            bool
}

func (a *acc) add(u bench.Usage, t bench.Traffic) {
	a.ops++
	a.requests += float64(t.Requests)
	a.writes += float64(t.Committed)
	a.limited += float64(t.Limited)
	a.wall += u.Wall.Seconds()
	a.cpu += u.CPU.Seconds()
	a.peak = max(a.peak, u.PeakRSS)
	a.added = max(a.added, u.Added())
	a.peakReset = u.PeakReset
}

func (a *acc) mean(sum float64) float64 { return sum / float64(max(1, a.ops)) }

// reportRate reports the rate the requests reached and its share of the tenant's limit.
func (a *acc) reportRate(b *testing.B, limit int, window time.Duration) {
	rate := a.mean(a.requests) / a.mean(a.wall)
	b.ReportMetric(rate, bench.MetricRate)
	b.ReportMetric(100*rate/(float64(limit)/window.Seconds()), bench.MetricShare)
}

func (a *acc) report(b *testing.B) {
	const mb = 1 << 20
	req, wall := a.mean(a.requests), a.mean(a.wall)
	b.ReportMetric(req, bench.MetricRequests)
	b.ReportMetric(a.mean(a.writes), bench.MetricWrites)
	b.ReportMetric(a.mean(a.limited), bench.Metric429s)
	b.ReportMetric(wall, bench.MetricWall)
	b.ReportMetric(a.mean(a.cpu), bench.MetricCPU)
	b.ReportMetric(float64(a.peak)/mb, bench.MetricPeak)
	b.ReportMetric(float64(a.added)/mb, bench.MetricAdded)
	b.ReportMetric(bench.AtTenantLimit(req, wall), bench.MetricAtLimit)
	if !a.peakReset {
		b.Log("the peak memory could not be reset: it is the process's peak since it started")
	}
}
