package yamlsubset

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// BenchmarkParse parses one text of 100 documents, the examples of configs/examples
// (three integrations and the status check, with their comments) 25 times over, with
// this parser and with yaml.v3. One op is the whole text; the trees are walked and
// dropped, as the loader does.
func BenchmarkParse(b *testing.B) {
	names, err := filepath.Glob(filepath.Join("..", "..", "configs", "examples", "*.yaml"))
	if err != nil || len(names) != 4 {
		b.Fatalf("want the 4 examples: %v %v", names, err)
	}
	var sb strings.Builder
	for range 25 {
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				b.Fatal(err)
			}
			sb.WriteString("---\n")
			sb.Write(data)
		}
	}
	src := sb.String()
	b.Run("yamlsubset", func(b *testing.B) {
		benchDocs(b, len(src), func() func() error {
			p := NewParser(src)
			return func() error { _, err := p.Next(); return err }
		})
	})
	b.Run("yaml.v3", func(b *testing.B) {
		benchDocs(b, len(src), func() func() error {
			dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
			return func() error {
				var doc yaml.Node
				return dec.Decode(&doc)
			}
		})
	})
}

// benchDocs parses the 100 documents of a text of size bytes again and again: start
// begins the text and returns the function that parses the next document.
func benchDocs(b *testing.B, size int, start func() func() error) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		next, docs := start(), 0
		for {
			err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			docs++
		}
		if docs != 100 {
			b.Fatalf("%d documents", docs)
		}
	}
}
