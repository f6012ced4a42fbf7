package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
)

// Usage is what a measured stretch of work cost the process.
type Usage struct {
	Wall time.Duration
	// CPU is the process's user and system time (getrusage): every goroutine, the
	// in-process emulator's included.
	CPU time.Duration
	// StartRSS is the resident memory when the stretch began, after a full garbage
	// collection that returned what it could to the system.
	StartRSS int64
	// PeakRSS is the process's peak resident memory (VmHWM). When PeakReset is true the
	// peak was reset at the start, so it is the stretch's own peak; otherwise it is the
	// process's peak since it started.
	PeakRSS   int64
	PeakReset bool
}

// Added is how much the peak rose above the resident memory at the start: what the work
// itself held at its most.
func (u Usage) Added() int64 { return max(0, u.PeakRSS-u.StartRSS) }

// Meter measures a stretch of work of this process.
type Meter struct {
	start    time.Time
	cpu      time.Duration
	startRSS int64
	reset    bool
}

// StartMeter collects the garbage, returns the freed memory to the system, resets the
// process's peak resident memory (Linux: /proc/self/clear_refs) and starts the clocks.
func StartMeter() (*Meter, error) {
	runtime.GC()
	debug.FreeOSMemory()
	m := &Meter{reset: resetPeak() == nil}
	st, err := readStatus()
	if err != nil {
		return nil, err
	}
	m.startRSS = st["VmRSS"]
	if m.cpu, err = CPUTime(); err != nil {
		return nil, err
	}
	m.start = time.Now()
	return m, nil
}

// Stop ends the stretch and returns its cost.
func (m *Meter) Stop() (Usage, error) {
	wall := time.Since(m.start)
	cpu, err := CPUTime()
	if err != nil {
		return Usage{}, err
	}
	st, err := readStatus()
	if err != nil {
		return Usage{}, err
	}
	return Usage{Wall: wall, CPU: cpu - m.cpu, StartRSS: m.startRSS, PeakRSS: st["VmHWM"], PeakReset: m.reset}, nil
}

// CPUTime is the user plus system time the process has used.
func CPUTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// resetPeak makes VmHWM start again from the current resident memory.
func resetPeak() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// readStatus reads the kB figures of /proc/self/status, in bytes.
func readStatus() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("resident memory: %w", err)
	}
	return parseStatus(b)
}

// parseStatus reads the "Name:  123 kB" lines of a /proc/PID/status file, in bytes.
func parseStatus(b []byte) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			continue
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			continue
		}
		out[string(name)] = n * 1024
	}
	if _, ok := out["VmHWM"]; !ok {
		return nil, fmt.Errorf("resident memory: no VmHWM in /proc/self/status")
	}
	return out, sc.Err()
}
