package bench_test

import (
	"math"
	"strings"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/bench"
)

// sampleBench is go test -bench output of every case the table needs, one size.
const sampleBench = `goos: linux
goarch: amd64
pkg: github.com/sdim-sync/sdim-sync/internal/bench
cpu: AMD EPYC
BenchmarkReadPlan/n=1000/ours-shipped-2 	 1	 456476175 ns/op	 0 429s	 6.469 added-MB	 0.06833 cpu-s	 0.5000 limit-s	 25.82 peak-MB	 5.000 requests	 0.4566 wall-s	 0 writes
BenchmarkReadPlan/n=1000/ours-open-2 	 1	 135795184 ns/op	 0 429s	 7.324 added-MB	 0.06602 cpu-s	 0.5000 limit-s	 27.62 peak-MB	 5.000 requests	 0.1400 wall-s	 0 writes
BenchmarkReadPlan/n=1000/naive-open-2 	 1	 369998417 ns/op	 0 429s	 8.672 added-MB	 0.3605 cpu-s	 100.5 limit-s	 28.91 peak-MB	 1005 requests	 0.3702 wall-s	 0 writes
BenchmarkApplyThroughput/puts=200/ours-2 	 1	2057210753 ns/op	 99.14 %limit	 0 429s	 1.738 added-MB	 0.2526 cpu-s	 20.40 limit-s	 16.82 peak-MB	 99.14 req/s	 204.0 requests	 2.058 wall-s	 200.0 writes
BenchmarkApplyThroughput/puts=200/naive-2 	 1	1076101316 ns/op	 187.7 %limit	 1.000 429s	 2.637 added-MB	 0.07842 cpu-s	 20.20 limit-s	 16.67 peak-MB	 187.7 req/s	 202.0 requests	 1.076 wall-s	 200.0 writes
BenchmarkApplyDrift/n=1000/ours-2 	 1	 156475257 ns/op	 100 %limit	 0 429s	 6.234 added-MB	 0.05889 cpu-s	 1.600 limit-s	 26.08 peak-MB	 100 req/s	 16.00 requests	 0.1567 wall-s	 10.00 writes
BenchmarkApplyDrift/n=1000/naive-2 	 1	9610259258 ns/op	 105 %limit	 9.000 429s	 7.438 added-MB	 0.5371 cpu-s	 101.3 limit-s	 27.35 peak-MB	 105 req/s	 1013 requests	 9.610 wall-s	 1000 writes
PASS
`

const sampleFileWrite = `BenchmarkFileWriteToTenant-2   	       3	1430751150 ns/op	         6.000 requests/op	       534.3 run-ms/op
`

const sampleIdle = `daemon ready; first run found 1000 integrations in sync; sampling for 35s
integrations 1000, 2 runs in all, sampled 35 s
RSS: peak 23.0 MB, average 22.1 MB
CPU: 0.18 s over 35 s = 0.51% of one core
`

