package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// Load reads every *.yaml and *.yml file below dir (hidden files and directories, and
// editor leftovers, are skipped), each holding one or more documents, into a State.
// dir may also be a single regular file (of any name, since it was named on purpose), as
// kubectl's -f: then just that file is read, and its directory is the base and the
// boundary of ${file:...} references. When anything is wrong, it returns a *LoadError
// with every problem and no State. An error that is not about the files (dir does not
// exist, or is neither a directory nor a regular file) is returned as is, wrapped.
func Load(dir string, opts ...Option) (*State, error) {
	cfg := newConfig(opts)
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("desired state directory: %w", err)
	}
	base, single := dir, ""
	switch {
	case info.IsDir():
	case info.Mode().IsRegular():
		base, single = filepath.Dir(dir), dir
	default:
		return nil, fmt.Errorf("desired state directory %s: neither a directory nor a regular file", dir)
	}
	root, err := resolvedRoot(base)
	if err != nil {
		return nil, fmt.Errorf("desired state directory %s: %w", dir, err)
	}
	l := &loader{cfg: cfg, dir: base, root: root, mu: new(sync.Mutex), secretFiles: map[string]fileSecret{}, confKey: cfg.confKey(root)}
	var files []yamlFile
	var problems []Problem
	if single != "" {
		files = []yamlFile{{path: single, rel: l.rel(single)}}
	} else {
		files, problems = l.find()
	}
	results := l.decodeAll(files)
	if cfg.cache != nil {
		paths := make(map[string]bool, len(files))
		for _, f := range files {
			paths[f.path] = true
		}
		cfg.cache.retain(paths)
	}

	st := &State{Dir: dir, Files: len(files)}
	// The lists are counted first and allocated once: growing them by appending would
	// allocate about twice what they finally hold (a service desk integration is some 350
	// bytes). A kind no file declares stays nil.
	var nServiceDesk, nSIM, nAbsent int
	for _, r := range results {
		nServiceDesk += len(r.serviceDesk)
		nSIM += len(r.sim)
		nAbsent += len(r.absent)
	}
	if nServiceDesk > 0 {
		st.ServiceDesk = make([]ServiceDeskResource, 0, nServiceDesk)
	}
	if nSIM > 0 {
		st.SIM = make([]SIMResource, 0, nSIM)
	}
	if nAbsent > 0 {
		st.Absent = make([]Resource, 0, nAbsent)
	}
	for _, r := range results {
		problems = append(problems, r.problems...)
		for _, sd := range r.serviceDesk {
			st.ServiceDesk = append(st.ServiceDesk, *sd)
		}
		for _, sim := range r.sim {
			st.SIM = append(st.SIM, *sim)
		}
		st.Absent = append(st.Absent, r.absent...)
		for i := range r.statusChecks {
			sc := r.statusChecks[i]
			if st.StatusCheck != nil {
				problems = append(problems, problemAt(sc.Source, fmt.Sprintf(
					"a second StatusCheckConfiguration: one is already declared at %s; a tenant has only one, so keep one document",
					st.StatusCheck.Source)))
				continue
			}
			st.StatusCheck = &sc
		}
	}
	problems = append(problems, checkNames(st)...)
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &LoadError{Dir: dir, Problems: problems}
	}
	sortState(st)
	state := sha256.New()
	if len(files) > 0 {
		st.Paths = make([]string, 0, len(files))
	}
	for i, f := range files {
		st.Paths = append(st.Paths, f.rel)
		entry(state, "file", f.rel)
		entry(state, "content", results[i].content)
	}
	st.Digest = hex.EncodeToString(state.Sum(nil))
	for path := range l.secretFiles {
		st.SecretFiles = append(st.SecretFiles, path)
	}
	slices.Sort(st.SecretFiles)
	st.Inputs = inputsDigest(st.Digest, len(files), l.secretFiles)
	return st, nil
}

// resolvedRoot is dir's absolute path with symbolic links resolved: the boundary of the
// files Load reads (*.yaml links and ${file:...} references).
func resolvedRoot(dir string) (string, error) {
	root, err := filepath.Abs(dir)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	return root, err
}

