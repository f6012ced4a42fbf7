package tenant

import (
	"testing"
	"time"
)

// TestLimiterHoldsInEveryWindow takes every request the limiter allows, millisecond by
// millisecond, and checks that no window of RateWindow, wherever it starts, holds more
// than RateLimit of them, and that the pace still reaches most of the limit.
func TestLimiterHoldsInEveryWindow(t *testing.T) {
	tests := []struct{ limit, burst int }{{95, 1}, {100, 10}, {5, 1}, {5, 5}, {1, 1}, {2, 50}}
	for _, tt := range tests {
		window := time.Second
		lim := newLimiter(Settings{RateLimit: tt.limit, RateWindow: window, RateBurst: tt.burst})
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var sent []time.Time
		for ms := 0; ms < 10_000; ms++ {
			now := start.Add(time.Duration(ms) * time.Millisecond)
			for lim.AllowN(now, 1) {
				sent = append(sent, now)
			}
		}
		most, lo := 0, 0
		for hi := range sent {
			for sent[hi].Sub(sent[lo]) >= window {
				lo++
			}
			most = max(most, hi-lo+1)
		}
		if most > tt.limit {
			t.Errorf("limit %d, burst %d: %d requests in one window", tt.limit, tt.burst, most)
		}
		if perWindow := float64(len(sent)) / 10; tt.limit >= 5 && perWindow < 0.8*float64(tt.limit) {
			t.Errorf("limit %d, burst %d: only %.1f requests a window", tt.limit, tt.burst, perWindow)
		}
	}
}
