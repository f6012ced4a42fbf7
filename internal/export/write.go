package export

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// sink receives the rendered documents of one export. Nothing reaches the destination
// before finish: a listing that moves (reset) or an error (abort) leaves it untouched.
type sink interface {
	put(kind sdim.Kind, name string, doc []byte) error
	reset() error
	finish() error
	abort()
}

// dirSink writes one file per object into a temporary directory beside the destination
// and moves the files into place at the end.
type dirSink struct {
	out, tmp string
	shown    string // out as given, for messages
	force    bool
	max      int64
	namers   map[sdim.Kind]*namer
	files    map[string]bool // slash-separated paths relative to the directory
	bytes    int64
	warn     func(string)
}

func newDirSink(out string, force bool, max int64, warn func(string)) (*dirSink, error) {
	if fi, err := os.Stat(out); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("--dir %s: not a directory", out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--dir %s: %w", out, err)
	}
	shown := out
	out, err := filepath.Abs(out)
	if err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("--dir %s: %w", out, err)
	}
	s := &dirSink{out: out, shown: shown, force: force, max: max, warn: warn}
	if err := s.reset(); err != nil {
		return nil, err
	}
	return s, nil
}

// reset starts over with an empty temporary directory, beside the destination so that
// the final renames stay on one file system, and hidden so that a loader reading the
// parent never sees it.
func (s *dirSink) reset() error {
	if s.tmp != "" {
		if err := os.RemoveAll(s.tmp); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(s.out), "."+filepath.Base(s.out)+".export-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	s.tmp = tmp
	s.namers = map[sdim.Kind]*namer{}
	s.files = map[string]bool{}
	s.bytes = 0
	return nil
}

func (s *dirSink) put(kind sdim.Kind, name string, doc []byte) error {
	var rel string
	if kind == sdim.KindStatusCheck {
		rel = StatusCheckFile
	} else {
		n := s.namers[kind]
		if n == nil {
			n = newNamer(KindDir(kind))
			s.namers[kind] = n
			if err := os.MkdirAll(filepath.Join(s.tmp, filepath.FromSlash(n.dir)), 0o755); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		var mv *rename
		rel, mv = n.name(name)
		if mv != nil {
			if err := os.Rename(s.local(mv.from), s.local(mv.to)); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			delete(s.files, mv.from)
			s.files[mv.to] = true
		}
	}
	if int64(len(doc)) > s.max {
		return fmt.Errorf("export %s %q: its document is %d bytes, more than the %d the loader reads from one file", kind, name, len(doc), s.max)
	}
	if err := os.WriteFile(s.local(rel), doc, 0o644); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	s.files[rel] = true
	s.bytes += int64(len(doc))
	return nil
}

func (s *dirSink) local(rel string) string { return filepath.Join(s.tmp, filepath.FromSlash(rel)) }

// finish moves the files into the destination: the whole directory in one rename when
// it does not exist yet, file by file otherwise, after checking that none would replace
// an existing file (unless force).
func (s *dirSink) finish() error {
	defer s.abort()
	if _, err := os.Lstat(s.out); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(s.tmp, s.out); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		s.tmp = ""
		return nil
	}
	rels := make([]string, 0, len(s.files))
	for rel := range s.files {
		rels = append(rels, rel)
	}
	slices.Sort(rels)
	var exist []string
	for _, rel := range rels {
		if _, err := os.Lstat(filepath.Join(s.out, filepath.FromSlash(rel))); err == nil {
			exist = append(exist, rel)
		}
	}
	if len(exist) > 0 && !s.force {
		shown := exist[:min(len(exist), 5)]
		more := ""
		if len(exist) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(exist)-len(shown))
		}
		return fmt.Errorf("--dir %s: the export would overwrite %s (%s%s); nothing was written: export into a new or empty directory, or pass --force to overwrite them",
			s.shown, sdim.Count(len(exist), "existing file", "existing files"), strings.Join(shown, ", "), more)
	}
	for _, rel := range rels {
		dst := filepath.Join(s.out, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := os.Rename(s.local(rel), dst); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if s.force {
		s.warnStale()
	}
	return nil
}

// warnStale names the YAML files of the export's layout that this export did not
// write: objects no longer in the tenant, most likely. They are left in place.
func (s *dirSink) warnStale() {
	var stale []string
	for _, top := range []string{StatusCheckFile, KindDir(sdim.KindServiceDesk), KindDir(sdim.KindSIM)} {
		root := filepath.Join(s.out, top)
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(strings.ToLower(p), ".yaml") {
				return nil
			}
			rel, err := filepath.Rel(s.out, p)
			if err == nil && !s.files[filepath.ToSlash(rel)] {
				stale = append(stale, filepath.ToSlash(rel))
			}
			return nil
		})
	}
	if len(stale) == 0 {
		return
	}
	slices.Sort(stale)
	shown := stale[:min(len(stale), 5)]
	more := ""
	if len(stale) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(stale)-len(shown))
	}
	s.warn(fmt.Sprintf("%s in %s not written by this export and left as they are (%s%s): objects no longer in the tenant? Remove them, or plan will create those objects again",
		sdim.Count(len(stale), "file was", "files were"), s.shown, strings.Join(shown, ", "), more))
}

