// Package metrics holds the Prometheus collectors of sdim-sync. A Metrics value owns its
// own registry (no package globals, no default registry): the daemon makes one, installs
// TenantHooks on the tenant client, calls ObserveRun after every reconcile and serves
// Handler on /metrics.
//
// Every metric is named with the prefix sdim_sync_; docs/metrics.md lists them. No label
// carries an object id: kinds, actions, states, stages, triggers and results are fixed
// sets, API routes are templates ({id} in place of ids), and the only per-object series
// (sdim_sync_drifted_object, by kind and name) are opt-in and capped.
package metrics

import (
	"cmp"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// Namespace is the prefix of every metric of sdim-sync.
const Namespace = "sdim_sync"

// DefaultDriftedObjectLimit caps the opt-in per-object series when Options.DriftedObjectLimit
// is not positive.
const DefaultDriftedObjectLimit = 100

// The values of the result label of sdim_sync_changes_applied_total.
const (
	ChangeApplied    = "applied"
	ChangeFailed     = "failed"
	ChangeNotStarted = "not_started"
)

// The values of the result label of sdim_sync_token_refreshes_total.
const (
	TokenRefreshSuccess = "success"
	TokenRefreshFailure = "failure"
)

// CodeNone is the code label of an API request that got no answer (status 0).
const CodeNone = "none"

// DaemonTriggers are the triggers of the daemon's runs: their sdim_sync_runs_total series
// exist from the start, at 0, for every result.
func DaemonTriggers() []engine.Trigger {
	return []engine.Trigger{engine.TriggerStartup, engine.TriggerSchedule, engine.TriggerWatch, engine.TriggerSignal}
}

// Results lists every run result.
func Results() []engine.Result {
	return []engine.Result{engine.ResultSuccess, engine.ResultFailed, engine.ResultBlocked}
}

// RetryReasons are the reasons the tenant client retries for (tenant.Hooks.Retry).
func RetryReasons() []string { return []string{"429", "5xx", "network", "401", "token"} }

// RateLimitSources are the sources of a rate-limit wait (tenant.Hooks.RateLimitWait).
func RateLimitSources() []string { return []string{"client", "server"} }

// ChangeResults are the values of the result label of sdim_sync_changes_applied_total.
func ChangeResults() []string { return []string{ChangeApplied, ChangeFailed, ChangeNotStarted} }

// RunDurationBuckets are the buckets of sdim_sync_run_duration_seconds: 50 ms to 10 min.
func RunDurationBuckets() []float64 {
	return []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}
}

// APIDurationBuckets are the buckets of sdim_sync_api_request_duration_seconds: 5 ms to 60 s.
func APIDurationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
}

// Options configure Metrics.
type Options struct {
	// Version and Revision label sdim_sync_build_info ("unknown" when empty); its
	// goversion label is runtime.Version().
	Version, Revision string
	// DriftedObjectSeries registers sdim_sync_drifted_object (one series per drifted or
	// observe-only object) and sdim_sync_drifted_objects_truncated. Off by default.
	DriftedObjectSeries bool
	// DriftedObjectLimit caps the series of sdim_sync_drifted_object
	// (DefaultDriftedObjectLimit when <= 0).
	DriftedObjectLimit int
}

// Metrics holds the collectors of one process. Its methods are safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	buildInfo        *prometheus.GaugeVec
	desiredValid     prometheus.Gauge
	objects          *prometheus.GaugeVec
	drift            *prometheus.GaugeVec
	pending          *prometheus.GaugeVec
	runs             *prometheus.CounterVec
	runDuration      prometheus.Histogram
	lastRun          prometheus.Gauge
	lastSuccess      prometheus.Gauge
	scheduleInterval prometheus.Gauge
	errors           *prometheus.CounterVec
	changesApplied   *prometheus.CounterVec
	deletesBlocked   prometheus.Gauge
	notConverged     prometheus.Gauge

	apiRequests    *prometheus.CounterVec
	apiDuration    *prometheus.HistogramVec
	retries        *prometheus.CounterVec
	rateLimitWaits *prometheus.CounterVec
	rateLimitSecs  *prometheus.CounterVec
	tokenRefreshes *prometheus.CounterVec

	// drifted is nil unless Options.DriftedObjectSeries.
	drifted *driftedCollector

	// mu makes each ObserveRun one step: two runs observed at once do not mix their
	// figures.
	mu sync.Mutex
}

