// Package export writes a tenant's live integrations in the desired-state format, so that
// a tenant whose integrations were made by hand can be brought under management: one
// file per object (Options.Dir) or one file or stream of documents, read page by page so
// that memory stays bounded whatever the size of the tenant, and written so that a plan
// of the export against the same tenant has nothing to do.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// Source is what an export reads: *tenant.Client (read-only) is one.
type Source interface {
	ServiceDeskPages(ctx context.Context, opts tenant.ListOptions, fn func(page []sdim.ServiceDeskIntegration) error) error
	GetStatusCheck(ctx context.Context) (*sdim.StatusCheckConfiguration, error)
	ListSIM(ctx context.Context) ([]sdim.SIMIntegration, error)
	ListTypes(ctx context.Context) ([]sdim.IntegrationType, error)
	GetTemplate(ctx context.Context, scriptName string) (*sdim.Template, error)
}

// Options say what to export and where.
type Options struct {
	// Dir, when set, receives one file per object (see Slug and KindDir). It is created
	// when missing; an existing file in it is never replaced unless Force.
	Dir string
	// Out, when set (and Dir is not), receives every document in one file, replaced
	// whole at the end. It is refused when it would be larger than MaxFileSize.
	Out string
	// W receives every document when neither Dir nor Out is set.
	W io.Writer
	// Force lets Dir's existing files be overwritten.
	Force bool
	// SIM also exports the SIM integrations.
	SIM bool
	// Match, when not nil, chooses the objects exported by kind and name.
	Match func(kind sdim.Kind, name string) bool
	// SecretKeys are the attribute keys the tenant never returns (default
	// sdim.DefaultSecretAttributeKeys). Their values are never written, nor those under
	// SecretLookingKeys, nor credential-looking values (see CredentialLooking).
	SecretKeys []string
	// Secrets are values the export never writes, in any text or number that holds one:
	// those a desired state resolves from secret references (DesiredSecrets).
	Secrets []sdim.Secret
	// MaxFileSize is the largest file written (default desired.DefaultMaxFileSize).
	MaxFileSize int64
	// Header is a comment at the top of a single-file export (lines without "# ").
	Header []string
	// Warn receives warnings (names the loader refuses, left-over files, retries).
	Warn func(string)
}

// Summary counts what an export wrote.
type Summary struct {
	ServiceDesk int
	SIM         int
	StatusCheck bool
	Skipped     int // objects Match left out
	Restarts    int // listings that moved and were read again
}

// attempts is how many times a listing that moves is read, in all.
const attempts = 3

// Run exports the tenant that src reads. Nothing is written to the destination unless
// the whole export succeeds; a listing that changes while it is read is read again.
func Run(ctx context.Context, src Source, o Options) (*Summary, error) {
	if o.Dir != "" && o.Out != "" {
		return nil, errors.New("--dir and --out exclude each other: choose one")
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = desired.DefaultMaxFileSize
	}
	if o.SecretKeys == nil {
		o.SecretKeys = sdim.DefaultSecretAttributeKeys()
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	if o.W == nil {
		o.W = io.Discard
	}
	var s sink
	var err error
	if o.Dir != "" {
		s, err = newDirSink(o.Dir, o.Force, o.MaxFileSize, o.Warn)
	} else {
		s, err = newFileSink(o.Out, o.W, header(o.Header), o.MaxFileSize, o.Warn)
	}
	if err != nil {
		return nil, err
	}
	defer s.abort()
	keys := sdim.NewSecretKeySet(o.SecretKeys)
	e := &exporter{src: src, o: o, sink: s, r: &renderer{secretKeys: keys, filter: &secretFilter{keys: keys, secrets: o.Secrets}}}
	for attempt := 1; ; attempt++ {
		err := e.once(ctx)
		if err == nil {
			break
		}
		if !tenant.IsListMoved(err) || attempt == attempts {
			return nil, err
		}
		o.Warn(fmt.Sprintf("%v: exporting again from the start", err))
		e.sum.Restarts++
		if err := s.reset(); err != nil {
			return nil, err
		}
	}
	for _, w := range e.warnings {
		o.Warn(w)
	}
	if err := s.finish(); err != nil {
		return nil, err
	}
	return &e.sum, nil
}

func header(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("# " + l + "\n")
	}
	return b.String()
}

