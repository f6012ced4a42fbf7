package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Faults are the failures the emulator injects into API requests (not into the token or
// admin endpoints). Rates are shares of requests between 0 and 1, drawn independently.
type Faults struct {
	// ErrorRate answers this share of requests with a 5xx from ErrorCodes, without
	// processing them.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// ErrorCodes are the status codes of injected errors. Default 500, 502, 503.
	ErrorCodes []int `json:"errorCodes,omitempty"`
	// LatencyMS is added to every API request, in milliseconds.
	LatencyMS int `json:"latencyMs,omitempty"`
	// DropRate closes the connection of this share of requests before processing them.
	DropRate float64 `json:"dropRate,omitempty"`
	// LostWriteRate commits this share of writes (POST, PUT, PATCH, DELETE) and then loses
	// the answer: the connection is closed, or LostWriteStatus is answered instead.
	LostWriteRate float64 `json:"lostWriteRate,omitempty"`
	// LostWriteStatus, if set (e.g. 504), is answered after a lost write instead of
	// closing the connection.
	LostWriteStatus int `json:"lostWriteStatus,omitempty"`
	// Force429 answers the next this many API requests with 429 and RetryAfterSeconds.
	Force429 int `json:"force429,omitempty"`
	// RetryAfterSeconds is the Retry-After of forced 429s. Default 1.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// Seed makes the random draws repeatable; 0 picks a random seed.
	Seed uint64 `json:"seed,omitempty"`
}

func (f Faults) validate() error {
	for name, r := range map[string]float64{"errorRate": f.ErrorRate, "dropRate": f.DropRate, "lostWriteRate": f.LostWriteRate} {
		if r < 0 || r > 1 || math.IsNaN(r) {
			return fmt.Errorf("emulator: fault %s %v must be between 0 and 1", name, r)
		}
	}
	for _, c := range f.ErrorCodes {
		if c < 500 || c > 599 {
			return fmt.Errorf("emulator: injected error code %d is not a 5xx", c)
		}
	}
	if f.LostWriteStatus != 0 && (f.LostWriteStatus < 500 || f.LostWriteStatus > 599) {
		return fmt.Errorf("emulator: lost-write status %d is not a 5xx", f.LostWriteStatus)
	}
	if f.LatencyMS < 0 || f.Force429 < 0 || f.RetryAfterSeconds < 0 {
		return errors.New("emulator: latencyMs, force429 and retryAfterSeconds must not be negative")
	}
	return nil
}

type faultInjector struct {
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
}

func newFaultInjector(f Faults) *faultInjector {
	fi := &faultInjector{}
	fi.set(f)
	return fi
}

func (fi *faultInjector) set(f Faults) {
	if len(f.ErrorCodes) == 0 {
		f.ErrorCodes = []int{500, 502, 503}
	}
	if f.RetryAfterSeconds == 0 {
		f.RetryAfterSeconds = 1
	}
	seed := f.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	fi.mu.Lock()
	fi.f = f
	fi.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fi.mu.Unlock()
}

func (fi *faultInjector) get() Faults {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := fi.f
	f.ErrorCodes = append([]int(nil), f.ErrorCodes...)
	return f
}

// decision is what happens to one request.
type decision struct {
	latency    time.Duration
	force429   int // Retry-After seconds, when > 0
	errorCode  int
	drop       bool
	lostWrite  bool
	lostStatus int
}

func (fi *faultInjector) decide(write bool) decision {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := &fi.f
	d := decision{latency: time.Duration(f.LatencyMS) * time.Millisecond}
	if f.Force429 > 0 {
		f.Force429--
		d.force429 = f.RetryAfterSeconds
		return d
	}
	if f.ErrorRate > 0 && fi.rng.Float64() < f.ErrorRate {
		d.errorCode = f.ErrorCodes[fi.rng.IntN(len(f.ErrorCodes))]
		return d
	}
	if f.DropRate > 0 && fi.rng.Float64() < f.DropRate {
		d.drop = true
		return d
	}
	if write && f.LostWriteRate > 0 && fi.rng.Float64() < f.LostWriteRate {
		d.lostWrite, d.lostStatus = true, f.LostWriteStatus
	}
	return d
}

// serveWithFaults runs an authenticated API request through the injected faults.
func (e *Emulator) serveWithFaults(w *statusWriter, r *http.Request, write bool) {
	d := e.faults.decide(write)
	if d.latency > 0 {
		t := time.NewTimer(d.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case d.force429 > 0:
		e.counters.fault("forced429")
		writeTooManyRequests(w, d.force429)
		return
	case d.errorCode != 0:
		e.counters.fault("error")
		writeAPIError(w, internalFault(d.errorCode))
		return
	case d.drop:
		e.counters.fault("drop")
		dropConnection(w)
		return
	case d.lostWrite:
		buf := &bufferedWriter{header: http.Header{}}
		e.api.ServeHTTP(buf, r)
		if buf.code < 200 || buf.code > 299 {
			buf.flushTo(w) // nothing was committed: answer normally
			return
		}
		e.counters.fault("lostWrite")
		if d.lostStatus != 0 {
			writeAPIError(w, internalFault(d.lostStatus))
			return
		}
		dropConnection(w)
		return
	}
	e.api.ServeHTTP(w, r)
}

// dropConnection closes the client's connection without an answer. Where the connection
// cannot be taken over (HTTP/2), the request is aborted instead, which resets the stream.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, as a failing load balancer sends
	}
	_ = conn.Close()
}

// bufferedWriter holds an answer back so that it can be lost.
type bufferedWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) flushTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.code)
	_, _ = w.Write(b.body.Bytes())
}

// rateLimiter is a token bucket per client and API version: RateLimit requests may burst,
// and the bucket refills at RateLimit per RateWindow.
type rateLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newRateLimiter(limit int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, now: now, buckets: map[string]*rate.Limiter{}}
}

// allow takes one token; when none is left it returns the whole seconds to wait.
func (rl *rateLimiter) allow(client, version string) (retryAfter int, ok bool) {
	if rl.limit < 0 {
		return 0, true
	}
	key := client + "|" + version
	rl.mu.Lock()
	b, found := rl.buckets[key]
	if !found {
		b = rate.NewLimiter(rate.Limit(float64(rl.limit)/rl.window.Seconds()), rl.limit)
		rl.buckets[key] = b
	}
	rl.mu.Unlock()
	now := rl.now()
	if b.AllowN(now, 1) {
		return 0, true
	}
	res := b.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	res.CancelAt(now)
	return max(1, int(math.Ceil(wait.Seconds()))), false
}
