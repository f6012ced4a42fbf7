package desired

import (
	"errors"
	"io"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/yamlsubset"
)

// decodeSubset decodes a file with yamlsubset, which builds no garbage node trees: most
// files people and export write are in its subset. Its nodes are reused from one
// document to the next, which the decoder allows: it keeps no node past its document
// (fileDecoder's maps keyed by node are for anchors, which the subset has none of). It
// reports false, dropping whatever it decoded, when the text leaves the subset (an
// anchor, a block scalar, a syntax error...); the caller then reads the file with yaml.v3,
// which decodes to the same resources and problems, or reports the syntax error.
func (l *loader) decodeSubset(f yamlFile, data string) (res fileResult, ok bool) {
	if l.cfg.generalOnly {
		return res, false
	}
	d := l.newFileDecoder(f, &res)
	p := yamlsubset.NewParser(data)
	for {
		doc, err := nextSubset(p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fileResult{}, false
		}
		d.envelope(doc)
	}
	d.finish()
	return res, true
}

// nextSubset guards against a panic in the parser: a mistake of its own must cost the
// speed of the general parser, never the daemon.
func nextSubset(p *yamlsubset.Parser) (doc *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, yamlsubset.ErrUnsupported
		}
	}()
	return p.Next()
}

func (l *loader) newFileDecoder(f yamlFile, res *fileResult) *fileDecoder {
	return &fileDecoder{l: l, file: f.rel, fileDir: filepath.Dir(f.path), res: res, sizes: map[*yaml.Node]int{}, bytes: map[*yaml.Node]int64{}}
}

// finish adds the count of the problems beyond the file's limit.
func (d *fileDecoder) finish() {
	if d.dropped > 0 {
		d.res.problems = append(d.res.problems, Problem{File: d.file, Line: d.lastLine, Column: d.lastCol, Msg: "and " + plural(d.dropped, "more problem", "more problems") + " in this file"})
	}
}
