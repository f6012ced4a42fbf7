package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/engine"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// StatusFormatVersion is the version of the /status JSON (docs/daemon.md).
const StatusFormatVersion = 1

// maxProblems bounds the load problems one run record keeps.
const maxProblems = 50

// runRecord is what /status keeps of a run: no desired or live objects, so twenty of them
// cost little whatever the tenant's size.
type runRecord struct {
	ID           string         `json:"id"`
	Trigger      engine.Trigger `json:"trigger"`
	Coalesced    []string       `json:"coalescedTriggers"`
	Mode         Mode           `json:"mode"`
	Start        time.Time      `json:"start"`
	End          time.Time      `json:"end"`
	Duration     float64        `json:"durationSeconds"`
	Result       engine.Result  `json:"result"`
	FailedStage  engine.Stage   `json:"failedStage,omitempty"`
	Error        string         `json:"error,omitempty"`
	Refused      string         `json:"refused,omitempty"`
	Stages       []stageRecord  `json:"stages"`
	DesiredState *digestRecord  `json:"desiredState,omitempty"`
	LoadProblems []string       `json:"loadProblems,omitempty"`
	// Counts are the plan's; nil when the run did not plan.
	Counts *planner.Counts `json:"counts,omitempty"`
	// Applied counts the changes by outcome; nil when nothing was applied.
	Applied       map[string]int `json:"applied,omitempty"`
	NotConverging []string       `json:"notConverging,omitempty"`
}

type stageRecord struct {
	Stage    engine.Stage `json:"stage"`
	Start    time.Time    `json:"start"`
	End      time.Time    `json:"end"`
	Duration float64      `json:"durationSeconds"`
	Error    string       `json:"error,omitempty"`
}

type digestRecord struct {
	// Digest is the SHA-256 of the YAML files (never of the secret files).
	Digest string `json:"digest"`
	Files  int    `json:"files"`
}

// driftView is the current drift: what the last run that planned found.
type driftView struct {
	RunID     string           `json:"runId"`
	PlannedAt time.Time        `json:"plannedAt"`
	Objects   []planner.Change `json:"objects"`
	Unmanaged []planner.Object `json:"unmanaged"`
	Blocked   []string         `json:"blocked"`
	Counts    planner.Counts   `json:"counts"`
}

