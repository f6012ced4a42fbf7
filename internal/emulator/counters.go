package emulator

import (
	"maps"
	"strconv"
	"sync"
)

// Counters are what the emulator saw, for tests that assert on traffic: above all that a
// dry run wrote nothing. Keys of Requests and Writes are "METHOD route", the route being
// the pattern that matched (e.g. "GET /v3/service-desk-integrations/{id}").
type Counters struct {
	// Requests counts every request to the API and the token endpoint.
	Requests map[string]int64 `json:"requests"`
	// Writes counts every POST, PUT, PATCH and DELETE that reached an API route, whether
	// or not it succeeded.
	Writes map[string]int64 `json:"writes"`
	// Committed counts the writes that changed the tenant.
	Committed int64 `json:"committedWrites"`
	// Responses counts answers by status code ("200", "429", ...); dropped connections
	// have none.
	Responses map[string]int64 `json:"responses"`
	// Faults counts what was injected or enforced: error, drop, lostWrite, forced429,
	// rateLimited.
	Faults map[string]int64 `json:"faults"`
}

// TotalRequests is the sum of Requests.
func (c Counters) TotalRequests() int64 { return sum(c.Requests) }

// TotalWrites is the sum of Writes.
func (c Counters) TotalWrites() int64 { return sum(c.Writes) }

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

type counters struct {
	mu sync.Mutex
	c  Counters
}

func newCounters() *counters {
	c := &counters{}
	c.reset()
	return c
}

func (c *counters) reset() {
	c.mu.Lock()
	c.c = Counters{Requests: map[string]int64{}, Writes: map[string]int64{}, Responses: map[string]int64{}, Faults: map[string]int64{}}
	c.mu.Unlock()
}

func (c *counters) request(method, route string, write bool) {
	key := method + " " + route
	c.mu.Lock()
	c.c.Requests[key]++
	if write {
		c.c.Writes[key]++
	}
	c.mu.Unlock()
}

func (c *counters) response(code int) {
	if code == 0 {
		return
	}
	c.mu.Lock()
	c.c.Responses[strconv.Itoa(code)]++
	c.mu.Unlock()
}

func (c *counters) fault(kind string) {
	c.mu.Lock()
	c.c.Faults[kind]++
	c.mu.Unlock()
}

func (c *counters) committed() {
	c.mu.Lock()
	c.c.Committed++
	c.mu.Unlock()
}

func (c *counters) snapshot() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Counters{
		Requests:  maps.Clone(c.c.Requests),
		Writes:    maps.Clone(c.c.Writes),
		Committed: c.c.Committed,
		Responses: maps.Clone(c.c.Responses),
		Faults:    maps.Clone(c.c.Faults),
	}
}