// New makes the collectors and registers them, with the Go and process collectors, on a
// registry of their own.
func New(o Options) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	name := func(s string) string { return Namespace + "_" + s }

	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: name("build_info"),
		Help: "Always 1; its labels are the version and VCS revision of the sdim-sync binary and the Go version it was built with.",
	}, []string{"version", "revision", "goversion"})
	m.desiredValid = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: name("desired_state_valid"),
		Help: "1 when the desired-state files loaded and validated in the last run, 0 when they did not; 0 until the first run ends.",
	})
	m.drift = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: name("drift"),
		Help: "Drifted objects (those sdim-sync would change; observe-only ones are not counted) in the last plan, by kind and drift class: pending (the desired state changed since the last apply, the tenant did not), out-of-band (the tenant changed, the desired state did not), conflict (both), unknown (the ledger does not know the object); kept when a later run fails before planning.",
	}, []string{"kind", "class"})
	m.objects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: name("objects"),
		Help: "Objects by kind and state (in_sync, drifted, observe_only, unmanaged) as found by the last run that planned; kept when a later run fails before planning.",
	}, []string{"kind", "state"})
	m.pending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: name("pending_changes"),
		Help: "Changes a run in enforce mode would make (observe-only changes excluded), by kind and action, as planned by the last run that planned; kept when a later run fails before planning.",
	}, []string{"kind", "action"})
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name("runs_total"),
		Help: "Reconcile runs that ended, by what triggered them and their result (success, failed, blocked).",
	}, []string{"trigger", "result"})
	m.runDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    name("run_duration_seconds"),
		Help:    "Wall-clock duration of a reconcile run, from the start of loading the desired state to its end, in seconds.",
		Buckets: RunDurationBuckets(),
	})
	m.lastRun = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: name("last_run_timestamp_seconds"),
		Help: "Unix time at which the last reconcile run ended, whatever its result; 0 before the first run.",
	})
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: name("last_success_timestamp_seconds"),
		Help: "Unix time at which the last successful reconcile run ended; 0 until a run succeeds.",
	})
	m.scheduleInterval = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: name("schedule_interval_seconds"),
		Help: "Interval between the daemon's scheduled runs, in seconds; 0 when no schedule is set.",
	})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name("errors_total"),
		Help: "Failed reconcile runs by the stage that failed (load, snapshot, plan, apply, read_back).",
	}, []string{"stage"})
	m.changesApplied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name("changes_applied_total"),
		Help: "Changes an apply attempted, by kind, action and result (applied, failed, not_started: cancelled or skipped after an earlier phase failed).",
	}, []string{"kind", "action", "result"})
	m.deletesBlocked = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: name("deletes_blocked"),
		Help: "Deletes in the last plan that its safety policy blocks (too many deletes, or deletes from an empty desired state); kept when a later run fails before planning.",
	})
	m.notConverged = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: name("objects_not_converged"),
		Help: "Objects the read-back after the last apply still found different from the desired state (the tenant did not keep what was written); 0 after a plan with no changes.",
	})

	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name("api_requests_total"),
		Help: "HTTP exchanges with the tenant API (token endpoint excluded: see sdim_sync_token_refreshes_total), by method, route template ({id} in place of ids) and status code (none when no answer came); each attempt of a retried request counts.",
	}, []string{"method", "route", "code"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    name("api_request_duration_seconds"),
		Help:    "Duration of one HTTP exchange with the tenant, by method and route template, in seconds; rate-limit waits and retry backoff excluded.",
		Buckets: APIDurationBuckets(),
	}, []string{"method", "route"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name("api_retries_total"),
		Help: "Requests to the tenant retried, by reason: 429 (rate limited), 5xx (server error), network (no answer), 401 (token refused), token (token endpoint failed).",
	}, []string{"reason"})
	m.rateLimitWaits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name("rate_limit_waits_total"),
		Help: "Times a request waited before leaving, by source: client (the client's own rate limiter) or server (a Retry-After the tenant asked for).",
	}, []string{"source"})
	m.rateLimitSecs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name("rate_limit_wait_seconds_total"),
		Help: "Seconds requests spent waiting before leaving, by source: client (the client's own rate limiter) or server (a Retry-After the tenant asked for).",
	}, []string{"source"})
	m.tokenRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name("token_refreshes_total"),
		Help: "Requests for a new OAuth access token to the token endpoint, by result (success, failure).",
	}, []string{"result"})

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.buildInfo, m.desiredValid, m.objects, m.drift, m.pending, m.runs, m.runDuration, m.lastRun,
		m.lastSuccess, m.scheduleInterval, m.errors, m.changesApplied, m.deletesBlocked,
		m.notConverged, m.apiRequests, m.apiDuration, m.retries, m.rateLimitWaits,
		m.rateLimitSecs, m.tokenRefreshes,
	)
	if o.DriftedObjectSeries {
		limit := o.DriftedObjectLimit
		if limit <= 0 {
			limit = DefaultDriftedObjectLimit
		}
		m.drifted = newDriftedCollector(limit)
		reg.MustRegister(m.drifted)
	}

	m.buildInfo.WithLabelValues(orUnknown(o.Version), orUnknown(o.Revision), runtime.Version()).Set(1)
	m.desiredValid.Set(0)
	for _, k := range sdim.Kinds() {
		for _, st := range engine.ObjectStates() {
			m.objects.WithLabelValues(string(k), string(st))
		}
		for _, c := range planner.DriftClasses() {
			m.drift.WithLabelValues(string(k), string(c))
		}
		for _, a := range engine.Actions() {
			m.pending.WithLabelValues(string(k), string(a))
			for _, r := range ChangeResults() {
				m.changesApplied.WithLabelValues(string(k), string(a), r)
			}
		}
	}
	for _, t := range DaemonTriggers() {
		for _, r := range Results() {
			m.runs.WithLabelValues(string(t), string(r))
		}
	}
	for _, s := range engine.Stages() {
		m.errors.WithLabelValues(string(s))
	}
	for _, r := range RetryReasons() {
		m.retries.WithLabelValues(r)
	}
	for _, s := range RateLimitSources() {
		m.rateLimitWaits.WithLabelValues(s)
		m.rateLimitSecs.WithLabelValues(s)
	}
	m.tokenRefreshes.WithLabelValues(TokenRefreshSuccess)
	m.tokenRefreshes.WithLabelValues(TokenRefreshFailure)

	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A collector that fails (the process collector on an unusual system) must not
		// hide the others.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	})
	return m
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Registry is the registry every collector of m is registered on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics of Registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// SetScheduleInterval records the interval between the daemon's scheduled runs.
func (m *Metrics) SetScheduleInterval(d time.Duration) {
	m.scheduleInterval.Set(max(d, 0).Seconds())
}

