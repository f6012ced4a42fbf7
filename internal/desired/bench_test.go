package desired

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLoad10k loads 10,000 service desk integrations in 100 files, each with
// references, a provisioning configuration, attributes and a secret reference. One op is
// one whole Load: cold, as plan makes it; cold with every file read by yaml.v3, as files
// outside yamlsubset's subset are (anchors, block scalars...); and again through the
// Cache the daemon keeps, over an unchanged directory.
func BenchmarkLoad10k(b *testing.B) {
	b.Run("cold", func(b *testing.B) { benchmarkLoad10k(b, false) })
	b.Run("cold-yaml.v3-only", func(b *testing.B) { benchmarkLoad10k(b, false, withGeneralOnly()) })
	b.Run("unchanged-cached", func(b *testing.B) { benchmarkLoad10k(b, true) })
}

// benchmarkLoad10k loads the same 10,000 integrations again and again; with cached, through
// one Cache, as the daemon's scheduled runs over an unchanged directory do.
func benchmarkLoad10k(b *testing.B, cached bool, extra ...Option) {
	const files, perFile = 100, 100
	dir := b.TempDir()
	for f := range files {
		var sb strings.Builder
		for i := range perFile {
			n := f*perFile + i
			fmt.Fprintf(&sb, `---
kind: ServiceDeskIntegration
name: Integration %05d
spec:
  description: Tickets for manual provisioning, team %d
  type: ServiceNowSDIM
  ownerRef: {type: IDENTITY, id: 2c9180a46faadee4016fb4e018c2%04d}
  clusterRef: {type: CLUSTER, id: 2c9180847a7fccdd017aa5896f9f4f6f}
  provisioningConfig:
    managedResourceRefs:
      - {type: SOURCE, id: 2c9180855d191c59015d291ceb05%04d}
      - {type: SOURCE, id: 2c9180855d191c59015d291ceb06%04d}
    noProvisioningRequests: false
    provisioningRequestExpiration: 7
  attributes:
    url: https://acme-%d.service-now.com
    username: svc-sailpoint
    password: ${env:SNOW_PASSWORD}
    authType: basic
    requestType: catalog
  beforeProvisioningRule: {type: RULE, id: 2c918085708c274401708c2a8a760001}
options:
  ignore: [/attributes/lastSyncDate]
`, n, n%50, n%10000, n%10000, n%10000, n)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("integrations-%03d.yaml", f)), []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	opts := append([]Option{testEnv(map[string]string{"SNOW_PASSWORD": "pw"})}, extra...)
	if cached {
		opts = append(opts, WithCache(NewCache()))
		if _, err := Load(dir, opts...); err != nil { // the cold load that fills the cache
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	peak := samplePeakHeap(b)
	var last *State // kept, so that the heap after is what a load leaves (with the cache, if any)
	for b.Loop() {
		// Each load starts from a collected heap holding no earlier State, as the load of a
		// plan does, so that the peak is one load's.
		b.StopTimer()
		last = nil
		runtime.GC()
		b.StartTimer()
		st, err := Load(dir, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if len(st.ServiceDesk) != files*perFile {
			b.Fatalf("loaded %d integrations", len(st.ServiceDesk))
		}
		last = st
	}
	b.ReportMetric(files*perFile, "integrations/op")
	peak()
	runtime.KeepAlive(last)
}

// BenchmarkLoadLargeFile loads one file at the size limit (4 MiB) holding one integration
// with about 180,000 attributes, every key and value unique: the worst case for what the
// loader holds at once (one document's whole tree) and for the table of keep, which it
// bounds. One op is one Load.
func BenchmarkLoadLargeFile(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("kind: ServiceDeskIntegration\nname: Large\nspec:\n  type: T\n  attributes:\n")
	for i := 0; sb.Len() < DefaultMaxFileSize-64; i++ {
		fmt.Fprintf(&sb, "    k%07d: v%07d\n", i, i)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "large.yaml"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	peak := samplePeakHeap(b)
	var last *State
	for b.Loop() {
		b.StopTimer()
		last = nil
		runtime.GC()
		b.StartTimer()
		st, err := Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		last = st
	}
	peak()
	runtime.KeepAlive(last)
}

// samplePeakHeap samples the heap in use every 2 ms from now on; the function it returns
// stops sampling and reports, in MB, the heap in use before the loads (the test's own,
// and the cache's when there is one), the peak, and the live heap after a GC (holding the
// last State). The collector lets the heap grow to about twice what is live before it
// runs, so a load's peak follows both what it keeps and the garbage it makes.
func samplePeakHeap(b *testing.B) func() {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		b.ReportMetric(float64(before.HeapInuse)/1e6, "heap-before-MB")
		b.ReportMetric(float64(peak.Load())/1e6, "peak-heap-MB")
		b.ReportMetric(float64(m.HeapInuse)/1e6, "heap-after-MB")
	}
}
