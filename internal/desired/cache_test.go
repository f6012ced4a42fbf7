package desired

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

func TestCacheParsesOnlyWhatChanged(t *testing.T) {
	doc := func(name, ref string) string {
		return "kind: ServiceDeskIntegration\nname: " + name + "\nspec:\n  type: T\n  attributes: {url: x, password: '" + ref + "'}\n"
	}
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", doc("A", "${env:A_PW}"))
	write("b.yaml", doc("B", "${file:b-secret}"))
	write("c.yaml", doc("C", "${env:C_PW}"))
	write("b-secret", "first")
	env := map[string]string{"A_PW": "a1", "C_PW": "c1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cache := NewCache()
	load := func(opts ...Option) *State {
		t.Helper()
		st, err := Load(dir, append([]Option{WithCache(cache), WithLookupEnv(lookup)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	step := func(name string, change func(), wantHits, wantMisses int) *State {
		t.Helper()
		h0, m0 := cache.Stats()
		change()
		st := load()
		h, m := cache.Stats()
		if h-h0 != wantHits || m-m0 != wantMisses {
			t.Errorf("%s: %d hits, %d misses; want %d, %d", name, h-h0, m-m0, wantHits, wantMisses)
		}
		return st
	}
	step("cold", func() {}, 0, 3)
	step("unchanged", func() {}, 3, 0)
	st := step("one file edited", func() { write("a.yaml", doc("A2", "${env:A_PW}")) }, 2, 1)
	if st.ServiceDesk[0].Name != "A2" {
		t.Errorf("the edit is not loaded: %q", st.ServiceDesk[0].Name)
	}
	st = step("an environment value changed", func() { env["C_PW"] = "c2" }, 2, 1)
	if !secretIs(st, "C", "c2") {
		t.Error("the new environment value is not loaded")
	}
	st = step("a secret file changed", func() { write("b-secret", "second") }, 2, 1)
	if !secretIs(st, "B", "second") || len(st.SecretFiles) != 1 {
		t.Errorf("the new secret file value is not loaded (secret files %q)", st.SecretFiles)
	}
	step("a file deleted", func() {
		if err := os.Remove(filepath.Join(dir, "c.yaml")); err != nil {
			t.Fatal(err)
		}
	}, 2, 0)
	if cache.Len() != 2 {
		t.Errorf("the cache holds %d files after a delete, want 2", cache.Len())
	}
	h0, m0 := cache.Stats()
	load(WithSecretKeys([]string{"password", "url"}))
	if h, m := cache.Stats(); h != h0 || m-m0 != 2 {
		t.Errorf("other settings reused the cache: %d hits, %d misses", h-h0, m-m0)
	}
}

// secretIs reports whether the integration's password is a secret with the value want.
func secretIs(st *State, name, want string) bool {
	for _, r := range st.ServiceDesk {
		if r.Name == name {
			s, ok := r.Spec.Attributes["password"].(sdim.Secret)
			return ok && s.ContainedIn(want) && len(want) > 0
		}
	}
	return false
}
