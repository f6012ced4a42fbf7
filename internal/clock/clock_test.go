package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/clock"
)

// epoch is where the fake clocks of these tests start.
func epoch() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) }

// fired returns what t sent, if it fired.
func fired(t clock.Timer) (time.Time, bool) {
	select {
	case at := <-t.C():
		return at, true
	default:
		return time.Time{}, false
	}
}

// TestFakeFiresInOrder: Advance and Set fire exactly the timers whose deadlines they pass,
// each with its own deadline as the time (so the clock passed through them in order), and
// leave the later ones waiting.
func TestFakeFiresInOrder(t *testing.T) {
	start := epoch()
	f := clock.NewFake(start)
	deadlines := []time.Duration{3 * time.Second, time.Second, 5 * time.Second, 2 * time.Second}
	timers := make([]clock.Timer, len(deadlines))
	for i, d := range deadlines {
		timers[i] = f.NewTimer(d)
	}
	if f.Waiters() != 4 {
		t.Fatalf("%d waiters, want 4", f.Waiters())
	}
	if next, ok := f.Next(); !ok || !next.Equal(start.Add(time.Second)) {
		t.Fatalf("Next = %v, %v; want the 1 s timer", next, ok)
	}

	f.Advance(2 * time.Second)
	for i, d := range deadlines {
		at, ok := fired(timers[i])
		switch {
		case d <= 2*time.Second && (!ok || !at.Equal(start.Add(d))):
			t.Errorf("the %s timer: fired %v at %v, want at %v", d, ok, at, start.Add(d))
		case d > 2*time.Second && ok:
			t.Errorf("the %s timer fired at %v, after an advance of 2 s", d, at)
		}
	}
	if !f.Now().Equal(start.Add(2*time.Second)) || f.Waiters() != 2 {
		t.Errorf("after 2 s: now %v, %d waiters", f.Now(), f.Waiters())
	}
	if next, _ := f.Next(); !next.Equal(start.Add(3 * time.Second)) {
		t.Errorf("Next = %v, want the 3 s timer", next)
	}

	f.Set(start.Add(time.Second)) // backwards: ignored
	if !f.Now().Equal(start.Add(2 * time.Second)) {
		t.Errorf("Set moved the clock back to %v", f.Now())
	}

	f.Set(start.Add(10 * time.Second))
	for i, d := range deadlines {
		if d <= 2*time.Second {
			continue
		}
		if at, ok := fired(timers[i]); !ok || !at.Equal(start.Add(d)) {
			t.Errorf("the %s timer: fired %v at %v", d, ok, at)
		}
	}
	if !f.Now().Equal(start.Add(10*time.Second)) || f.Waiters() != 0 {
		t.Errorf("after 10 s: now %v, %d waiters", f.Now(), f.Waiters())
	}
	if _, ok := f.Next(); ok {
		t.Error("Next reports a timer when none waits")
	}
	for i := range timers {
		if _, ok := fired(timers[i]); ok {
			t.Errorf("the %s timer fired twice", deadlines[i])
		}
	}
}

// TestFakeZeroTimerFiresAtOnce: a timer of zero or less fires at once and never waits.
func TestFakeZeroTimerFiresAtOnce(t *testing.T) {
	start := epoch()
	f := clock.NewFake(start)
	for _, d := range []time.Duration{0, -time.Second} {
		tm := f.NewTimer(d)
		if at, ok := fired(tm); !ok || !at.Equal(start) {
			t.Errorf("NewTimer(%s): fired %v at %v", d, ok, at)
		}
		if tm.Stop() {
			t.Errorf("NewTimer(%s): Stop says it was still waiting", d)
		}
	}
	if f.Waiters() != 0 {
		t.Errorf("%d waiters", f.Waiters())
	}
}

// TestFakeStop: a stopped timer no longer waits and never fires; Stop tells whether it
// was still waiting.
func TestFakeStop(t *testing.T) {
	start := epoch()
	f := clock.NewFake(start)
	a, b := f.NewTimer(time.Second), f.NewTimer(2*time.Second)
	if !a.Stop() {
		t.Error("Stop of a waiting timer returned false")
	}
	if a.Stop() {
		t.Error("a second Stop returned true")
	}
	if f.Waiters() != 1 {
		t.Errorf("%d waiters after a Stop, want 1", f.Waiters())
	}
	f.Advance(time.Minute)
	if _, ok := fired(a); ok {
		t.Error("a stopped timer fired")
	}
	if _, ok := fired(b); !ok {
		t.Error("the other timer did not fire")
	}
	if b.Stop() {
		t.Error("Stop of a fired timer returned true")
	}
}

// TestSleep: Sleep on the fake clock returns once the clock passes its deadline, and with
// ctx's error, leaving no timer behind, when ctx ends first.
func TestSleep(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := epoch()
	f := clock.NewFake(start)

	done := make(chan error, 1)
	go func() { done <- clock.Sleep(ctx, f, time.Hour) }()
	if err := f.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Hour - time.Nanosecond)
	select {
	case err := <-done:
		t.Fatalf("Sleep returned %v before its hour", err)
	default:
	}
	f.Advance(time.Nanosecond)
	if err := <-done; err != nil {
		t.Errorf("Sleep: %v", err)
	}

	sleepCtx, stop := context.WithCancel(ctx)
	go func() { done <- clock.Sleep(sleepCtx, f, time.Hour) }()
	if err := f.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep after cancel: %v", err)
	}
	if f.Waiters() != 0 {
		t.Errorf("a cancelled Sleep left %d timers", f.Waiters())
	}

	if err := clock.Sleep(ctx, f, 0); err != nil {
		t.Errorf("Sleep(0): %v", err)
	}
	if err := clock.Sleep(sleepCtx, f, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(0) on an ended context: %v", err)
	}
	if err := clock.Sleep(sleepCtx, f, time.Hour); !errors.Is(err, context.Canceled) || f.Waiters() != 0 {
		t.Errorf("Sleep on an ended context: %v, %d timers left", err, f.Waiters())
	}
}

// TestWaitForWaiters: it returns once enough timers wait, and with ctx's error when they
// never come.
func TestWaitForWaiters(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := epoch()
	f := clock.NewFake(start)
	if err := f.WaitForWaiters(ctx, 0); err != nil {
		t.Errorf("zero waiters: %v", err)
	}

	done := make(chan error, 1)
	go func() { done <- f.WaitForWaiters(ctx, 2) }()
	f.NewTimer(time.Second)
	f.NewTimer(time.Second)
	if err := <-done; err != nil {
		t.Errorf("two timers made: %v", err)
	}
	if f.Waiters() != 2 {
		t.Errorf("%d waiters", f.Waiters())
	}

	short, stop := context.WithCancel(ctx)
	go func() { done <- f.WaitForWaiters(short, 3) }()
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WaitForWaiters on a cancelled context: %v", err)
	}
}

// TestOrAndReal: Or picks the system clock for nil and keeps any other; the system
// clock's timers fire.
func TestOrAndReal(t *testing.T) {
	start := epoch()
	f := clock.NewFake(start)
	if clock.Or(f) != clock.Clock(f) {
		t.Error("Or replaced a clock")
	}
	c := clock.Or(nil)
	before := time.Now()
	if now := c.Now(); now.Before(before) || now.Sub(before) > time.Minute {
		t.Errorf("the system clock says %v at %v", now, before)
	}
	if err := clock.Sleep(t.Context(), c, time.Millisecond); err != nil {
		t.Errorf("Sleep on the system clock: %v", err)
	}
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Error("Stop of a waiting system timer returned false")
	}
}