func (s *dirSink) abort() {
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
		s.tmp = ""
	}
}

// fileSink writes every document into one file: a temporary file renamed onto the
// destination at the end (--out), or copied to a writer (standard output). A file is
// refused once it grows beyond what the loader reads; a stream only gets a warning.
type fileSink struct {
	out    string    // the destination file, or ""
	w      io.Writer // the destination writer when out is ""
	header string
	max    int64
	warn   func(string)

	f     *os.File
	bw    *bufio.Writer
	bytes int64
	docs  int
}

func newFileSink(out string, w io.Writer, header string, max int64, warn func(string)) (*fileSink, error) {
	s := &fileSink{out: out, w: w, header: header, max: max, warn: warn}
	var err error
	if out != "" {
		s.f, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	} else {
		s.f, err = os.CreateTemp("", "sdim-sync-export-*.yaml")
	}
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	s.bw = bufio.NewWriterSize(s.f, 64<<10)
	if err := s.start(); err != nil {
		s.abort()
		return nil, err
	}
	return s, nil
}

func (s *fileSink) start() error {
	s.bytes, s.docs = 0, 0
	return s.write([]byte(s.header))
}

func (s *fileSink) write(b []byte) error {
	if _, err := s.bw.Write(b); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	s.bytes += int64(len(b))
	return nil
}

func (s *fileSink) put(kind sdim.Kind, name string, doc []byte) error {
	if s.docs > 0 {
		if err := s.write([]byte("---\n")); err != nil {
			return err
		}
	}
	s.docs++
	if err := s.write(doc); err != nil {
		return err
	}
	if s.out != "" && s.bytes > s.max {
		return fmt.Errorf("--out %s: the export is larger than %d bytes, the largest file the desired-state loader reads: use --dir DIR to write one file per object", s.out, s.max)
	}
	return nil
}

func (s *fileSink) reset() error {
	s.bw.Reset(s.f)
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return s.start()
}

func (s *fileSink) finish() error {
	defer s.abort()
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if s.out != "" {
		if err := s.f.Chmod(0o644); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := s.f.Close(); err != nil {
			return fmt.Errorf("export %s: %w", s.out, err)
		}
		if err := os.Rename(s.f.Name(), s.out); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		s.f = nil
		return nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := io.Copy(s.w, s.f); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if s.bytes > s.max {
		s.warn(fmt.Sprintf("the export is %d bytes, more than the %d the desired-state loader reads from one file: saved to one file it would not load; use --dir DIR to write one file per object", s.bytes, s.max))
	}
	return nil
}

func (s *fileSink) abort() {
	if s.f != nil {
		_ = s.f.Close()
		_ = os.Remove(s.f.Name())
		s.f = nil
	}
}