// TenantHooks returns hooks for the tenant client (tenant.WithHooks) that count its
// requests, retries, rate-limit waits and token refreshes. They only update counters and
// histograms: they never block.
func (m *Metrics) TenantHooks() tenant.Hooks {
	return tenant.Hooks{
		Request: func(method, route string, status int, elapsed time.Duration) {
			code := CodeNone
			if status != 0 {
				code = strconv.Itoa(status)
			}
			m.apiRequests.WithLabelValues(method, route, code).Inc()
			m.apiDuration.WithLabelValues(method, route).Observe(elapsed.Seconds())
		},
		Retry: func(_, _, reason string) {
			m.retries.WithLabelValues(reason).Inc()
		},
		RateLimitWait: func(source string, waited time.Duration) {
			m.rateLimitWaits.WithLabelValues(source).Inc()
			m.rateLimitSecs.WithLabelValues(source).Add(max(waited, 0).Seconds())
		},
		TokenRefresh: func(err error) {
			if err != nil {
				m.tokenRefreshes.WithLabelValues(TokenRefreshFailure).Inc()
				return
			}
			m.tokenRefreshes.WithLabelValues(TokenRefreshSuccess).Inc()
		},
	}
}

// ObserveRun records a run that ended. A run that did not plan (its load, snapshot or
// plan failed) leaves the drift figures of the last run that planned in place: objects,
// pending changes, deletes blocked and the per-object series.
func (m *Metrics) ObserveRun(run *engine.Run) {
	if run == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	result := run.Result()
	m.runs.WithLabelValues(string(run.Trigger), string(result)).Inc()
	if !run.Start.IsZero() && !run.End.IsZero() {
		m.runDuration.Observe(max(run.Duration(), 0).Seconds())
	}
	if !run.End.IsZero() {
		m.lastRun.Set(unixSeconds(run.End))
		if result == engine.ResultSuccess {
			m.lastSuccess.Set(unixSeconds(run.End))
		}
	}
	if result == engine.ResultFailed {
		if s := run.FailedStage(); s != "" {
			m.errors.WithLabelValues(string(s)).Inc()
		}
	}

	switch {
	case run.LoadError != nil || run.FailedStage() == engine.StageLoad:
		m.desiredValid.Set(0)
	case run.Desired != nil:
		m.desiredValid.Set(1)
	}

	if sum, ok := run.Summarize(); ok {
		for k, states := range sum.Objects {
			for st, n := range states {
				m.objects.WithLabelValues(string(k), string(st)).Set(float64(n))
			}
		}
		for k, actions := range sum.Pending {
			for a, n := range actions {
				m.pending.WithLabelValues(string(k), string(a)).Set(float64(n))
			}
		}
		for k, classes := range sum.Classes {
			for c, n := range classes {
				m.drift.WithLabelValues(string(k), string(c)).Set(float64(n))
			}
		}
		m.deletesBlocked.Set(float64(sum.DeletesBlocked))
		if m.drifted != nil {
			m.drifted.set(driftedObjects(run))
		}
	}

	if rep := run.Report; rep != nil {
		for _, r := range rep.Results {
			m.changesApplied.WithLabelValues(string(r.Change.Kind), string(r.Change.Action), changeResult(r.Outcome)).Inc()
		}
	}
	switch {
	case run.Report != nil && run.Report.ReadBack && run.Report.ReadBackErr == nil:
		m.notConverged.Set(float64(len(run.Report.NotConverging)))
	case run.Plan != nil && run.Desired != nil && !run.Plan.HasChanges():
		m.notConverged.Set(0)
	}
}

