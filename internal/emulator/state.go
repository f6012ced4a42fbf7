package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// State is every object of the tenant, secrets included: the format of the state file, of
// seed files and of GET /_emulator/state. Objects are in the API's own JSON shape; id,
// created and modified are kept when present and made when not.
type State struct {
	FormatVersion            int              `json:"formatVersion" yaml:"formatVersion"`
	ServiceDeskIntegrations  []map[string]any `json:"serviceDeskIntegrations" yaml:"serviceDeskIntegrations"`
	SIMIntegrations          []map[string]any `json:"simIntegrations" yaml:"simIntegrations"`
	StatusCheckConfiguration *StatusCheck     `json:"statusCheckConfiguration,omitempty" yaml:"statusCheckConfiguration,omitempty"`
}

// StateFormatVersion is the version of State this emulator writes and reads.
const StateFormatVersion = 1

// State returns a copy of every object, secrets included, in creation order.
func (e *Emulator) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := State{FormatVersion: StateFormatVersion, ServiceDeskIntegrations: []map[string]any{}, SIMIntegrations: []map[string]any{}}
	for _, o := range e.sdim.order {
		s.ServiceDeskIntegrations = append(s.ServiceDeskIntegrations, o.full())
	}
	for _, o := range e.sim.order {
		s.SIMIntegrations = append(s.SIMIntegrations, o.full())
	}
	sc := e.statusCheck
	s.StatusCheckConfiguration = &sc
	return s
}

// Seed adds the objects of s to the tenant, validated as the API validates a create. The
// first invalid object stops the seeding with an error naming it; the ones before stay.
func (e *Emulator) Seed(s State) error {
	if s.FormatVersion != 0 && s.FormatVersion != StateFormatVersion {
		return fmt.Errorf("formatVersion %d is not supported (this emulator reads %d)", s.FormatVersion, StateFormatVersion)
	}
	for _, group := range []struct {
		field string
		ops   kindOps
		objs  []map[string]any
	}{
		{"serviceDeskIntegrations", sdimOps, s.ServiceDeskIntegrations},
		{"simIntegrations", simOps, s.SIMIntegrations},
	} {
		for i, raw := range group.objs {
			if err := e.seedOne(group.ops, raw); err != nil {
				name, _ := raw["name"].(string)
				return fmt.Errorf("%s[%d] (%q): %w", group.field, i, name, err)
			}
		}
	}
	if sc := s.StatusCheckConfiguration; sc != nil {
		if err := sc.validate(); err != nil {
			return fmt.Errorf("statusCheckConfiguration: %s", err.text)
		}
		e.mu.Lock()
		e.statusCheck = *sc
		e.mu.Unlock()
	}
	return nil
}

func (e *Emulator) seedOne(k kindOps, raw map[string]any) error {
	// Round-trip through JSON so that YAML-decoded and Go-built values look like request bodies.
	b, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("not a JSON-shaped object (are all keys strings?): %w", err)
	}
	v, err := decodeJSON(b)
	if err != nil {
		return err
	}
	raw = v.(map[string]any) // it was marshalled from a map
	var meta seedMeta
	if v, ok := raw["id"]; ok && v != nil {
		if meta.id, ok = v.(string); !ok || meta.id == "" {
			return fmt.Errorf("'id' must be a non-empty string, not %v (quote it in YAML)", v)
		}
	}
	for field, dst := range map[string]*time.Time{"created": &meta.created, "modified": &meta.modified} {
		if s, ok := raw[field].(string); ok && s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return fmt.Errorf("'%s': %w", field, err)
			}
			*dst = t
		}
	}
	if _, aerr := e.insert(k, raw, &meta); aerr != nil {
		return errors.New(aerr.text)
	}
	return nil
}