type loader struct {
	cfg  config
	dir  string // as given (the file's directory when a single file is loaded)
	root string // absolute, symbolic links resolved: the boundary of ${file:...}

	// confKey names the settings of this load, for the Cache.
	confKey string

	// mu guards secretFiles. Both are shared by the copies of the loader the decode
	// workers use (see worker).
	mu          *sync.Mutex
	secretFiles map[string]fileSecret // by resolved path

	// interned is the table of keep, the decode worker's own.
	interned map[string]any
	// readBuf is the worker's buffer for reading files.
	readBuf []byte
}

// worker returns the loader a decode worker uses: a copy that shares all but the table
// of keep. One table shared by the workers needs a lock taken some 25 times for each
// integration, and the workers queued for it (a cold load of 10,000 integrations took
// about 250 ms instead of 170); with one each, a value is held once for each worker at
// most.
func (l *loader) worker() *loader {
	w := *l
	w.interned, w.readBuf = nil, nil
	return &w
}

// keep returns s as the State may hold it. A string the parser returns may point into
// the whole text of its file, which one such string in the State would keep alive: the
// first time the worker sees a value, keep puts a copy in its table, and returns that
// copy then and every time after, so that a value many documents repeat
// ("ServiceNowSDIM", "SOURCE", an owner's id, an attribute's key) is held once. The
// table lives as long as the Load, and holds at most maxInterned values.
func (l *loader) keep(s string) string {
	if s == "" {
		return ""
	}
	return l.keepAny(s).(string)
}

// keepAny is keep for a string held in an interface (a value of an attribute): the table
// holds each value in one, so that the values an interface holds share it too.
func (l *loader) keepAny(s string) any {
	if v, ok := l.interned[s]; ok {
		return v
	}
	c := strings.Clone(s)
	var v any = c
	if len(l.interned) < maxInterned {
		if l.interned == nil {
			l.interned = map[string]any{}
		}
		l.interned[c] = v // keyed by the copy: s may hold its whole file's text
	}
	return v
}

// maxInterned bounds a worker's table of keep. The values that repeat most (types,
// reference types, attribute keys) show up in the first documents, and the table is live
// heap for the whole load: unbounded, its tens of thousands of unique names and ids
// raised the peak of a cold load of 10,000 integrations from 23 to 32 MB, and a 4 MiB
// file of unique attributes peaked 35-50 MB higher. Past the bound a value is copied but
// not remembered, so a value first seen late (an owner's id) is held once per use.
const maxInterned = 1 << 10

type fileSecret struct {
	value string
	err   string
}

// yamlFile is one file to read: its path as opened and as shown.
type yamlFile struct {
	path string
	rel  string
}

// find lists the YAML files below the directory in lexical order.
func (l *loader) find() ([]yamlFile, []Problem) {
	var files []yamlFile
	var problems []Problem
	// WalkDir does not enter a root that is a symbolic link (a git-sync checkout, a
	// ConfigMap mount's path): a trailing separator makes it resolve the link.
	root := l.dir
	if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		root += string(filepath.Separator)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		rel := l.rel(path)
		if err != nil {
			if path == root {
				return err
			}
			problems = append(problems, Problem{File: rel, Msg: "cannot read: " + unwrapPath(err), Err: err})
			return nil
		}
		if path == root {
			return nil
		}
		name := d.Name()
		if skipName(name) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Stat(path)
			if err != nil {
				if isYAMLName(name) {
					problems = append(problems, Problem{File: rel, Msg: "broken symbolic link: " + unwrapPath(err), Err: err})
				}
				return nil
			}
			if target.IsDir() {
				problems = append(problems, Problem{File: rel, Msg: "a symbolic link to a directory: sdim-sync does not follow those; link the YAML files themselves, or move the directory here"})
				return nil
			}
			if !isYAMLName(name) {
				return nil
			}
			// A link may lead anywhere: only files inside the directory (its resolved path,
			// so that a checkout that is itself a link works) are desired state. A
			// Kubernetes ConfigMap's links into its ..data directory stay inside.
			if real, err := filepath.EvalSymlinks(path); err != nil || !within(l.root, real) {
				if err != nil {
					problems = append(problems, Problem{File: rel, Msg: "cannot resolve the symbolic link: " + unwrapPath(err), Err: err})
				} else {
					// The link as written, not where it resolves: the message stays the same
					// wherever the directory is checked out.
					to, _ := os.Readlink(path)
					problems = append(problems, Problem{File: rel, Msg: fmt.Sprintf("a symbolic link (to %s) that leads outside the desired directory: sdim-sync reads only files inside it; copy the file in, or link to one inside", to)})
				}
				return nil
			}
		}
		if !isYAMLName(name) {
			return nil
		}
		files = append(files, yamlFile{path: path, rel: rel})
		return nil
	})
	if err != nil {
		problems = append(problems, Problem{File: ".", Msg: "cannot read the directory: " + unwrapPath(err), Err: err})
	}
	return files, problems
}

