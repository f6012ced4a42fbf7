package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// The ways the benchmarks measure (the last element of a benchmark's name).
const (
	WayOursShipped = "ours-shipped" // sdim-sync, the client's limiter as shipped
	WayOursOpen    = "ours-open"    // sdim-sync, the client's limiter opened up
	WayNaiveOpen   = "naive-open"   // one GET per object, no client-side pacing
	WayOurs        = "ours"
	WayNaive       = "naive"
)

// The units the benchmarks report with testing.B.ReportMetric.
const (
	MetricRequests = "requests" // API requests the tenant saw, 429s included
	MetricWrites   = "writes"   // writes that changed the tenant
	Metric429s     = "429s"     // 429 answers
	MetricWall     = "wall-s"
	MetricCPU      = "cpu-s"    // process user + system time
	MetricPeak     = "peak-MB"  // peak resident memory of the process (VmHWM)
	MetricAdded    = "added-MB" // that peak minus the resident memory at the start
	MetricAtLimit  = "limit-s"  // AtTenantLimit
	MetricRate     = "req/s"
	MetricShare    = "%limit"
)

// AtTenantLimit is the time the same requests take at the tenant's documented limit: the
// wall time, or the requests at 100 per 10 s when that is longer.
func AtTenantLimit(requests, wallSeconds float64) float64 {
	return math.Max(wallSeconds, requests*TenantWindow.Seconds()/TenantLimit)
}

// ShippedTime is the least time the client as shipped needs for n requests: it lets a
// window's worth (its limit) go at once, then one window's worth per window, so the last
// of n leaves (n-1)/limit whole windows after the first.
func ShippedTime(n float64) time.Duration {
	windows := math.Floor(math.Max(n-1, 0) / float64(tenant.DefaultRateLimit))
	return time.Duration(windows) * tenant.DefaultRateWindow
}

// Figures are the results of a run of the harness: each benchmark's metrics by name
// (without "Benchmark" and the GOMAXPROCS suffix, e.g. "ReadPlan/n=1000/ours-open") and
// unit, and the idle daemon's figures.
type Figures struct {
	Bench map[string]map[string]float64
	Idle  *Idle
}

// Idle is what scripts/daemon-idle.sh measured.
type Idle struct {
	Integrations int
	Runs         int
	Seconds      float64
	PeakMB       float64
	AverageMB    float64
	CPUSeconds   float64
	CPUPercent   float64
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// ParseBench adds the benchmark lines of go test -bench output to f.Bench. A name seen
// twice keeps its last figures.
func (f *Figures) ParseBench(r io.Reader) error {
	if f.Bench == nil {
		f.Bench = map[string]map[string]float64{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		if len(fields)%2 != 0 {
			return fmt.Errorf("benchmark line %q: figures and units do not pair up", sc.Text())
		}
		metrics := map[string]float64{}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return fmt.Errorf("benchmark line %q: %q is not a number", sc.Text(), fields[i])
			}
			metrics[fields[i+1]] = v
		}
		f.Bench[m[1]] = metrics
	}
	return sc.Err()
}

var (
	idleRuns = regexp.MustCompile(`integrations (\d+), (\d+) runs in all, sampled ([\d.]+) s`)
	idleRSS  = regexp.MustCompile(`RSS: peak ([\d.]+) MB, average ([\d.]+) MB`)
	idleCPU  = regexp.MustCompile(`CPU: ([\d.]+) s over [\d.]+ s = ([\d.]+)% of one core`)
)

// ParseIdle reads the output of scripts/daemon-idle.sh into f.Idle.
func (f *Figures) ParseIdle(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := string(b)
	runs, rss, cpu := idleRuns.FindStringSubmatch(s), idleRSS.FindStringSubmatch(s), idleCPU.FindStringSubmatch(s)
	if runs == nil || rss == nil || cpu == nil {
		return fmt.Errorf("daemon-idle output: no integrations, RSS or CPU line in %q", s)
	}
	num := func(v string) float64 { x, _ := strconv.ParseFloat(v, 64); return x }
	f.Idle = &Idle{Integrations: int(num(runs[1])), Runs: int(num(runs[2])), Seconds: num(runs[3]),
		PeakMB: num(rss[1]), AverageMB: num(rss[2]), CPUSeconds: num(cpu[1]), CPUPercent: num(cpu[2])}
	return nil
}

