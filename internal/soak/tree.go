// Package soak holds the fault soak of the daemon: the real `sdim-sync serve` binary in
// enforce mode against an emulated tenant that injects 5xx answers, lost write answers,
// dropped connections, latency, 429 storms and 2-second tokens, while random edits land
// in its desired directory. After each quiet period the test checks that the tenant is
// exactly the desired state, that nothing was duplicated or recreated, that no secret
// reached the logs, /metrics or /status, and that the metrics agree with the tenant.
//
// The soak itself is soak_test.go, with the daemon process in daemon_test.go (go test
// ./internal/soak/; scripts/soak.sh for a long run; docs/reliability.md for the fault
// matrix and figures). This file is the desired tree it edits, fault.go the fault matrix
// and check.go the checks that need no process.
package soak

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Scope is the name glob the soak's daemon prunes in; every object the soak declares is
// named inside it, and the out-of-scope object it seeds in the tenant is not.
const Scope = "Soak *"

// IntegrationType is the type of every soak integration. Its template (in the emulator)
// declares two secrets, password and clientSecret, and the soak declares both, so no put
// is refused for clearing a secret.
const IntegrationType = "BMCHelixRemedyforceSDIM"

// EnvSecrets is the number of environment variables (SOAK_ENV_SECRET_0...) holding
// planted passwords; each object references one of them.
const EnvSecrets = 4

// PlantedPrefix starts every planted secret value; none of the soak's names, descriptions
// or other values contains it, so finding it anywhere in the daemon's output is a leak.
const PlantedPrefix = "soak-planted-"

// Object is one declared integration: one YAML file (named by its slug, which never
// changes) and one secret file.
type Object struct {
	Slug          string
	Name          string
	PreviousNames []string
	Description   string
	EnvVar        string // the variable its password references
	FileSecret    string // the content of its secret file: its clientSecret
}

// Edit kinds.
const (
	EditCreate = "create"
	EditUpdate = "update"
	EditRename = "rename"
	EditDelete = "delete"
)

// Tree is the desired directory the soak edits, and its model.
type Tree struct {
	Dir     string
	Env     map[string]string // SOAK_ENV_SECRET_i -> planted value
	objects map[string]*Object
	rng     *mrand.Rand
	next    int // counter of slugs and names: names are never reused
	round   int
	edits   int
	// Planted holds every planted value ever written (env and files), for the leak check.
	Planted []string
	// EditCounts counts the edits made by kind.
	EditCounts map[string]int
}

// NewTree makes a desired tree in dir (which must exist) with a random generator seeded
// by seed. It writes nothing until Create.
func NewTree(dir string, seed uint64) *Tree {
	t := &Tree{
		Dir:        dir,
		Env:        map[string]string{},
		objects:    map[string]*Object{},
		rng:        mrand.New(mrand.NewPCG(seed, seed^0x5eed50a4)),
		EditCounts: map[string]int{},
	}
	for i := range EnvSecrets {
		v := PlantedPrefix + "env-" + randomHex(8)
		t.Env[fmt.Sprintf("SOAK_ENV_SECRET_%d", i)] = v
		t.Planted = append(t.Planted, v)
	}
	return t
}

// randomHex is a random value from the system's generator: planted secrets must not be
// guessable from the seed printed in the log.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Environ is the environment entries (NAME=value) of the planted passwords.
func (t *Tree) Environ() []string {
	var out []string
	for k, v := range t.Env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// SetRound labels the descriptions written from now on.
func (t *Tree) SetRound(r int) { t.round = r }

// Rand is the tree's generator, shared with the fault draws so that one seed repeats a soak.
func (t *Tree) Rand() *mrand.Rand { return t.rng }

// Declared returns the objects the files declare, by current name.
func (t *Tree) Declared() map[string]*Object {
	out := make(map[string]*Object, len(t.objects))
	for _, o := range t.objects {
		out[o.Name] = o
	}
	return out
}

// Len is the number of declared objects.
func (t *Tree) Len() int { return len(t.objects) }

func (t *Tree) newName() string {
	t.next++
	return fmt.Sprintf("Soak %04d", t.next)
}

func (t *Tree) description(kind string) string {
	t.edits++
	return fmt.Sprintf("Round %d, edit %d (%s)", t.round, t.edits, kind)
}

func (t *Tree) yamlPath(o *Object) string   { return filepath.Join(t.Dir, o.Slug+".yaml") }
func (t *Tree) secretPath(o *Object) string { return filepath.Join(t.Dir, "secrets", o.Slug+".secret") }

// Document is the YAML a file declares for o.
func Document(o *Object) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind: ServiceDeskIntegration\nname: %s\nspec:\n", o.Name)
	fmt.Fprintf(&b, "  description: %s\n  type: %s\n  attributes:\n", o.Description, IntegrationType)
	fmt.Fprintf(&b, "    url: https://soak.example.com/%s\n    username: svc-soak\n    clientId: %s\n", o.Slug, o.Slug)
	fmt.Fprintf(&b, "    password: ${env:%s}\n    clientSecret: ${file:secrets/%s.secret}\n", o.EnvVar, o.Slug)
	if len(o.PreviousNames) > 0 {
		fmt.Fprintf(&b, "options:\n  previousNames: [%s]\n", strings.Join(o.PreviousNames, ", "))
	}
	return b.String()
}