// record keeps a run for /status and readiness.
func (d *Daemon) record(run *engine.Run, triggers []engine.Trigger, digest desired.Digest) {
	rec := runRecord{
		ID:          run.ID,
		Trigger:     run.Trigger,
		Coalesced:   triggerNames(triggers),
		Mode:        d.cfg.Mode,
		Start:       run.Start,
		End:         run.End,
		Duration:    run.Duration().Seconds(),
		Result:      run.Result(),
		FailedStage: run.FailedStage(),
		Refused:     run.Refused,
		Stages:      []stageRecord{},
	}
	if !digest.IsZero() {
		rec.DesiredState = &digestRecord{Digest: digest.State, Files: digest.Files}
	}
	if run.Err != nil {
		rec.Error = run.Err.Error()
		if run.LoadError != nil {
			rec.Error = "load: the desired state is invalid: " + sdim.Count(len(run.LoadError.Problems), "problem", "problems")
		}
	}
	for _, s := range run.Stages {
		sr := stageRecord{Stage: s.Stage, Start: s.Start, End: s.End, Duration: s.End.Sub(s.Start).Seconds()}
		if s.Err != nil {
			sr.Error = s.Err.Error()
			if s.Stage == engine.StageLoad && run.LoadError != nil {
				sr.Error = rec.Error
			}
		}
		rec.Stages = append(rec.Stages, sr)
	}
	if run.LoadError != nil {
		for i, p := range run.LoadError.Problems {
			if i == maxProblems {
				rec.LoadProblems = append(rec.LoadProblems, fmt.Sprintf("and %d more", len(run.LoadError.Problems)-maxProblems))
				break
			}
			rec.LoadProblems = append(rec.LoadProblems, p.String())
		}
	}
	if run.Plan != nil {
		c := run.Plan.Counts
		rec.Counts = &c
	}
	if rep := run.Report; rep != nil {
		rec.Applied = map[string]int{
			"applied":    rep.Count(applier.Applied),
			"failed":     rep.Count(applier.Failed),
			"notStarted": rep.Count(applier.NotStarted),
		}
		for _, c := range rep.NotConverging {
			rec.NotConverging = append(rec.NotConverging, c.Label())
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	d.running = nil
	d.history = append([]runRecord{rec}, d.history...)
	if len(d.history) > d.cfg.History {
		d.history = d.history[:d.cfg.History]
	}
	if run.ReachedTenant() {
		d.lastReached = d.clock.Now()
	}
	switch {
	case run.Desired != nil:
		v := true
		d.valid = &v
	case run.FailedStage() == engine.StageLoad:
		v := false
		d.valid = &v
	}
	if run.Plan != nil {
		dv := &driftView{RunID: run.ID, PlannedAt: run.End, Objects: slices.Clone(run.Plan.Changes),
			Unmanaged: run.Plan.Unmanaged, Blocked: run.Plan.Blocked, Counts: run.Plan.Counts}
		if dv.Objects == nil {
			dv.Objects = []planner.Change{}
		}
		if dv.Unmanaged == nil {
			dv.Unmanaged = []planner.Object{}
		}
		if dv.Blocked == nil {
			dv.Blocked = []string{}
		}
		d.drift = dv
	}
}

// Ready reports whether a run reached the tenant within ReadyIntervals schedule
// intervals, and why not.
func (d *Daemon) Ready() (bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readyLocked()
}

func (d *Daemon) readyLocked() (bool, string) {
	if d.shuttingDown {
		return false, "shutting down"
	}
	if d.lastReached.IsZero() {
		if d.running != nil {
			return false, "the first run that reaches the tenant is in progress"
		}
		if len(d.history) > 0 {
			return false, fmt.Sprintf("no run has reached the tenant yet; the last one failed: %s", d.history[0].Error)
		}
		return false, "no run has reached the tenant yet"
	}
	limit := time.Duration(ReadyIntervals) * d.interval
	if age := d.clock.Now().Sub(d.lastReached); age > limit {
		return false, fmt.Sprintf("the last run that reached the tenant ended %s ago, more than %d schedule intervals (%s)",
			age.Round(time.Second), ReadyIntervals, limit)
	}
	return true, "the last run that reached the tenant ended at " + d.lastReached.UTC().Format(time.RFC3339)
}

// status is the /status document.
type status struct {
	FormatVersion int            `json:"formatVersion"`
	Version       string         `json:"version"`
	Now           time.Time      `json:"now"`
	Started       time.Time      `json:"started"`
	Ready         bool           `json:"ready"`
	ReadyReason   string         `json:"readyReason"`
	Settings      statusSettings `json:"settings"`
	// DesiredStateValid is null before the first load.
	DesiredStateValid *bool       `json:"desiredStateValid"`
	LastReachedTenant *time.Time  `json:"lastReachedTenant"`
	Running           *runningRun `json:"running"`
	Runs              []runRecord `json:"runs"`
	// Drift is null before the first plan.
	Drift *driftView `json:"drift"`
}

type statusSettings struct {
	Dir                          string     `json:"dir"`
	Tenant                       TenantInfo `json:"tenant"`
	Mode                         Mode       `json:"mode"`
	Schedule                     string     `json:"schedule"`
	ScheduleIntervalSeconds      float64    `json:"scheduleIntervalSeconds"`
	Watch                        bool       `json:"watch"`
	DebounceSeconds              float64    `json:"debounceSeconds"`
	Listen                       string     `json:"listen"`
	LogFormat                    string     `json:"logFormat,omitempty"`
	ShutdownGraceSeconds         float64    `json:"shutdownGraceSeconds"`
	Prune                        bool       `json:"prune"`
	ManagedScope                 []string   `json:"managedScope"`
	MaxDeletes                   int        `json:"maxDeletes"`
	ReadSIM                      bool       `json:"readSIM"`
	SecretFilesOutsideDirAllowed bool       `json:"secretFilesOutsideDirAllowed"`
	Concurrency                  int        `json:"concurrency"`
	// StateDir is where the ledgers live; PruneUnownedByName says pruning ignores them.
	StateDir           string `json:"stateDir,omitempty"`
	PruneUnownedByName bool   `json:"pruneUnownedByName,omitempty"`
}

// Status returns the /status document.
func (d *Daemon) Status() any {
	d.mu.Lock()
	defer d.mu.Unlock()
	ready, why := d.readyLocked()
	scope := d.cfg.Policy.ManagedScope
	if scope == nil {
		scope = []string{}
	}
	st := status{
		FormatVersion: StatusFormatVersion,
		Version:       d.cfg.Version,
		Now:           d.clock.Now(),
		Started:       d.started,
		Ready:         ready,
		ReadyReason:   why,
		Settings: statusSettings{
			Dir: d.cfg.Dir, Tenant: d.cfg.Tenant, Mode: d.cfg.Mode, Schedule: d.cfg.Schedule,
			ScheduleIntervalSeconds: d.interval.Seconds(), Watch: d.cfg.Watch, DebounceSeconds: d.cfg.Debounce.Seconds(),
			Listen: d.cfg.Listen, LogFormat: d.cfg.LogFormat, ShutdownGraceSeconds: d.cfg.ShutdownGrace.Seconds(),
			Prune: d.cfg.Policy.Prune, ManagedScope: scope, MaxDeletes: d.cfg.Policy.MaxDeletes, ReadSIM: d.cfg.ReadSIM,
			SecretFilesOutsideDirAllowed: d.cfg.SecretFilesOutside, Concurrency: d.cfg.Concurrency,
			StateDir: d.cfg.StateDir, PruneUnownedByName: d.cfg.Policy.PruneUnownedByName,
		},
		DesiredStateValid: d.valid,
		Running:           d.running,
		Runs:              slices.Clone(d.history),
		Drift:             d.drift,
	}
	if st.Runs == nil {
		st.Runs = []runRecord{}
	}
	if !d.lastReached.IsZero() {
		t := d.lastReached
		st.LastReachedTenant = &t
	}
	return st
}

// Handler serves /metrics, /healthz, /readyz and /status.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	if d.metrics != nil {
		mux.Handle("GET /metrics", d.metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := d.Ready()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: "+why)
			return
		}
		fmt.Fprintln(w, "ready: "+why)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d.Status()); err != nil {
			http.Error(w, "encode the status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "sdim-sync serve: /metrics /healthz /readyz /status")
	})
	return mux
}
