package tenant

import (
	"testing"
	"time"
)

// TestWindowHoldsInEveryWindow takes every turn the window gives, millisecond by
// millisecond, and checks that no interval of the window's width, wherever it starts,
// holds more than the limit, that an empty window lets a whole limit's burst go at once,
// and that the pace still reaches the limit.
func TestWindowHoldsInEveryWindow(t *testing.T) {
	for _, limit := range []int{95, 100, 5, 1, 2} {
		width := time.Second
		w := newWindow(limit, width)
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var sent []time.Time
		for ms := 0; ms < 10_000; ms++ {
			now := start.Add(time.Duration(ms) * time.Millisecond)
			for {
				r := w.reserve(now)
				if r.at.After(now) {
					w.cancel(r) // not yet: ask again a millisecond later
					break
				}
				sent = append(sent, now)
			}
		}
		most, lo := 0, 0
		for hi := range sent {
			for sent[hi].Sub(sent[lo]) > width { // a closed window: the strictest count
				lo++
			}
			most = max(most, hi-lo+1)
		}
		if most > limit {
			t.Errorf("limit %d: %d requests in one window", limit, most)
		}
		burst := 0
		for _, s := range sent {
			if s.Equal(start) {
				burst++
			}
		}
		if burst != limit {
			t.Errorf("limit %d: %d requests left at once into an empty window, want the whole limit", limit, burst)
		}
		if perWindow := float64(len(sent)) / 10; perWindow < 0.95*float64(limit) {
			t.Errorf("limit %d: only %.1f requests a window", limit, perWindow)
		}
	}
}

// TestWindowPauseAndCancel: a pause holds back every reservation, one made after it
// starts after it; a reservation given back frees its place.
func TestWindowPauseAndCancel(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWindow(3, 10*time.Second)
	w.pause(t0.Add(30 * time.Second))
	r := w.reserve(t0)
	if !r.at.Equal(t0.Add(30*time.Second)) || r.paused != 30*time.Second {
		t.Fatalf("a reservation inside a pause: at +%s, paused %s", r.at.Sub(t0), r.paused)
	}
	if !w.pausedAt(t0.Add(29*time.Second)) || w.pausedAt(t0.Add(30*time.Second)) {
		t.Error("pausedAt is wrong at the pause's edge")
	}
	w.pause(t0.Add(5 * time.Second)) // an earlier pause does not shorten a later one
	if !w.pausedAt(t0.Add(20 * time.Second)) {
		t.Error("an earlier pause shortened the pause")
	}
	for range 2 {
		w.reserve(t0)
	}
	full := w.reserve(t0) // the fourth: one window after the first
	if full.at.Before(t0.Add(40 * time.Second)) {
		t.Errorf("the fourth request of a limit of 3 leaves at +%s, before the first one's window ended", full.at.Sub(t0))
	}
	w.cancel(full)
	w.cancel(r)
	if again := w.reserve(t0); !again.at.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("after giving two turns back, a new one leaves at +%s, want +30s", again.at.Sub(t0))
	}
}
