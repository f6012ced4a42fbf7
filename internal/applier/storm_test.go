package applier_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/emulator"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// pauseLog records when each request left and each 429's announced pause, on the real
// clock.
type pauseLog struct {
	next   http.RoundTripper
	mu     sync.Mutex
	starts []time.Time
	pauses [][2]time.Time // [answer received, pause end]
}

func (p *pauseLog) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := p.next.RoundTrip(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.URL.Path != emulator.TokenPath {
		p.starts = append(p.starts, start)
	}
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		now := time.Now()
		p.pauses = append(p.pauses, [2]time.Time{now, now.Add(time.Duration(secs) * time.Second)})
	}
	return resp, err
}

// TestTenantLimitBelowTheClients: the tenant allows 20 requests a window, the client
// believes 95 (its default), four workers create 100 integrations. Every 429 announces a
// pause that holds back every worker: no request leaves inside one (a small allowance for
// the clock's reading order), and the 429s cost a few requests per window, not one per
// worker per attempt. (Scaled: a 1 s window instead of 10 s.)
func TestTenantLimitBelowTheClients(t *testing.T) {
	if testing.Short() {
		t.Skip("about 6 s")
	}
	var log *pauseLog
	e := newEnvVia(t, emulator.Config{RateLimit: 20, RateWindow: time.Second}, func(s *tenant.Settings) {
		s.RateLimit, s.RateWindow = tenant.DefaultRateLimit, time.Second
		s.MaxRateLimitRetries = 50
	}, func(rt http.RoundTripper) http.RoundTripper {
		log = &pauseLog{next: rt}
		return log
	})
	want := writeDesired(t, 100, "")
	res := plan(t, e, want, planner.DefaultPolicy())
	e.emu.ResetCounters()
	log.mu.Lock()
	log.starts, log.pauses = nil, nil
	log.mu.Unlock()
	start := time.Now()
	rep, err := applier.Apply(t.Context(), e.c, res, applier.Options{Concurrency: 4})
	if err != nil || rep.Err() != nil {
		t.Fatalf("apply: %v %v", err, rep.Err())
	}
	elapsed := time.Since(start)
	c := e.emu.Counters()
	total := int64(0)
	for _, n := range c.Requests {
		total += n
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	inside := 0
	for _, s := range log.starts {
		for _, p := range log.pauses {
			if s.After(p[0].Add(5*time.Millisecond)) && s.Before(p[1].Add(-5*time.Millisecond)) {
				inside++
				break
			}
		}
	}
	t.Logf("100 creates against 20 per 1 s: %d requests (%s 429s, %d pauses) in %s", total, strconv.FormatInt(c.Responses["429"], 10), len(log.pauses), elapsed.Round(time.Millisecond))
	if inside > 0 {
		t.Errorf("%d requests left inside an announced pause", inside)
	}
	if c.Responses["429"] > 20 {
		t.Errorf("%d 429s for 100 creates: the pause does not hold the workers back", c.Responses["429"])
	}
	if got := len(e.emu.State().ServiceDeskIntegrations); got != 100 {
		t.Errorf("%d integrations, want 100", got)
	}
}
