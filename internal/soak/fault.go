package soak

import (
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/emulator"
)

// TokenTTL is the emulated tenant's token lifetime during the whole soak: every run and
// many retries outlive their token.
const TokenTTL = 2 * time.Second

// Phase is one row of the fault matrix: the faults of a round's noisy period.
type Phase struct {
	Name string
	// Faults are set when the period starts (Force429 left out: see Storm).
	Faults emulator.Faults
	// Storm, when > 0, arms that many forced 429s (with StormRetryAfter seconds of
	// Retry-After) at the start and again every StormEvery.
	Storm           int
	StormRetryAfter int
	StormEvery      time.Duration
	// EarlyExpiry advertises tokens as living AdvertisedTTL while the tenant still drops
	// them after TokenTTL: the client finds out from 401s.
	EarlyExpiry bool
}

// AdvertisedTTL is the token lifetime the token endpoint announces in EarlyExpiry phases.
const AdvertisedTTL = 60 * time.Second

// Matrix is the fault matrix; round r (from 1) uses Matrix()[(r-1) % len].
func Matrix() []Phase {
	codes := []int{500, 502, 503, 504}
	return []Phase{
		{
			Name:   "mixed",
			Faults: emulator.Faults{ErrorRate: 0.10, ErrorCodes: codes, DropRate: 0.05, LostWriteRate: 0.25, LatencyMS: 40},
			Storm:  3, StormRetryAfter: 1, StormEvery: 2 * time.Second, EarlyExpiry: true,
		},
		{
			Name:   "heavy 5xx and drops",
			Faults: emulator.Faults{ErrorRate: 0.45, ErrorCodes: codes, DropRate: 0.15, LostWriteRate: 0.3, LatencyMS: 60},
		},
		{
			Name:        "lost answers (504)",
			Faults:      emulator.Faults{LostWriteRate: 0.5, LostWriteStatus: 504, ErrorRate: 0.05, LatencyMS: 20},
			EarlyExpiry: true,
		},
		{
			Name:   "429 storm",
			Faults: emulator.Faults{LatencyMS: 30, ErrorRate: 0.05},
			Storm:  6, StormRetryAfter: 2, StormEvery: 3 * time.Second,
		},
		{
			Name:        "lost answers (dropped)",
			Faults:      emulator.Faults{LostWriteRate: 0.5, DropRate: 0.10},
			EarlyExpiry: true,
		},
		{
			Name:   "5xx and latency",
			Faults: emulator.Faults{ErrorRate: 0.25, ErrorCodes: codes, LatencyMS: 150},
		},
	}
}

// PhaseFor is the phase of round r (from 1), with a fault seed drawn from rng.
func PhaseFor(r int, rng *mrand.Rand) Phase {
	m := Matrix()
	p := m[(r-1)%len(m)]
	p.Faults.Seed = rng.Uint64() | 1
	return p
}

// String describes the phase's faults in one line, for failure messages and the report.
func (p Phase) String() string {
	f := p.Faults
	var parts []string
	if f.ErrorRate > 0 {
		parts = append(parts, fmt.Sprintf("5xx %.0f%% %v", 100*f.ErrorRate, f.ErrorCodes))
	}
	if f.DropRate > 0 {
		parts = append(parts, fmt.Sprintf("dropped connections %.0f%%", 100*f.DropRate))
	}
	if f.LostWriteRate > 0 {
		how := "connection dropped"
		if f.LostWriteStatus != 0 {
			how = fmt.Sprintf("answered %d", f.LostWriteStatus)
		}
		parts = append(parts, fmt.Sprintf("lost write answers %.0f%% of writes (%s)", 100*f.LostWriteRate, how))
	}
	if f.LatencyMS > 0 {
		parts = append(parts, fmt.Sprintf("latency %d ms", f.LatencyMS))
	}
	if p.Storm > 0 {
		parts = append(parts, fmt.Sprintf("429 storm: %d forced 429s with Retry-After %d s every %s", p.Storm, p.StormRetryAfter, p.StormEvery))
	}
	if p.EarlyExpiry {
		parts = append(parts, fmt.Sprintf("token TTL %s advertised as %s (expiry found by 401)", TokenTTL, AdvertisedTTL))
	} else {
		parts = append(parts, fmt.Sprintf("token TTL %s", TokenTTL))
	}
	return fmt.Sprintf("%s: %s (fault seed %d)", p.Name, strings.Join(parts, ", "), f.Seed)
}

// Armed returns the faults to set at the k-th arming of the phase (k from 0): the
// storm's 429s added, and a distinct seed so that each arming draws anew.
func (p Phase) Armed(k int) emulator.Faults {
	f := p.Faults
	f.ErrorCodes = append([]int(nil), f.ErrorCodes...)
	f.Seed += uint64(k) * 0x9e3779b97f4a7c15
	if f.Seed == 0 {
		f.Seed = 1
	}
	if p.Storm > 0 {
		f.Force429, f.RetryAfterSeconds = p.Storm, p.StormRetryAfter
	}
	return f
}