// unixSeconds is t in Unix seconds, as precise as a float64 holds it.
func unixSeconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

// changeResult is the result label of an applier outcome: "not started" becomes
// "not_started".
func changeResult(o applier.Outcome) string {
	switch o {
	case applier.Applied:
		return ChangeApplied
	case applier.Failed:
		return ChangeFailed
	case applier.NotStarted:
		return ChangeNotStarted
	}
	return strings.ReplaceAll(string(o), " ", "_")
}

type objectKey struct{ kind, name string }

// driftedObjects lists the objects a run's plan changes or would change (drifted and
// observe-only), once each, sorted by kind then name.
func driftedObjects(run *engine.Run) []objectKey {
	var out []objectKey
	for _, c := range run.Plan.Changes {
		out = append(out, objectKey{string(c.Kind), c.Name})
	}
	slices.SortFunc(out, func(a, b objectKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
	})
	return slices.Compact(out)
}

// driftedCollector exposes sdim_sync_drifted_object and sdim_sync_drifted_objects_truncated.
// It swaps its whole list at once, so a scrape never sees half of one run and half of
// another.
type driftedCollector struct {
	limit     int
	objDesc   *prometheus.Desc
	truncDesc *prometheus.Desc

	mu        sync.RWMutex
	objects   []objectKey
	truncated int
}

func newDriftedCollector(limit int) *driftedCollector {
	return &driftedCollector{
		limit: limit,
		objDesc: prometheus.NewDesc(Namespace+"_drifted_object",
			"Opt-in: 1 for each object (by kind and name) the last run that planned found drifted or observe-only; at most the configured limit of series, the first by kind then name.",
			[]string{"kind", "name"}, nil),
		truncDesc: prometheus.NewDesc(Namespace+"_drifted_objects_truncated",
			"Opt-in: drifted or observe-only objects of the last run that planned left out of sdim_sync_drifted_object by its series limit.",
			nil, nil),
	}
}

func (d *driftedCollector) set(objs []objectKey) {
	n := min(len(objs), d.limit)
	kept := slices.Clone(objs[:n])
	d.mu.Lock()
	d.objects, d.truncated = kept, len(objs)-n
	d.mu.Unlock()
}

func (d *driftedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.objDesc
	ch <- d.truncDesc
}

func (d *driftedCollector) Collect(ch chan<- prometheus.Metric) {
	d.mu.RLock()
	objs, truncated := d.objects, d.truncated
	d.mu.RUnlock()
	for _, o := range objs {
		ch <- prometheus.MustNewConstMetric(d.objDesc, prometheus.GaugeValue, 1, o.kind, o.name)
	}
	ch <- prometheus.MustNewConstMetric(d.truncDesc, prometheus.GaugeValue, float64(truncated))
}