// LoadStateFile reads a State from a JSON or YAML file.
func LoadStateFile(path string) (State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, err
	}
	var s State
	if json.Valid(b) {
		// JSON (what the emulator writes) keeps every number exactly, an integer beyond
		// 64 bits included; YAML would read it as a float64.
		// (A JSON file Go's types refuse, such as a status check written as numbers, is read
		// as YAML below.)
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&s); err == nil {
			return s, nil
		}
		s = State{}
	}
	if err := yaml.Unmarshal(b, &s); err != nil { // YAML is a superset of JSON
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// SeedFile seeds the tenant from a JSON or YAML State file.
func (e *Emulator) SeedFile(path string) error {
	s, err := LoadStateFile(path)
	if err == nil {
		err = e.Seed(s)
	}
	if err != nil {
		return fmt.Errorf("seed %s: %w", path, err)
	}
	return nil
}

// Generate creates n service desk integrations named "Generated Integration 00001" and
// on, cycling through the fixture types, with owner, cluster, managed sources and a
// password attribute. Names already taken are skipped over, so Generate can be called again.
func (e *Emulator) Generate(n int) error {
	fs := fixtures()
	made := 0
	for i := 1; made < n; i++ {
		name := fmt.Sprintf("Generated Integration %05d", i)
		e.mu.Lock()
		taken := e.sdim.nameTaken(name, "")
		e.mu.Unlock()
		if taken {
			continue
		}
		f := fs[i%len(fs)]
		raw := map[string]any{
			"name":        name,
			"description": fmt.Sprintf("Generated %s integration number %d", f.Name, i),
			"type":        f.Type,
			"ownerRef":    map[string]any{"type": "IDENTITY", "id": fmt.Sprintf("2c9180a46faadee4016fb4e0%08x", i)},
			"clusterRef":  map[string]any{"type": "CLUSTER", "id": fmt.Sprintf("2c9180847a7fccdd017aa589%08x", i%4)},
			"provisioningConfig": map[string]any{
				"managedResourceRefs": []any{
					map[string]any{"type": "SOURCE", "id": fmt.Sprintf("2c9180855d191c59015d291c%08x", i)},
					map[string]any{"type": "SOURCE", "id": fmt.Sprintf("2c9180855d191c59015d291d%08x", i)},
				},
				"provisioningRequestExpiration": 7,
			},
			"attributes": map[string]any{
				"url":      fmt.Sprintf("https://tenant%d.example.com", i),
				"username": "svc-sailpoint",
				"password": fmt.Sprintf("generated-password-%d", i),
				"timeout":  30,
			},
		}
		if err := e.seedOne(sdimOps, raw); err != nil {
			return fmt.Errorf("generate %q: %w", name, err)
		}
		made++
	}
	return nil
}

// persister saves the state file after writes, at most every flushEvery, and on close.
type persister struct {
	e    *Emulator
	path string
	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	lastErr error
}

const flushEvery = 100 * time.Millisecond

func newPersister(e *Emulator, path string) (*persister, error) {
	if _, err := os.Stat(path); err == nil {
		s, err := LoadStateFile(path)
		if err == nil {
			err = e.Seed(s)
		}
		if err != nil {
			return nil, fmt.Errorf("emulator: loading state file %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("emulator: state file: %w", err)
	}
	p := &persister{e: e, path: path, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

func (p *persister) changed() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *persister) loop() {
	defer close(p.done)
	for {
		select {
		case <-p.kick:
			p.save()
			select {
			case <-time.After(flushEvery):
			case <-p.stop:
				return
			}
		case <-p.stop:
			return
		}
	}
}

func (p *persister) save() {
	err := writeFileAtomic(p.path, mustJSON(p.e.State()))
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
	if err != nil {
		p.e.log.Error("saving the emulator state", "path", p.path, "error", err)
	}
}

func (p *persister) close() error {
	close(p.stop)
	<-p.done
	p.save()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastErr != nil {
		return fmt.Errorf("emulator: saving state file %s: %w", p.path, p.lastErr)
	}
	return nil
}

// writeFileAtomic writes through a temporary file and a rename, readable by the owner
// only: the state holds the secrets the API hides.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