func sampleFigures(t *testing.T) *bench.Figures {
	t.Helper()
	var f bench.Figures
	for _, s := range []string{sampleBench, sampleFileWrite} {
		if err := f.ParseBench(strings.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.ParseIdle(strings.NewReader(sampleIdle)); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestParse(t *testing.T) {
	f := sampleFigures(t)
	if got := f.Bench["ReadPlan/n=1000/naive-open"][bench.MetricRequests]; got != 1005 {
		t.Errorf("naive requests %v, want 1005", got)
	}
	if got := f.Bench["FileWriteToTenant"]["ns/op"]; got != 1430751150 {
		t.Errorf("file write ns/op %v", got)
	}
	if got := f.ReadPlanSizes(); len(got) != 1 || got[0] != 1000 {
		t.Errorf("sizes %v, want [1000]", got)
	}
	want := bench.Idle{Integrations: 1000, Runs: 2, Seconds: 35, PeakMB: 23, AverageMB: 22.1, CPUSeconds: 0.18, CPUPercent: 0.51}
	if *f.Idle != want {
		t.Errorf("idle %+v, want %+v", *f.Idle, want)
	}
	var bad bench.Figures
	if err := bad.ParseBench(strings.NewReader("BenchmarkX-2  1  12 ns/op 3\n")); err == nil {
		t.Error("an unpaired figure was accepted")
	}
	if err := bad.ParseIdle(strings.NewReader("daemon-idle: not ready\n")); err == nil {
		t.Error("an idle output without figures was accepted")
	}
}

func TestRender(t *testing.T) {
	var b strings.Builder
	m := bench.Machine{Cores: 2, CPU: "AMD EPYC", Go: "go1.26.8 linux/amd64", Command: "scripts/bench.sh"}
	if err := bench.Render(&b, sampleFigures(t), m); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Machine: 2 cores, AMD EPYC, go1.26.8 linux/amd64.\nCommand: `scripts/bench.sh`\n",
		"| case | ours | naive | naive ÷ ours |\n| --- | ---: | ---: | ---: |\n",
		"| **Read and plan 1,000 integrations, 1 % drifted (emulator's limit off)** |  |  |  |\n",
		"| requests | 5 | 1,005 | 201× |\n",
		"| wall time, client's limiter off | 140 ms | 370 ms | 2.6× |\n",
		"| time at the tenant's limit: max(wall, requests at 100 per 10 s) | 500 ms | 101 s | 201× |\n",
		"| ours as shipped ÷ ours with the limiter off (issue 14's target: ≤ 1.5×) | 3.3× |  |  |\n",
		"≥ 100 s (1,005 requests) | ≥ 219× |\n",
		"| writes | 10 | 1,000 | 100× |\n",
		"| share of the limit | 99.1 % | 187.7 % | 1.9× |\n",
		"| file saved → the change in the tenant (debounce 1 s, client as shipped) | 1.43 s | — |  |\n",
		": RSS peak / average | 23.0 / 22.1 MB | — |  |\n",
		"| requests of each scheduled run over 1,000 integrations (from the read and plan) | 5 | 1,005 | 201× |\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[3:] {
		if strings.Count(line, " | ") != 3 || !strings.HasPrefix(line, "| ") || !strings.HasSuffix(line, " |") {
			t.Errorf("not a row of four cells: %q", line)
		}
		if strings.Contains(line, "?") || strings.Contains(line, "NaN") {
			t.Errorf("a figure is missing: %q", line)
		}
	}
}

func TestRenderRefusesMissingCases(t *testing.T) {
	f := sampleFigures(t)
	delete(f.Bench, "ApplyDrift/n=1000/naive")
	f.Idle = nil
	var b strings.Builder
	err := bench.Render(&b, f, bench.Machine{})
	if err == nil || !strings.Contains(err.Error(), "ApplyDrift/n=1000/naive") || !strings.Contains(err.Error(), "daemon-idle.sh") {
		t.Fatalf("err %v: want both missing cases named", err)
	}
	if b.Len() != 0 {
		t.Errorf("wrote %q despite the error", b.String())
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{bench.Count(1234567), "1,234,567"},
		{bench.Count(999), "999"},
		{bench.Count(-1000), "-1,000"},
		{bench.Count(math.NaN()), "?"},
		{bench.Seconds(0.0421), "42 ms"},
		{bench.Seconds(4.367), "4.37 s"},
		{bench.Seconds(42.15), "42.1 s"},
		{bench.Seconds(1068.2), "1,068 s"},
		{bench.MB(6.47), "6.5 MB"},
		{bench.MB(181.2), "181 MB"},
		{bench.Ratio(10041, 41), "245×"},
		{bench.Ratio(3.07, 0.645), "4.8×"},
		{bench.Ratio(30, 2), "15×"},
		{bench.Ratio(0.5, 2), "0.25×"},
		{bench.Ratio(1, 0), "—"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
