package yamlsubset

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse holds the parser to yaml.v3 on any text: where it reads a text, it must give
// yaml.v3's trees (and yaml.v3 must read the text too); elsewhere it gives up with
// ErrUnsupported, never with another error or a panic.
func FuzzParse(f *testing.F) {
	for _, src := range append(append([]string{}, inSubset...), outside...) {
		f.Add(src)
	}
	// The desired package's test files: what users and export write.
	files, _ := filepath.Glob(filepath.Join("..", "desired", "testdata", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "desired", "testdata", "*", "*", "*.yaml"))
	for _, name := range append(files, more...) {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(string(data))
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		compare(t, src)
	})
}
