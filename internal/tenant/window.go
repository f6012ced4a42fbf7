package tenant

import (
	"slices"
	"sync"
	"time"
)

// window is the client's one pacing mechanism: the client-side rate limit and the
// tenant's Retry-After pause together. It admits a request at time t only when fewer than
// limit requests were admitted in the window of width before t, and never before a pause
// ends. So a burst of up to limit requests leaves at once when the window is empty, and
// no window of that width, wherever it starts, ever holds more than limit requests,
// whichever way the tenant counts.
//
// Each admission is a reservation of a send time; reservations are handed out in order
// and kept while they can still matter (within one width of the newest). A request that
// does not leave at its time (its context ended, or a pause came while it waited) gives
// its reservation back.
type window struct {
	mu    sync.Mutex
	limit int
	width time.Duration
	// times are the reserved send times, ascending, at most limit of them that matter.
	times []time.Time
	// pauseUntil: nothing is admitted before it (a 429's Retry-After).
	pauseUntil time.Time
}

// margin keeps a request just past the end of the window its limit-th predecessor opened,
// so that a tenant that counts a closed window never sees one request too many.
func (w *window) margin() time.Duration { return w.width/1000 + time.Millisecond }

func newWindow(limit int, width time.Duration) *window {
	return &window{limit: max(limit, 1), width: width}
}

// reservation is one admitted send time.
type reservation struct {
	at time.Time
	// paused is the part of the wait that a Retry-After pause caused; the rest is the
	// client's own limit.
	paused time.Duration
}

// reserve admits one request and returns when it may leave (now, or later).
func (w *window) reserve(now time.Time) reservation {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Forget what can no longer matter: a reservation more than a width before now
	// bounds nothing from now on.
	cut := 0
	for cut < len(w.times) && !w.times[cut].After(now.Add(-w.width-w.margin())) {
		cut++
	}
	if cut > 0 {
		w.times = slices.Delete(w.times, 0, cut)
	}
	at := now
	var paused time.Duration
	if w.pauseUntil.After(at) {
		paused = w.pauseUntil.Sub(at)
		at = w.pauseUntil
	}
	if n := len(w.times); n > 0 && w.times[n-1].After(at) {
		at = w.times[n-1] // in order: no reservation jumps the queue
	}
	if n := len(w.times); n >= w.limit {
		if earliest := w.times[n-w.limit].Add(w.width + w.margin()); earliest.After(at) {
			at = earliest
		}
	}
	w.times = append(w.times, at)
	return reservation{at: at, paused: min(paused, at.Sub(now))}
}

// cancel gives back a reservation that was not used: the requests after it may then leave
// earlier than they were told, which is still within the limit.
func (w *window) cancel(r reservation) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i := slices.IndexFunc(w.times, func(t time.Time) bool { return t.Equal(r.at) }); i >= 0 {
		w.times = slices.Delete(w.times, i, i+1)
	}
}

// pause holds every request back until until, unless a later pause is already set.
func (w *window) pause(until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if until.After(w.pauseUntil) {
		w.pauseUntil = until
	}
}

// pausedAt reports whether a pause holds requests back at now.
func (w *window) pausedAt(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return now.Before(w.pauseUntil)
}