// writeFile writes as editors and `kubectl cp` do: mostly a hidden temporary file renamed
// over the old one, sometimes in place (the daemon may then read a half-written file, fail
// that load and catch up on the next event).
func (t *Tree) writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if t.rng.IntN(4) == 0 {
		return os.WriteFile(path, []byte(content), 0o600)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Create declares a new object: its secret file first, then its YAML file.
func (t *Tree) Create() (string, error) {
	t.next++
	o := &Object{
		Slug:       fmt.Sprintf("obj-%04d", t.next),
		EnvVar:     fmt.Sprintf("SOAK_ENV_SECRET_%d", t.rng.IntN(EnvSecrets)),
		FileSecret: PlantedPrefix + "file-" + randomHex(8),
	}
	o.Name = t.newName()
	o.Description = t.description(EditCreate)
	t.Planted = append(t.Planted, o.FileSecret)
	if err := t.writeFile(t.secretPath(o), o.FileSecret+"\n"); err != nil {
		return "", err
	}
	if err := t.writeFile(t.yamlPath(o), Document(o)); err != nil {
		return "", err
	}
	t.objects[o.Slug] = o
	t.EditCounts[EditCreate]++
	return fmt.Sprintf("create %q", o.Name), nil
}

// pick returns a random declared object, or nil.
func (t *Tree) pick() *Object {
	if len(t.objects) == 0 {
		return nil
	}
	slugs := make([]string, 0, len(t.objects))
	for s := range t.objects {
		slugs = append(slugs, s)
	}
	slices.Sort(slugs)
	return t.objects[slugs[t.rng.IntN(len(slugs))]]
}

// Update changes an object's description.
func (t *Tree) Update() (string, error) {
	o := t.pick()
	if o == nil {
		return t.Create()
	}
	o.Description = t.description(EditUpdate)
	t.EditCounts[EditUpdate]++
	return fmt.Sprintf("update %q", o.Name), t.writeFile(t.yamlPath(o), Document(o))
}

// Rename gives an object a new name, listing every name it had in options.previousNames;
// half the time its description changes in the same edit.
func (t *Tree) Rename() (string, error) {
	o := t.pick()
	if o == nil {
		return t.Create()
	}
	old := o.Name
	o.PreviousNames = append(o.PreviousNames, old)
	o.Name = t.newName()
	if t.rng.IntN(2) == 0 {
		o.Description = t.description(EditRename)
	}
	t.EditCounts[EditRename]++
	return fmt.Sprintf("rename %q to %q", old, o.Name), t.writeFile(t.yamlPath(o), Document(o))
}

// Delete removes an object's YAML file, then its secret file.
func (t *Tree) Delete() (string, error) {
	o := t.pick()
	if o == nil {
		return t.Create()
	}
	if err := os.Remove(t.yamlPath(o)); err != nil {
		return "", err
	}
	delete(t.objects, o.Slug)
	t.EditCounts[EditDelete]++
	return fmt.Sprintf("delete %q", o.Name), os.Remove(t.secretPath(o))
}

// Edit makes one edit of a kind (EditCreate...).
func (t *Tree) Edit(kind string) (string, error) {
	switch kind {
	case EditCreate:
		return t.Create()
	case EditUpdate:
		return t.Update()
	case EditRename:
		return t.Rename()
	case EditDelete:
		return t.Delete()
	}
	return "", fmt.Errorf("no edit kind %q", kind)
}

// EditKinds are the kinds of edit, in the order rounds force them.
var EditKinds = []string{EditDelete, EditRename, EditCreate, EditUpdate}

// ResetEditCounts forgets the edits made so far (the initial tree is not an edit).
func (t *Tree) ResetEditCounts() { t.EditCounts = map[string]int{} }

// RandomEdit makes one edit: the population drifts between min and max objects.
func (t *Tree) RandomEdit(minObjects, maxObjects int) (string, error) {
	n := len(t.objects)
	switch r := t.rng.IntN(10); {
	case n < minObjects || (r < 3 && n < maxObjects):
		return t.Create()
	case r < 6:
		return t.Update()
	case r < 8 || n <= minObjects:
		return t.Rename()
	default:
		return t.Delete()
	}
}