// SkipName reports whether Load skips a file or directory of this name: hidden, or an
// editor leftover. The file watcher applies the same rule.
func SkipName(name string) bool { return skipName(name) }

// IsYAMLName reports whether Load reads a file of this name (*.yaml, *.yml).
func IsYAMLName(name string) bool { return isYAMLName(name) }

// skipName reports whether a file or directory is hidden or an editor leftover.
func skipName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".swo") ||
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#")
}

func isYAMLName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

func (l *loader) rel(path string) string {
	r, err := filepath.Rel(l.dir, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(r)
}

// unwrapPath drops the operation and path of an fs error: the problem names the file.
func unwrapPath(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// fileResult is what one file yields.
type fileResult struct {
	// content is the file's digest entry (its size and SHA-256), for State.Digest.
	content string
	// deps are the secret references the file resolved, for the Cache.
	deps     []dep
	problems []Problem
	// The integrations are held by pointer: how many a file holds is known only once it
	// is decoded, and a list of values grown by appending allocates about twice what it
	// ends with (an integration is some 350 bytes). Load copies them into the State's
	// lists, which it allocates once.
	serviceDesk  []*ServiceDeskResource
	sim          []*SIMResource
	statusChecks []StatusCheckResource
	absent       []Resource
}

// decodeAll decodes the files on up to GOMAXPROCS goroutines; the results keep file order.
func (l *loader) decodeAll(files []yamlFile) []fileResult {
	results := make([]fileResult, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files))
	if workers <= 1 {
		for i, f := range files {
			results[i] = l.decodeFile(f)
		}
		return results
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			w := l.worker()
			for i := range next {
				results[i] = w.decodeFile(files[i])
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func (l *loader) decodeFile(f yamlFile) fileResult {
	data, p := l.readFile(f)
	if p != nil {
		return fileResult{problems: []Problem{*p}}
	}
	content := contentEntry(data)
	c := l.cfg.cache
	if c != nil {
		if res, ok := c.get(f.path, content, l.confKey); ok && l.depsHold(f, res.deps) {
			c.count(true)
			return res
		}
		c.count(false)
	}
	res := l.decodeBytes(f, data)
	res.content = content
	if c != nil {
		c.put(f.path, content, l.confKey, res)
	}
	return res
}

// readFile reads a file as text: the parser's values are substrings of it, so it is read
// into its string at once rather than into bytes and copied.
func (l *loader) readFile(f yamlFile) (string, *Problem) {
	// openRegular never blocks: a FIFO, socket or device named *.yaml (or linked as one)
	// is refused with what it is, before or without opening it.
	fh, info, err := openRegular(f.path)
	if info != nil && err != nil {
		return "", &Problem{File: f.rel, Msg: err.Error() + ": a YAML file of the desired state must be a plain file", Err: err}
	}
	if err != nil {
		return "", &Problem{File: f.rel, Msg: "cannot read: " + unwrapPath(err), Err: err}
	}
	defer fh.Close()
	tooBig := func() *Problem {
		return &Problem{File: f.rel, Msg: fmt.Sprintf("the file is larger than the limit of %s: split it into several files", sizeText(l.cfg.maxFileSize))}
	}
	if info.Size() > l.cfg.maxFileSize {
		return "", tooBig()
	}
	if l.readBuf == nil {
		l.readBuf = make([]byte, 32<<10)
	}
	var text strings.Builder
	text.Grow(int(info.Size()) + 1) // one more byte: a file that grew since its stat is read too
	_, err = io.CopyBuffer(&text, io.LimitReader(fh, l.cfg.maxFileSize+1), l.readBuf)
	if err != nil {
		return "", &Problem{File: f.rel, Msg: "cannot read: " + unwrapPath(err), Err: err}
	}
	if int64(text.Len()) > l.cfg.maxFileSize {
		return "", tooBig()
	}
	return text.String(), nil
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// decodeBytes parses every document of one file and decodes its resources.
func (l *loader) decodeBytes(f yamlFile, data string) (res fileResult) {
	d := l.newFileDecoder(f, &res)
	if d.checkText(data) {
		return res // the parser would only say "invalid" without saying where
	}
	if res, ok := l.decodeSubset(f, data); ok {
		return res
	}
	dec := yaml.NewDecoder(strings.NewReader(data))
	for {
		var doc yaml.Node
		err := parseDocument(dec, &doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.syntaxError(err)
			break
		}
		d.envelope(&doc)
	}
	d.finish()
	return res
}

// checkText reports every line holding bytes that are not UTF-8, or a control character
// YAML does not allow in a file (anything below U+0020 but tab, LF and CR; DEL; the C1
// controls but NEL; U+FFFE and U+FFFF), each once, at its line and column (in
// characters, as the parser counts). It reports whether there was any. A file in UTF-16
// (with its byte order mark) is left to the parser, which reads it.
func (d *fileDecoder) checkText(data string) bool {
	if strings.HasPrefix(data, "\xFE\xFF") || strings.HasPrefix(data, "\xFF\xFE") {
		return false
	}
	found := false
	line, col, reported := 1, 1, 0
	for i := 0; i < len(data); {
		c := data[i]
		if c >= 0x20 && c < 0x7F || c == '\t' || c == '\r' {
			i++
			col++
			continue
		}
		if c == '\n' {
			i++
			line, col = line+1, 1
			continue
		}
		r, size := utf8.DecodeRuneInString(data[i:])
		msg := ""
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = fmt.Sprintf("the file is not valid UTF-8 here (byte 0x%02X): save it as UTF-8", c)
		case r < 0x20 || r == 0x7F || r >= 0x80 && r <= 0x9F && r != 0x85 || r == 0xFFFE || r == 0xFFFF:
			msg = fmt.Sprintf("a control character (U+%04X) is not allowed in a YAML file: remove it, or write it as an escape (\\u%04X) in a double-quoted string", r, r)
		}
		if msg != "" && reported != line {
			d.problemAt(line, col, msg)
			found, reported = true, line
		}
		i += max(size, 1)
		col++
	}
	return found
}

// parseDocument guards against a panic inside the YAML parser, which is not this
// package's code: malformed input must come back as a problem, never a crash.
func parseDocument(dec *yaml.Decoder, doc *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the parser failed on this input (%v)", r)
		}
	}()
	return dec.Decode(doc)
}

// syntaxError turns a YAML parser error ("yaml: line 3: did not find expected key") into
// a problem at that line.
func (d *fileDecoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	if isParserProblem(msg) {
		// yaml.v3 gives a parser error the 0-based line of the construct that failed
		// (a flow mapping, a block sequence...), not the line of the problem.
		line++
		msg += " (in what starts on this line)"
	}
	d.res.problems = append(d.res.problems, Problem{File: d.file, Line: line, Msg: "invalid YAML: " + msg, Err: err})
}

// isParserProblem recognizes the problems yaml.v3's parser (not its scanner) reports.
func isParserProblem(msg string) bool {
	rest, ok := strings.CutPrefix(msg, "did not find expected ")
	if !ok {
		return false
	}
	switch rest {
	case "<document start>", "node content", "key", "'-' indicator", "',' or ']'", "',' or '}'":
		return true
	}
	return false
}

// checkNames reports duplicate names and previousNames that clash. Its indexes point
// into the State rather than copy its resources (a Resource is some 150 bytes).
func checkNames(st *State) []Problem {
	var problems []Problem
	check := func(kind sdim.Kind, rs []*Resource) {
		byName := make(map[string]*Resource, len(rs))
		for _, r := range rs {
			if r.Name == "" {
				continue // already reported: name is required
			}
			if first, ok := byName[r.Name]; ok {
				problems = append(problems, problemAt(r.Source, fmt.Sprintf(
					"duplicate %s name %q: also declared at %s; names are unique in a tenant, so rename or remove one",
					kind, r.Name, first.Source)))
				continue
			}
			byName[r.Name] = r
		}
		claimed := map[string]*Resource{}
		for _, r := range rs {
			for _, prev := range r.Options.PreviousNames {
				if other, ok := byName[prev]; ok {
					problems = append(problems, problemAt(r.Source, fmt.Sprintf(
						"options.previousNames: %q is the name of another %s, declared at %s; a previous name must be one no document uses",
						prev, kind, other.Source)))
					continue
				}
				if other, ok := claimed[prev]; ok && other.Name != r.Name {
					problems = append(problems, problemAt(r.Source, fmt.Sprintf(
						"options.previousNames: %q is also a previous name of %q, declared at %s; only one %s can be the renamed one",
						prev, other.Name, other.Source, kind)))
					continue
				}
				claimed[prev] = r
			}
		}
	}
	sd := make([]*Resource, len(st.ServiceDesk))
	for i := range st.ServiceDesk {
		sd[i] = &st.ServiceDesk[i].Resource
	}
	check(sdim.KindServiceDesk, sd)
	sim := make([]*Resource, len(st.SIM))
	for i := range st.SIM {
		sim[i] = &st.SIM[i].Resource
	}
	check(sdim.KindSIM, sim)
	problems = append(problems, checkAbsent(st)...)
	return problems
}

// checkAbsent reports an object declared both present and absent, declared absent
// twice, or declared absent under a name another document lists as its previous name.
func checkAbsent(st *State) []Problem {
	if len(st.Absent) == 0 {
		return nil // the indexes below would only be built to be thrown away
	}
	type key struct {
		kind sdim.Kind
		name string
	}
	present := make(map[key]*Resource, len(st.ServiceDesk)+len(st.SIM))
	previous := map[key]*Resource{}
	add := func(r *Resource) {
		present[key{r.Kind, r.Name}] = r
		for _, p := range r.Options.PreviousNames {
			previous[key{r.Kind, p}] = r
		}
	}
	for i := range st.ServiceDesk {
		add(&st.ServiceDesk[i].Resource)
	}
	for i := range st.SIM {
		add(&st.SIM[i].Resource)
	}
	var problems []Problem
	seen := map[key]Resource{}
	for _, a := range st.Absent {
		k := key{a.Kind, a.Name}
		if first, ok := seen[k]; ok {
			problems = append(problems, problemAt(a.Source, fmt.Sprintf(
				"%s %q is declared absent twice: also at %s; keep one", a.Kind, a.Name, first.Source)))
			continue
		}
		seen[k] = a
		if r, ok := present[k]; ok {
			problems = append(problems, problemAt(a.Source, fmt.Sprintf(
				"%s %q is declared absent here and present at %s: keep one of the two documents", a.Kind, a.Name, r.Source)))
			continue
		}
		if r, ok := previous[k]; ok {
			problems = append(problems, problemAt(a.Source, fmt.Sprintf(
				"%s %q is declared absent here, but %q, declared at %s, lists it in options.previousNames (a rename keeps the object): remove one of the two",
				a.Kind, a.Name, r.Name, r.Source)))
		}
	}
	return problems
}

func problemAt(s Source, msg string) Problem {
	return Problem{File: s.File, Line: s.Line, Column: s.Column, Msg: msg}
}