type exporter struct {
	src      Source
	o        Options
	sink     sink
	r        *renderer
	sum      Summary
	warnings []string

	types     []sdim.IntegrationType
	typesRead bool
	templates map[string]*typeSecrets
}

type typeSecrets struct {
	keys  []string
	known bool
}

func (e *exporter) match(k sdim.Kind, name string) bool {
	if e.o.Match == nil || e.o.Match(k, name) {
		return true
	}
	e.sum.Skipped++
	return false
}

// once runs one export from the start.
func (e *exporter) once(ctx context.Context) error {
	restarts := e.sum.Restarts
	e.sum, e.warnings = Summary{Restarts: restarts}, nil
	err := e.src.ServiceDeskPages(ctx, tenant.ListOptions{}, func(page []sdim.ServiceDeskIntegration) error {
		for i := range page {
			o := &page[i]
			if !e.match(sdim.KindServiceDesk, o.Name) {
				continue
			}
			if o.Name != strings.TrimSpace(o.Name) {
				e.warnings = append(e.warnings, fmt.Sprintf("the name %q starts or ends with spaces, which the desired-state format refuses: rename the integration in the tenant, or fix the name in the export (then it plans as a rename with options.previousNames)", o.Name))
			}
			ts := e.secretsOf(ctx, o.Type)
			doc, err := e.r.serviceDesk(*o, ts.keys, ts.known)
			if err != nil {
				return fmt.Errorf("export %q: %w", o.Name, err)
			}
			if err := e.sink.put(sdim.KindServiceDesk, o.Name, doc); err != nil {
				return err
			}
			e.sum.ServiceDesk++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if e.match(sdim.KindStatusCheck, "") {
		sc, err := e.src.GetStatusCheck(ctx)
		if err != nil {
			return err
		}
		doc, err := e.r.statusCheck(*sc)
		if err != nil {
			return fmt.Errorf("export the status-check configuration: %w", err)
		}
		if err := e.sink.put(sdim.KindStatusCheck, "", doc); err != nil {
			return err
		}
		e.sum.StatusCheck = true
	}
	if !e.o.SIM {
		return nil
	}
	sims, err := e.src.ListSIM(ctx)
	if err != nil {
		return err
	}
	for _, o := range sims {
		if !e.match(sdim.KindSIM, o.Name) {
			continue
		}
		doc, err := e.r.sim(o)
		if err != nil {
			return fmt.Errorf("export SIM %q: %w", o.Name, err)
		}
		if err := e.sink.put(sdim.KindSIM, o.Name, doc); err != nil {
			return err
		}
		e.sum.SIM++
	}
	return nil
}

// secretsOf returns the secret keys the template of an integration type declares, read
// once per type (and the list of types once per export). A type the tenant does not list,
// or whose template cannot be read, is unknown: its comment speaks in general terms.
func (e *exporter) secretsOf(ctx context.Context, typ string) *typeSecrets {
	if ts, ok := e.templates[typ]; ok {
		return ts
	}
	if e.templates == nil {
		e.templates = map[string]*typeSecrets{}
	}
	ts := &typeSecrets{}
	e.templates[typ] = ts
	if !e.typesRead {
		e.typesRead = true
		var err error
		if e.types, err = e.src.ListTypes(ctx); err != nil {
			e.o.Warn(fmt.Sprintf("could not list the integration types (%v): the comments about hidden secrets stay general", err))
		}
	}
	for _, it := range e.types {
		if it.Type != typ || it.ScriptName == "" {
			continue
		}
		t, err := e.src.GetTemplate(ctx, it.ScriptName)
		if err != nil {
			e.o.Warn(fmt.Sprintf("could not read the template of type %q (%v): its comments about hidden secrets stay general", typ, err))
			break
		}
		ts.keys = planner.TemplateSecretKeys(t, e.r.secretKeys)
		ts.known = true
		break
	}
	return ts
}
