package bench_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/bench"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

func newTenant(t *testing.T, cfg emulator.Config, n int) *bench.Tenant {
	t.Helper()
	tn, err := bench.NewTenant(cfg, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Close)
	return tn
}

// The naive read sees exactly the live state the snapshot sees, at one request per object.
func TestReadNaiveReadsWhatSnapshotReads(t *testing.T) {
	const n = 30
	tn := newTenant(t, emulator.Config{RateLimit: -1}, n)
	c, err := tn.Client(bench.Opened)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tn.Emu.ResetCounters()
	ours, err := bench.ReadOurs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := tn.Traffic().Requests; got != 2 {
		t.Errorf("snapshot of %d: %d requests, want 2 (one page, the status check)", n, got)
	}
	tn.Emu.ResetCounters()
	naive, err := bench.ReadNaive(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := tn.Traffic().Requests; got != n+2 {
		t.Errorf("naive read of %d: %d requests, want %d (a page, a GET each, the status check)", n, got, n+2)
	}
	byName := func(a, b sdim.ServiceDeskIntegration) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(ours.ServiceDesk, byName)
	slices.SortFunc(naive.ServiceDesk, byName)
	if len(ours.ServiceDesk) != n || len(naive.ServiceDesk) != n {
		t.Fatalf("read %d and %d objects, want %d", len(ours.ServiceDesk), len(naive.ServiceDesk), n)
	}
	for i := range ours.ServiceDesk {
		o, v := sdim.CanonicalServiceDesk(ours.ServiceDesk[i]), sdim.CanonicalServiceDesk(naive.ServiceDesk[i])
		if ours.ServiceDesk[i].ID != naive.ServiceDesk[i].ID || !sdim.Equal(o, v, sdim.CompareOptions{}) || !sdim.Equal(v, o, sdim.CompareOptions{}) {
			t.Errorf("object %d differs:\n%v\n%v", i, o, v)
		}
	}
	if *ours.StatusCheck != *naive.StatusCheck {
		t.Errorf("status checks differ: %+v, %+v", ours.StatusCheck, naive.StatusCheck)
	}
}

// Both ways plan the drifted objects as puts and everything else as in sync, and both
// applies converge the tenant; ours writes only what differs.
func TestWaysPlanAndApplyTheSame(t *testing.T) {
	const n = 25
	for _, way := range []string{bench.WayOurs, bench.WayNaive} {
		t.Run(way, func(t *testing.T) {
			tn := newTenant(t, emulator.Config{RateLimit: -1}, n)
			c, err := tn.Client(bench.Opened)
			if err != nil {
				t.Fatal(err)
			}
			want, drifted, err := tn.Desired(10)
			if err != nil {
				t.Fatal(err)
			}
			if drifted != 3 || len(want.ServiceDesk) != n {
				t.Fatalf("%d drifted of %d, want 3 of %d", drifted, len(want.ServiceDesk), n)
			}
			ctx := context.Background()
			read := bench.ReadOurs
			if way == bench.WayNaive {
				read = bench.ReadNaive
			}
			res, err := bench.ReadAndPlan(ctx, c, read, want)
			if err != nil {
				t.Fatal(err)
			}
			if res.Counts.Put != drifted || res.Counts.InSync != n-drifted || res.BlockedError() != nil {
				t.Fatalf("plan %+v (blocked: %v)", res.Counts, res.BlockedError())
			}
			tn.Emu.ResetCounters()
			wantWrites := int64(drifted)
			if way == bench.WayOurs {
				if _, err := bench.ApplyOurs(ctx, c, want); err != nil {
					t.Fatal(err)
				}
			} else {
				writes, err := bench.ApplyNaive(ctx, c, want)
				if err != nil || writes != n {
					t.Fatalf("naive apply: %d writes, %v", writes, err)
				}
				wantWrites = n
			}
			if got := tn.Traffic().Committed; got != wantWrites {
				t.Errorf("%d writes committed, want %d", got, wantWrites)
			}
			again, err := bench.ReadAndPlan(ctx, c, bench.ReadOurs, want)
			if err != nil {
				t.Fatal(err)
			}
			if again.HasChanges() {
				t.Errorf("not converged: %+v", again.Counts)
			}
			// The secrets went out with the puts: the emulator holds the desired password.
			for _, o := range tn.Emu.State().ServiceDeskIntegrations {
				attrs, _ := o["attributes"].(map[string]any)
				if pw, _ := attrs["password"].(string); !strings.HasPrefix(pw, "generated-password-") {
					t.Fatalf("%v: password %q", o["name"], pw)
				}
			}
		})
	}
}

// The naive apply against a limited tenant waits out its 429s and still writes everything.
func TestApplyNaiveWaitsOut429s(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a second for the tenant's Retry-After")
	}
	tn := newTenant(t, emulator.Config{RateLimit: 10, RateWindow: time.Second}, 15)
	c, err := tn.Client(bench.Opened)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := tn.Desired(0)
	if err != nil {
		t.Fatal(err)
	}
	tn.Emu.ResetCounters()
	if _, err := bench.ApplyNaive(context.Background(), c, want); err != nil {
		t.Fatal(err)
	}
	tr := tn.Traffic()
	if tr.Committed != 15 || tr.Limited == 0 || tr.Requests != 16+tr.Limited {
		t.Errorf("traffic %+v: want 15 writes, some 429s, and 16 requests besides them", tr)
	}
}

func TestMeter(t *testing.T) {
	m, err := bench.StartMeter()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	u, err := m.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if buf[len(buf)-1] != byte(len(buf)-1) || x == 0 {
		t.Fatal("unreachable")
	}
	if u.Wall < 50*time.Millisecond || u.CPU < 20*time.Millisecond {
		t.Errorf("wall %s, CPU %s: want at least 50 ms and 20 ms", u.Wall, u.CPU)
	}
	if u.PeakRSS < u.StartRSS+60<<20 {
		t.Errorf("peak %d, start %d: the 64 MiB touched should show", u.PeakRSS, u.StartRSS)
	}
	if u.PeakReset && u.Added() < 60<<20 {
		t.Errorf("added %d, want at least 60 MiB", u.Added())
	}
}

func TestAtTenantLimit(t *testing.T) {
	if got := bench.AtTenantLimit(41, 0.4); got != 4.1 {
		t.Errorf("41 requests in 0.4 s: %v, want 4.1 s (100 per 10 s)", got)
	}
	if got := bench.AtTenantLimit(5, 3); got != 3 {
		t.Errorf("5 requests in 3 s: %v, want the wall time", got)
	}
	if got := bench.ShippedTime(1005); got != 100*time.Second {
		t.Errorf("shipped time of 1,005 requests %s, want 100 s (95 at once, then 95 per 10 s)", got)
	}
}
