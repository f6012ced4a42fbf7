package applier_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newFakeClock() *clock.Fake { return clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)) }

type applied struct {
	rep *applier.Report
	err error
}

// TestGraceOnFakeTime: an apply cancelled while a create hangs lets that create run for
// exactly the grace period of fake time, then cuts it off; the changes not yet started
// stay not started, and the report's elapsed time is the grace period.
func TestGraceOnFakeTime(t *testing.T) {
	const grace = 45 * time.Second
	ctx, cancelTest := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancelTest()
	posted := make(chan struct{})
	var once sync.Once
	e := newEnvVia(t, emulator.Config{RateLimit: -1}, func(s *tenant.Settings) { s.RequestTimeout = time.Hour },
		func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if req.Method != http.MethodPost || req.URL.Path != sdim.V3.ServiceDeskPath() {
					return rt.RoundTrip(req)
				}
				// A tenant that never answers a create: only the grace period can end it.
				once.Do(func() { close(posted) })
				if req.Body != nil {
					req.Body.Close()
				}
				<-req.Context().Done()
				return nil, req.Context().Err()
			})
		})
	want := writeDesired(t, 3, "")
	res := plan(t, e, want, planner.DefaultPolicy())
	fake := newFakeClock()
	t0 := fake.Now()
	applyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan applied, 1)
	go func() {
		rep, err := applier.Apply(applyCtx, e.c, res, applier.Options{Concurrency: 1, Grace: grace, Clock: fake, Desired: want})
		done <- applied{rep, err}
	}()
	select {
	case <-posted:
	case <-ctx.Done():
		t.Fatal("the first create was never sent")
	}
	cancel()
	if err := fake.WaitForWaiters(ctx, 1); err != nil {
		t.Fatalf("no grace timer after the cancellation: %v", err)
	}
	if next, _ := fake.Next(); !next.Equal(t0.Add(grace)) {
		t.Fatalf("the grace period ends at +%s, want +%s", next.Sub(t0), grace)
	}
	fake.Advance(grace - time.Nanosecond)
	if fake.Waiters() != 1 {
		t.Error("the grace period ended early")
	}
	select {
	case out := <-done:
		t.Fatalf("Apply returned before the grace period ended: %+v", out)
	default:
	}
	fake.Advance(time.Nanosecond)
	var out applied
	select {
	case out = <-done:
	case <-ctx.Done():
		t.Fatal("the running create was not cut off at the end of the grace period")
	}
	if out.err != nil {
		t.Fatal(out.err)
	}
	rep := out.rep
	first := rep.Results[0]
	if first.Outcome != applier.Failed || !errors.Is(first.Err, context.Canceled) || !tenant.IsAmbiguous(first.Err) {
		t.Errorf("the cut-off create: %s, %v; want failed, cancelled and ambiguous", first.Outcome, first.Err)
	}
	if rep.Count(applier.NotStarted) != 2 || rep.ReadBack {
		t.Errorf("%d not started (want 2), read back %v", rep.Count(applier.NotStarted), rep.ReadBack)
	}
	if rep.Elapsed != grace || first.Elapsed != grace {
		t.Errorf("elapsed: apply %s, the create %s; want %s of fake time", rep.Elapsed, first.Elapsed, grace)
	}
}

// TestCreateRetryWaitOnFakeTime: a create answered 503 that the lookup does not find is
// sent again after exactly CreateRetryWait(1) of fake time, and not a moment before.
func TestCreateRetryWaitOnFakeTime(t *testing.T) {
	const wait = 10 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	fake := newFakeClock()
	t0 := fake.Now()
	var mu sync.Mutex
	var posts []time.Time
	postTimes := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(posts)
	}
	e := newEnvVia(t, emulator.Config{RateLimit: -1}, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodPost || req.URL.Path != sdim.V3.ServiceDeskPath() {
				return rt.RoundTrip(req)
			}
			mu.Lock()
			posts = append(posts, fake.Now())
			first := len(posts) == 1
			mu.Unlock()
			if !first {
				return rt.RoundTrip(req)
			}
			if req.Body != nil { // the first create fails, unmade, with a 503
				req.Body.Close()
			}
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
				Header:  http.Header{"Content-Type": {"application/json"}},
				Body:    io.NopCloser(strings.NewReader(`{"detailCode":"503","messages":[{"locale":"en-US","text":"try again later"}]}`)),
				Request: req}, nil
		})
	})
	want := writeDesired(t, 1, "")
	res := plan(t, e, want, planner.DefaultPolicy())
	done := make(chan applied, 1)
	go func() {
		rep, err := applier.Apply(ctx, e.c, res, applier.Options{Clock: fake, Desired: want,
			CreateRetryWait: func(n int) time.Duration { return time.Duration(n) * wait }})
		done <- applied{rep, err}
	}()
	if err := fake.WaitForWaiters(ctx, 1); err != nil {
		t.Fatalf("no retry wait after the 503: %v", err)
	}
	if next, _ := fake.Next(); !next.Equal(t0.Add(wait)) {
		t.Fatalf("the next create waits until +%s, want +%s", next.Sub(t0), wait)
	}
	fake.Advance(wait - time.Nanosecond)
	if fake.Waiters() != 1 || len(postTimes()) != 1 {
		t.Errorf("before the wait ended: %d creates sent, %d timers", len(postTimes()), fake.Waiters())
	}
	select {
	case out := <-done:
		t.Fatalf("Apply returned before the retry wait ended: %+v", out)
	default:
	}
	fake.Advance(time.Nanosecond)
	var out applied
	select {
	case out = <-done:
	case <-ctx.Done():
		t.Fatal("the apply did not end after the retry wait")
	}
	if out.err != nil || out.rep.Err() != nil {
		t.Fatalf("apply: %v %v", out.err, out.rep.Err())
	}
	r := out.rep.Results[0]
	if r.Outcome != applier.Applied || !slices.ContainsFunc(r.Notes, func(n string) bool {
		return strings.Contains(n, "create attempt 1 failed (503 Service Unavailable)")
	}) {
		t.Errorf("the create: %s, notes %q", r.Outcome, r.Notes)
	}
	if got := postTimes(); len(got) != 2 || !got[0].Equal(t0) || !got[1].Equal(t0.Add(wait)) {
		t.Errorf("creates sent at %v; want at +0 and +%s", got, wait)
	}
	if out.rep.Elapsed != wait || r.Elapsed != wait {
		t.Errorf("elapsed: apply %s, the create %s; want %s of fake time", out.rep.Elapsed, r.Elapsed, wait)
	}
	converged(t, e, want, planner.DefaultPolicy())
}