// ReadPlanSizes are the tenant sizes of the ReadPlan results in f, smallest first.
func (f *Figures) ReadPlanSizes() []int {
	var out []int
	for name := range f.Bench {
		var n int
		var way string
		if _, err := fmt.Sscanf(name, "ReadPlan/n=%d/%s", &n, &way); err == nil && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Machine describes where the harness ran and how to run it again.
type Machine struct {
	Cores   int
	CPU     string
	Go      string
	Date    string
	Command string
}

// Render writes the machine, the command and one Markdown table of every case: ours, the
// naive way and their ratio. It fails, writing nothing, when a case is missing from f.
func Render(w io.Writer, f *Figures, m Machine) error {
	t := &table{f: f}
	sizes := f.ReadPlanSizes()
	if len(sizes) == 0 {
		t.missing = append(t.missing, "ReadPlan")
	}
	for _, n := range sizes {
		t.readPlan(n)
	}
	t.applyThroughput()
	t.applyDrift()
	t.daemon(sizes)
	if len(t.missing) > 0 {
		return fmt.Errorf("results missing (did a case fail or skip?): %s", strings.Join(t.missing, ", "))
	}
	fmt.Fprintf(w, "Machine: %d cores, %s, %s", m.Cores, m.CPU, m.Go)
	if m.Date != "" {
		fmt.Fprintf(w, ", %s", m.Date)
	}
	fmt.Fprintf(w, ".\nCommand: `%s`\n\n", m.Command)
	fmt.Fprintln(w, "| case | ours | naive | naive ÷ ours |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	return nil
}

type table struct {
	f       *Figures
	rows    [][4]string
	missing []string
}

// get returns a benchmark's figure, recording it missing when absent.
func (t *table) get(name, unit string) float64 {
	m, ok := t.f.Bench[name]
	if !ok {
		if !slices.Contains(t.missing, name) {
			t.missing = append(t.missing, name)
		}
		return math.NaN()
	}
	v, ok := m[unit]
	if !ok {
		t.missing = append(t.missing, name+" "+unit)
		return math.NaN()
	}
	return v
}

func (t *table) section(title string) {
	t.rows = append(t.rows, [4]string{"**" + title + "**", "", "", ""})
}

func (t *table) row(what, ours, naive, ratio string) {
	t.rows = append(t.rows, [4]string{what, ours, naive, ratio})
}

// pair is a row of one figure of both ways, with their ratio.
func (t *table) pair(what string, ours, naive float64, format func(float64) string) {
	t.row(what, format(ours), format(naive), Ratio(naive, ours))
}

func (t *table) readPlan(n int) {
	name := func(way string) string { return fmt.Sprintf("ReadPlan/n=%d/%s", n, way) }
	shipped, open, naive := name(WayOursShipped), name(WayOursOpen), name(WayNaiveOpen)
	t.section(fmt.Sprintf("Read and plan %s integrations, 1 %% drifted (emulator's limit off)", Count(float64(n))))
	reqO, reqN := t.get(open, MetricRequests), t.get(naive, MetricRequests)
	t.pair("requests", reqO, reqN, Count)
	wallO, wallN := t.get(open, MetricWall), t.get(naive, MetricWall)
	t.pair("wall time, client's limiter off", wallO, wallN, Seconds)
	t.pair("CPU time, user + system (the in-process emulator's included)", t.get(open, MetricCPU), t.get(naive, MetricCPU), Seconds)
	t.pair("peak RSS of the process (emulator and desired state included)", t.get(open, MetricPeak), t.get(naive, MetricPeak), MB)
	t.pair("memory the read and plan added (peak − start)", t.get(open, MetricAdded), t.get(naive, MetricAdded), MB)
	t.pair("time at the tenant's limit: max(wall, requests at 100 per 10 s)", t.get(open, MetricAtLimit), t.get(naive, MetricAtLimit), Seconds)
	wallS := t.get(shipped, MetricWall)
	naiveShipped := ShippedTime(reqN).Seconds()
	t.row(fmt.Sprintf("wall time, client as shipped (%d per %.0f s, a window's worth at once); naive computed, not run", tenant.DefaultRateLimit, tenant.DefaultRateWindow.Seconds()),
		Seconds(wallS), fmt.Sprintf("≥ %s (%s requests)", Seconds(naiveShipped), Count(reqN)), "≥ "+Ratio(naiveShipped, wallS))
	t.row("ours as shipped ÷ ours with the limiter off (issue 14's target: ≤ 1.5×)", Ratio(wallS, wallO), "", "")
}

func (t *table) applyThroughput() {
	const ours, naive = "ApplyThroughput/puts=200/" + WayOurs, "ApplyThroughput/puts=200/" + WayNaive
	t.section("Apply 200 puts, the tenant at 100 requests per 1 s (its rate, 10× faster); ours: client at the same limit, 4 at once; naive: one PUT after another, unpaced, 429s waited out")
	t.pair("requests (429s included)", t.get(ours, MetricRequests), t.get(naive, MetricRequests), Count)
	t.pair("writes", t.get(ours, MetricWrites), t.get(naive, MetricWrites), Count)
	t.row("429 answers", Count(t.get(ours, Metric429s)), Count(t.get(naive, Metric429s)), "")
	t.pair("wall time", t.get(ours, MetricWall), t.get(naive, MetricWall), Seconds)
	t.pair("achieved rate", t.get(ours, MetricRate), t.get(naive, MetricRate), rate)
	t.pair("share of the limit", t.get(ours, MetricShare), t.get(naive, MetricShare), share)
}

func (t *table) applyDrift() {
	const ours, naive = "ApplyDrift/n=1000/" + WayOurs, "ApplyDrift/n=1000/" + WayNaive
	t.section("Bring 1,000 integrations, 1 % drifted, to the desired state, same limit; ours: snapshot, plan, apply, read back; naive: list, PUT every object")
	t.pair("requests (429s included)", t.get(ours, MetricRequests), t.get(naive, MetricRequests), Count)
	t.pair("writes", t.get(ours, MetricWrites), t.get(naive, MetricWrites), Count)
	t.row("429 answers", Count(t.get(ours, Metric429s)), Count(t.get(naive, Metric429s)), "")
	t.pair("wall time at 100 per 1 s", t.get(ours, MetricWall), t.get(naive, MetricWall), Seconds)
	t.pair("achieved rate", t.get(ours, MetricRate), t.get(naive, MetricRate), rate)
	t.pair("share of the limit", t.get(ours, MetricShare), t.get(naive, MetricShare), share)
	t.pair("time at the tenant's real limit (requests at 100 per 10 s)", t.get(ours, MetricAtLimit), t.get(naive, MetricAtLimit), Seconds)
}

func (t *table) daemon(sizes []int) {
	t.section("The daemon (`sdim-sync serve`; the naive way has none)")
	if i := t.f.Idle; i == nil {
		t.missing = append(t.missing, "daemon-idle.sh")
	} else {
		what := fmt.Sprintf("idle, %s integrations in sync, a run every 30 s, %s s sampled (%d runs)", Count(float64(i.Integrations)), Count(i.Seconds), i.Runs)
		t.row(what+": RSS peak / average", fmt.Sprintf("%.1f / %.1f MB", i.PeakMB, i.AverageMB), "—", "")
		t.row(what+": CPU", fmt.Sprintf("%.2f %% of a core", i.CPUPercent), "—", "")
	}
	const fw = "FileWriteToTenant"
	lat := t.get(fw, "ns/op") / 1e9
	t.row("file saved → the change in the tenant (debounce 1 s, client as shipped)", Seconds(lat), "—", "")
	t.row("… of which the run that applies it (load, snapshot, plan, PUT, read-back)", fmt.Sprintf("%s, %s requests", Seconds(t.get(fw, "run-ms/op")/1e3), Count(t.get(fw, "requests/op"))), "—", "")
	if slices.Contains(sizes, 1000) {
		o, n := t.get("ReadPlan/n=1000/"+WayOursOpen, MetricRequests), t.get("ReadPlan/n=1000/"+WayNaiveOpen, MetricRequests)
		t.pair("requests of each scheduled run over 1,000 integrations (from the read and plan)", o, n, Count)
	}
}

func rate(v float64) string  { return fmt.Sprintf("%.1f req/s", v) }
func share(v float64) string { return fmt.Sprintf("%.1f %%", v) }

// Count formats a whole number with thousands separators.
func Count(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Seconds formats a duration in seconds: milliseconds under one second, three significant
// digits up to 100 s, whole seconds beyond.
func Seconds(v float64) string {
	switch {
	case math.IsNaN(v):
		return "?"
	case v < 1:
		return fmt.Sprintf("%.0f ms", v*1000)
	case v < 10:
		return fmt.Sprintf("%.2f s", v)
	case v < 100:
		return fmt.Sprintf("%.1f s", v)
	}
	return Count(v) + " s"
}

// MB formats megabytes.
func MB(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	if v < 10 {
		return fmt.Sprintf("%.1f MB", v)
	}
	return Count(v) + " MB"
}

// Ratio formats a / b as "12×": two significant digits up to 100, whole numbers beyond.
func Ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "—"
	}
	r := a / b
	switch {
	case r >= 100:
		return Count(r) + "×"
	case r >= 10:
		return fmt.Sprintf("%.0f×", r)
	case r >= 1:
		return fmt.Sprintf("%.1f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}
