package desired

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sdim-sync/sdim-sync/internal/yamlsubset"
)

// withGeneralOnly reads every file with yaml.v3 alone.
func withGeneralOnly() Option { return func(c *config) { c.generalOnly = true } }

// sameLoad fails the test unless loading dir with the subset parser and with yaml.v3
// alone gives equal States (secrets compared by value) or equal problems.
func sameLoad(t *testing.T, dir string, opts ...Option) {
	t.Helper()
	fast, ferr := Load(dir, opts...)
	general, gerr := Load(dir, append(opts, withGeneralOnly())...)
	if (ferr == nil) != (gerr == nil) {
		t.Fatalf("with the subset parser: %v; with yaml.v3 alone: %v", ferr, gerr)
	}
	if ferr != nil {
		if ferr.Error() != gerr.Error() {
			t.Fatalf("problems differ\nwith the subset parser:\n%v\nwith yaml.v3 alone:\n%v", ferr, gerr)
		}
		return
	}
	// DeepEqual follows the secrets' pointers, so their values are compared too.
	if reflect.DeepEqual(general, fast) {
		return
	}
	for i := range min(len(general.ServiceDesk), len(fast.ServiceDesk)) {
		if !reflect.DeepEqual(general.ServiceDesk[i], fast.ServiceDesk[i]) {
			t.Fatalf("%s differs: with yaml.v3 alone %+v, with the subset parser %+v", general.ServiceDesk[i].Source, general.ServiceDesk[i], fast.ServiceDesk[i])
		}
	}
	t.Fatalf("States differ: with yaml.v3 alone %+v, with the subset parser %+v", general, fast)
}

// TestSubsetParserAgrees loads the examples and every case of the bad corpus both ways.
func TestSubsetParserAgrees(t *testing.T) {
	for _, dir := range append([]string{examplesDir}, corpusCases(t)...) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			env := corpusEnv()
			if dir == examplesDir {
				env = testEnv(exampleSecrets())
			}
			sameLoad(t, withSetup(t, dir), env, WithMaxFileSize(16<<10))
		})
	}
}

// TestExamplesAreInTheSubset: the files the docs show, like those export writes, are read
// without yaml.v3's node trees (a change that pushed them out would cost every load).
func TestExamplesAreInTheSubset(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		p := yamlsubset.NewParser(string(data))
		for {
			if _, err = p.Next(); err != nil {
				break
			}
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
