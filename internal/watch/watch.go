// Package watch reports the file-system changes that may alter the desired state of
// sdim-sync: the YAML files below the desired-state directory, and the secret files that
// ${file:...} references name, wherever they live.
//
// A Watcher watches the directory recursively, following it as directories are created,
// moved in, renamed and removed: a new directory is watched as soon as its event is seen
// and then scanned, so that the files created in it before the watch was in place are
// reported too. The events that the loader of the desired state cannot care about are
// dropped (hidden names, editor leftovers, files that are not YAML, attribute changes), but
// directories and symbolic links are always reported, and so is the swap of the "..data"
// link by which Kubernetes updates ConfigMap and Secret volumes. The rule for anything in
// between is to report: a spurious event costs the daemon one digest check, a missed one
// leaves the tenant out of date.
//
// Secret files are watched through their parent directory, not their inode, so that an
// editor or Kubernetes replacing the file by a rename keeps being seen; only the file
// itself, the "..data" swap of a Kubernetes volume holding it and a directory on the way
// to it appearing or going are reported from such a directory. A secret file may be named
// by its resolved path, inside the timestamped directory of a Kubernetes volume: the
// volume's own directory is then watched too, for the swap. When a directory is missing,
// its nearest existing ancestor is watched until it comes back. The parent of the
// desired-state directory is watched the same way, for the directory itself: when it is
// deleted and created again, or is a symbolic link that is swapped to a new target, the
// tree is watched afresh.
//
// The same holds for every symbolic link on the way to the directory, an ancestor link
// included: git-sync (--root=/desired --link=current) checks each commit out into a new
// worktree and renames a new link over /desired/current, and the daemon may read a
// directory below it, such as /desired/current/desired. The path is resolved one
// component at a time, following the links into their targets (which may hold links of
// their own), and each link met is watched through its resolved parent directory, for its
// name. When one is replaced, removed or created, the path is resolved again, the tree is
// watched afresh where it now leads (the watches of the old target are dropped, so its
// removal afterwards is harmless) and an Event for the directory is reported. The links on
// the way to a secret file's directory are watched alike: when one is replaced, where the
// file is watched moves with it, and the link's event is reported.
//
// There is deliberately no debouncing here. An editor save or a Kubernetes update is a
// burst of events, and the daemon waits for the burst to end on its own injected clock,
// where the delay is one setting and tests need no real time; it then compares a digest of
// the content, so the events are only hints of when to look. This package's duty is the
// other half: never to miss an event that may matter. Whenever it adds a watch because of
// an event, it adds the watch first and reports the event after, so a change made before
// the watch was in place is seen by the check that the event triggers.
//
// Events never block the reading of the kernel's queue: when the daemon does not keep up
// and the channel is full, events are dropped and one Event with Op "overflow" is
// delivered as soon as there is room; the same Event follows an overflow of the kernel's
// own queue, after every watch has been set up again.
package watch

import (
	"errors"
	"fmt"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// The values of Event.Op.
const (
	OpCreate = "create"
	OpWrite  = "write"
	OpRemove = "remove"
	OpRename = "rename"
	// OpOverflow says that events were lost, by the kernel or because the Events channel
	// was full: anything may have changed. Its Path is the watched directory.
	OpOverflow = "overflow"
)

const (
	// eventBuffer is the capacity of the Events channel; beyond it events are coalesced
	// into one overflow Event.
	eventBuffer = 256
	// errorBuffer is the capacity of the Errors channel; beyond it errors are logged and
	// dropped.
	errorBuffer = 16
	// dataLink is the symbolic link that Kubernetes swaps to update a ConfigMap or Secret
	// volume.
	dataLink = "..data"
)

// Event is one file-system change that may alter the desired state.
type Event struct {
	Path string // absolute: the path the event concerns (the directory for OpOverflow)
	Op   string // OpCreate, OpWrite, OpRemove, OpRename or OpOverflow (chmod-only events are dropped)
}

// Watcher reports the changes below a directory and to a set of extra files. Its methods
// are safe for concurrent use.
type Watcher struct {
	fsw  *fsnotify.Watcher
	root string // the directory, absolute, as given (a symbolic link is not resolved)
	log  *slog.Logger

	events   chan Event    // sent to under mu; closed by run
	errs     chan error    // sent to and closed by forwardErrors only
	internal chan error    // errors found while handling events, for forwardErrors
	overflow chan struct{} // capacity 1: the kernel's queue overflowed
	kick     chan struct{} // capacity 1: an overflow Event became pending
	done     chan struct{} // closed by Close

	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex
	closed    bool              // events is closed
	realRoot  string            // root with symbolic links resolved
	rootName  string            // root under its parent's resolved path: as its parent's watch names it
	rootHops  []string          // the symbolic links met resolving root, as resolve returns them
	rootLinks map[string]bool   // rootHops as their parents' watches name them: see hopName
	fileLinks map[string]bool   // the same for the directories of the extra files
	tree      map[string]bool   // directories watched because they are under root
	links     map[string]bool   // symbolic links in tree directories: their removal is reported
	given     map[string]bool   // the extra files as given to New or SetFiles, absolute
	files     map[string]bool   // the extra files as watched: see normalize
	names     map[string]bool   // the paths reported from any directory: files and their "..data" links
	anchors   map[string]string // each of targets → the directory watched for it
	watched   map[string]bool   // the paths added to fsw
	pending   bool              // an overflow Event is owed
	drops     uint64            // events dropped because events was full
}

// New watches dir recursively (every subdirectory, including ones created later) and the
// extra files (secret files named by ${file:...}; they may live outside dir). Event paths
// are absolute. Only the changes made after New returns are reported: a daemon that
// loaded before calling New should compare its digest once more after. A nil log
// discards the debug lines.
func New(dir string, files []string, log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	info, err := os.Stat(root)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the message names the path already
		}
		return nil, fmt.Errorf("watch the desired state directory %s: %w", dir, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("watch the desired state directory %s: %w", dir, syscall.ENOTDIR)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	w := &Watcher{
		fsw:       fsw,
		root:      root,
		log:       log,
		events:    make(chan Event, eventBuffer),
		errs:      make(chan error, errorBuffer),
		internal:  make(chan error, errorBuffer),
		overflow:  make(chan struct{}, 1),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		rootLinks: map[string]bool{},
		fileLinks: map[string]bool{},
		tree:      map[string]bool{},
		links:     map[string]bool{},
		given:     map[string]bool{},
		files:     map[string]bool{},
		names:     map[string]bool{},
		anchors:   map[string]string{},
		watched:   map[string]bool{},
	}
	// The readers run before the first watch is added: fsnotify may wait for its error to
	// be read while it holds the lock that adding a watch takes.
	w.wg.Add(2)
	go w.forwardErrors()
	go w.run()

	set, err := absSet(files)
	if err == nil {
		w.mu.Lock()
		w.resolveRoot()
		err = w.addTree(root, false, true)
		if err == nil {
			err = w.setFiles(set, false)
		}
		w.log.Debug("watch: started", "dir", root, "directories", len(w.tree), "files", len(set))
		w.mu.Unlock()
	}
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	return w, nil
}

// Events returns the channel of events. It is closed by Close.
func (w *Watcher) Events() <-chan Event { return w.events }

// Errors returns the channel of the errors met while watching: an overflow of the
// kernel's queue (also reported as an Event with Op OpOverflow), a directory that cannot
// be watched or read. It is buffered; errors that find it full are logged and dropped. It
// is closed by Close.
func (w *Watcher) Errors() <-chan error { return w.errs }

// SetFiles replaces the set of extra files after a new load, adding and removing the
// watches of their directories as needed (a directory of the tree stays watched). Each
// file that was not named before and exists is reported as an OpCreate Event: it may
// have changed between the load that named it and its watch being in place.
func (w *Watcher) SetFiles(files []string) error {
	set, err := absSet(files)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("watch %s: set files: %w", w.root, fsnotify.ErrClosed)
	}
	return w.setFiles(set, true)
}

// Close stops watching and closes the Events and Errors channels. It may be called more
// than once.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.done)
		if err := w.fsw.Close(); err != nil {
			w.closeErr = fmt.Errorf("watch %s: close: %w", w.root, err)
		}
		w.wg.Wait()
	})
	return w.closeErr
}

// absSet makes the paths absolute, ignoring empty ones.
func absSet(files []string) (map[string]bool, error) {
	set := make(map[string]bool, len(files))
	for _, f := range files {
		if f == "" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", f, err)
		}
		set[abs] = true
	}
	return set, nil
}

// setFiles installs the set of extra files; mu is held.
func (w *Watcher) setFiles(given map[string]bool, announce bool) error {
	old := w.files
	w.given = given
	err := w.refreshAnchors()
	if announce {
		for f := range w.files {
			if old[f] {
				continue
			}
			if _, statErr := os.Lstat(f); statErr == nil {
				w.emit(Event{Path: f, Op: OpCreate})
			}
		}
	}
	return err
}

// resolveRoot records where root leads, how its parent's watch names it and the symbolic
// links on the way. mu is held.
func (w *Watcher) resolveRoot() {
	real, hops, err := resolve(w.root)
	w.realRoot = w.root
	if err == nil {
		w.realRoot = real
	}
	// A missing parent is resolved as far as it exists, for its nearest existing ancestor
	// to be watched under its resolved name, like any other directory.
	parent, _, _ := resolve(filepath.Dir(w.root))
	w.rootName = filepath.Join(parent, filepath.Base(w.root))
	w.rootHops = hops
	w.rootLinks = make(map[string]bool, len(hops))
	for _, h := range hops {
		w.rootLinks[w.hopName(h)] = true
	}
}

// rootMoved reports whether root now leads elsewhere than where its tree is watched, as
// an event above it may reveal: a symbolic link on the way replaced, or the directory
// appeared or vanished. mu is held.
func (w *Watcher) rootMoved() bool {
	real, hops, err := resolve(w.root)
	if !slices.Equal(hops, w.rootHops) {
		return true
	}
	exists := false
	if err == nil {
		info, statErr := os.Stat(real)
		exists = statErr == nil && info.IsDir()
	}
	return exists != w.tree[w.root] || exists && real != w.realRoot
}

// resolve follows the symbolic links of the absolute path p, like filepath.EvalSymlinks,
// and also returns the links met on the way, those in the targets of links included, in
// order, each named by its resolved parent directory and its own name: as the watch of
// that directory reports it. When a component is missing, it returns what was resolved
// joined with the rest of the path, unresolved, and the error.
func resolve(p string) (string, []string, error) {
	const sep = string(filepath.Separator)
	const maxHops = 255 // like the kernel's limit of 40, with room: a loop is an error
	vol := filepath.VolumeName(p)
	real, rest := vol+sep, p[len(vol):]
	var hops []string
	for rest != "" {
		var name string
		name, rest, _ = strings.Cut(rest, sep)
		switch name {
		case "", ".":
			continue
		case "..":
			real = filepath.Dir(real) // real has no links: its parent is lexical
			continue
		}
		next := filepath.Join(real, name)
		info, err := os.Lstat(next)
		if err != nil {
			return filepath.Join(next, rest), hops, err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			real = next
			continue
		}
		if len(hops) == maxHops {
			return filepath.Join(next, rest), hops, &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		hops = append(hops, next)
		target, err := os.Readlink(next)
		if err != nil {
			return filepath.Join(next, rest), hops, err
		}
		if filepath.IsAbs(target) {
			v := filepath.VolumeName(target)
			real, target = v+sep, target[len(v):]
		}
		rest = target + sep + rest
	}
	return real, hops, nil
}

// treeName gives the path under which a resolved path is watched: one inside the
// desired-state directory is taken under root, as the tree's watches name it; any other
// is kept, for one directory must not be watched under two names. mu is held.
func (w *Watcher) treeName(real string) string {
	if within(real, w.realRoot) {
		if rel, err := filepath.Rel(w.realRoot, real); err == nil {
			return filepath.Join(w.root, rel)
		}
	}
	return real
}

// hopName gives the name by which the watch of its parent reports a link that resolve
// met. mu is held.
func (w *Watcher) hopName(hop string) string {
	return filepath.Join(w.treeName(filepath.Dir(hop)), filepath.Base(hop))
}

// normalizeFiles computes files and names from given, in new maps (setFiles compares the
// old files with the new). mu is held.
func (w *Watcher) normalizeFiles() {
	w.files = make(map[string]bool, len(w.given))
	w.names = make(map[string]bool, 2*len(w.given))
	w.fileLinks = map[string]bool{}
	for f := range w.given {
		f, hops := w.normalize(f)
		for _, h := range hops {
			w.fileLinks[w.hopName(h)] = true
		}
		w.files[f] = true
		w.names[f] = true
		dir := filepath.Dir(f)
		// The file may be a link into a Kubernetes volume's "..data", or be named by its
		// resolved path inside the volume's timestamped directory: either way the swap of
		// "..data" replaces it.
		w.names[filepath.Join(dir, dataLink)] = true
		if strings.HasPrefix(filepath.Base(dir), "..") {
			w.names[filepath.Join(filepath.Dir(dir), dataLink)] = true
		}
	}
}

// normalize gives the path under which an extra file is watched and reported: one whose
// directory is inside the desired-state directory is taken under root, so that its
// events, which the tree's watch names so, are recognized; any other has its directory's
// symbolic links resolved, like the parent of root, for one directory must not be
// watched under two names. The file's own name is kept: it may be a link that Kubernetes
// swaps. It also returns the links met resolving the directory, as resolve does. mu is
// held.
func (w *Watcher) normalize(f string) (string, []string) {
	dir, base := filepath.Dir(f), filepath.Base(f)
	real, hops, err := resolve(dir)
	if err != nil {
		return f, hops // missing: watched from an ancestor, as given
	}
	return filepath.Join(w.treeName(real), base), hops
}

// run handles the events of fsnotify until Close, then closes the Events channel.
func (w *Watcher) run() {
	defer w.wg.Done()
	defer func() {
		w.mu.Lock()
		w.closed = true
		close(w.events)
		w.mu.Unlock()
	}()
	for {
		w.mu.Lock()
		pending, drops := w.pending, w.drops
		w.mu.Unlock()
		var owed chan<- Event // nil, so never ready, unless an overflow Event is owed
		if pending {
			owed = w.events
		}
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ev)
		case <-w.overflow:
			w.handleOverflow()
		case <-w.kick:
			// An overflow Event became pending: loop to wait for room for it.
		case owed <- Event{Path: w.root, Op: OpOverflow}:
			w.mu.Lock()
			if w.drops == drops { // nothing was dropped since: the Event covers every drop
				w.pending = false
			}
			w.mu.Unlock()
		}
	}
}

// forwardErrors passes the errors of fsnotify and of the handling of events to the Errors
// channel, without ever blocking: fsnotify may hold a lock while it sends an error. It
// takes no lock itself.
func (w *Watcher) forwardErrors() {
	defer w.wg.Done()
	defer close(w.errs)
	for {
		var err error
		select {
		case <-w.done:
			return
		case e, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			err = fmt.Errorf("watch %s: %w", w.root, e)
			w.forward(err)
			if errors.Is(e, fsnotify.ErrEventOverflow) {
				select {
				case w.overflow <- struct{}{}:
				default: // one is on its way already
				}
			}
			continue
		case err = <-w.internal:
		}
		w.forward(err)
	}
}

// forward passes an error to the Errors channel without blocking.
func (w *Watcher) forward(err error) {
	select {
	case w.errs <- err:
	default:
		w.log.Warn("watch: error dropped, the Errors channel is full", "err", err)
	}
}

// reportError passes an error to forwardErrors without blocking.
func (w *Watcher) reportError(err error) {
	if err == nil {
		return
	}
	select {
	case <-w.done:
		return // the error is most likely that fsnotify was closed
	default:
	}
	select {
	case w.internal <- err:
	default:
		w.log.Warn("watch: error dropped, the Errors channel is full", "err", err)
	}
}

// emit sends an event without blocking; when the channel is full the event is dropped and
// an overflow Event is owed. mu is held.
func (w *Watcher) emit(ev Event) {
	if w.closed {
		return
	}
	if w.pending {
		select {
		case w.events <- Event{Path: w.root, Op: OpOverflow}:
			w.pending = false
		default:
		}
	}
	select {
	case w.events <- ev:
		w.log.Debug("watch: event", "path", ev.Path, "op", ev.Op)
	default:
		w.drops++
		w.log.Debug("watch: event dropped, the channel is full", "path", ev.Path, "op", ev.Op)
		if !w.pending {
			w.pending = true
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
	}
}

// opOf names the operation of an fsnotify event, or returns "" for a chmod-only one.
func opOf(op fsnotify.Op) string {
	switch {
	case op.Has(fsnotify.Remove):
		return OpRemove
	case op.Has(fsnotify.Rename):
		return OpRename
	case op.Has(fsnotify.Create):
		return OpCreate
	case op.Has(fsnotify.Write):
		return OpWrite
	}
	return ""
}

// handle updates the watches for one fsnotify event and reports it if it may matter.
func (w *Watcher) handle(fe fsnotify.Event) {
	op := opOf(fe.Op)
	if op == "" {
		return
	}
	p := filepath.Clean(fe.Name)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	base, parent := filepath.Base(p), filepath.Dir(p)
	var report, reset, newDir, refresh bool
	if p == w.root || p == w.rootName || w.rootLinks[p] {
		// The directory itself or a symbolic link on the way to it was removed, renamed
		// or (re)created, perhaps as a link swapped to a new target: watch it afresh.
		report, reset = true, true
	}
	if w.fileLinks[p] {
		// A symbolic link on the way to an extra file: the file may be elsewhere now.
		report, refresh = true, true
	}
	if w.names[p] {
		report = true
	}
	if w.aboveTarget(p) {
		// A directory on the way to the root or an extra file: where it is watched from
		// may change.
		report, refresh = true, true
	}
	if w.tree[parent] && p != w.root {
		relevant := base == dataLink || !desired.SkipName(base) && desired.IsYAMLName(base)
		switch op {
		case OpCreate:
			info, err := os.Lstat(p)
			switch {
			case err != nil:
				// Gone already: nothing of it can be loaded. Otherwise, unsure: report.
				relevant = relevant || !gone(err)
			case desired.SkipName(base):
				// Hidden or an editor leftover: the loader skips it, and does not enter
				// it if it is a directory (the timestamped directories of Kubernetes).
			case info.IsDir():
				relevant, newDir = true, true
			case info.Mode()&fs.ModeSymlink != 0:
				relevant = true
				w.links[p] = true
			}
		case OpRemove, OpRename:
			relevant = relevant || w.tree[p] || w.links[p]
		}
		report = report || relevant
	}
	if op == OpRemove || op == OpRename {
		// A watch on p or below is gone (deleted) or stale (moved): drop them all; a
		// directory moved elsewhere in the tree is watched again under its new name by
		// its create event.
		if w.dropUnder(p) {
			refresh = true
		}
		if w.tree[parent] && p != w.root && !desired.SkipName(base) {
			if info, err := os.Lstat(p); err == nil && info.IsDir() {
				// A directory is there all the same: the event came from the watch of a
				// directory since replaced (the old target of a swapped link, removed
				// after the swap was handled), or the directory is back already. Its
				// create event, if any, would come after this one: watch it now.
				newDir = true
			}
		}
	}
	if refresh && !reset && w.rootMoved() {
		// Seen from above: a link on the way to the directory was replaced, or the
		// directory appeared or vanished.
		reset = true
	}
	if reset {
		w.resetTree()
		refresh = true
	}
	if newDir {
		w.reportError(w.addTree(p, true, false))
	}
	if refresh {
		w.reportError(w.refreshAnchors())
	}
	if reset {
		// Whatever changed on the way, the daemon must look at the directory again.
		w.emit(Event{Path: w.root, Op: op})
	} else if report {
		w.emit(Event{Path: p, Op: op})
	} else {
		w.log.Debug("watch: ignored", "path", p, "op", op)
	}
}

// handleOverflow sets every watch up again after the kernel dropped events, then reports
// the overflow. A directory created meanwhile may have no watch, and one removed or
// replaced a stale one; the others keep theirs, as adding a watch on the same directory
// again changes nothing.
func (w *Watcher) handleOverflow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.log.Debug("watch: the kernel's queue overflowed, watching afresh", "dir", w.root)
	old := w.tree
	w.tree = map[string]bool{}
	clear(w.links)
	for q := range old {
		delete(w.watched, q) // added again below, for its path may lead elsewhere now
	}
	for _, a := range w.anchors {
		delete(w.watched, a)
	}
	w.resolveRoot() // a link on the way may have been swapped meanwhile
	w.reportError(w.addTree(w.root, false, false))
	w.reportError(w.refreshAnchors())
	for q := range old {
		if !w.watched[q] {
			_ = w.fsw.Remove(q) // gone, or no longer needed
		}
	}
	w.emit(Event{Path: w.root, Op: OpOverflow})
}

// addWatch adds a watch on dir unless there is one; mu is held.
func (w *Watcher) addWatch(dir string) error {
	if w.watched[dir] {
		return nil
	}
	if err := w.fsw.Add(dir); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("watch %s: %w (the limit of inotify watches, sysctl fs.inotify.max_user_watches, is reached)", dir, err)
		}
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	w.watched[dir] = true
	return nil
}

// addTree watches dir and every directory below it that the loader would enter, and
// records the symbolic links found. With emit, it reports a create event for each
// directory, YAML file, symbolic link and extra file found below dir, each directory
// after its watch is in place: those created before the watch made no event. With strict, the first error is returned; otherwise the
// errors are joined and a directory that vanished meanwhile is no error. mu is held.
func (w *Watcher) addTree(dir string, emit, strict bool) error {
	// Only the root is required to exist; a directory below it may vanish meanwhile.
	vanished := func(err error) bool { return gone(err) && !(strict && dir == w.root) }
	if err := w.addWatch(dir); err != nil {
		if vanished(err) {
			return nil
		}
		return err
	}
	w.tree[dir] = true
	entries, err := os.ReadDir(dir)
	if err != nil {
		if vanished(err) {
			return nil
		}
		return fmt.Errorf("watch: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		if e.IsDir() {
			if desired.SkipName(name) {
				continue
			}
			if err := w.addTree(p, emit, strict); err != nil {
				if strict {
					return err
				}
				errs = append(errs, err)
			}
			if emit {
				w.emit(Event{Path: p, Op: OpCreate})
			}
			continue
		}
		link := e.Type()&fs.ModeSymlink != 0
		if desired.SkipName(name) && name != dataLink && !w.files[p] {
			continue
		}
		if link {
			w.links[p] = true
		}
		if emit && (link || desired.IsYAMLName(name) || w.files[p]) {
			w.emit(Event{Path: p, Op: OpCreate})
		}
	}
	return errors.Join(errs...)
}

// dropUnder removes the watches on p and below, which a removal or rename of p made
// useless, and forgets the symbolic links there. It reports whether a watch was dropped.
// mu is held.
func (w *Watcher) dropUnder(p string) bool {
	if !w.watched[p] && !w.aboveAnchor(p) {
		// Only a watched directory has watches below it (those of the tree), besides the
		// directories of the extra files: the common removal of a file is cheap.
		delete(w.links, p)
		return false
	}
	dropped := false
	for q := range w.watched {
		if within(q, p) {
			_ = w.fsw.Remove(q) // the kernel may have dropped it with the directory
			delete(w.watched, q)
			delete(w.tree, q)
			dropped = true
		}
	}
	for q := range w.links {
		if within(q, p) {
			delete(w.links, q)
		}
	}
	return dropped
}

// resetTree drops the watches of the tree and watches it afresh (if it exists). mu is
// held.
func (w *Watcher) resetTree() {
	for q := range w.tree {
		if w.watched[q] {
			_ = w.fsw.Remove(q)
			delete(w.watched, q)
		}
	}
	clear(w.tree)
	clear(w.links)
	w.resolveRoot()
	if info, err := os.Stat(w.root); err == nil && info.IsDir() {
		w.reportError(w.addTree(w.root, false, false))
	}
}

// refreshAnchors watches, for each of targets (the root, the extra files and the symbolic
// links on the way to them), its parent directory or, when that is missing, its nearest
// existing ancestor; then it removes the watches nobody needs any more. It normalizes the
// extra files again first: a directory that was missing may be there now. mu is held.
func (w *Watcher) refreshAnchors() error {
	w.normalizeFiles()
	var errs []error
	anchor := func(target string) {
		var err error
		for range 8 { // the directories may come and go meanwhile: retry a few times
			a := nearestDir(filepath.Dir(target))
			if err = w.addWatch(a); err == nil {
				w.anchors[target] = a
				return
			}
			if !gone(err) {
				break
			}
		}
		delete(w.anchors, target)
		errs = append(errs, err)
	}
	for t := range w.targets() {
		anchor(t)
	}
	for t := range w.anchors {
		if !w.isTarget(t) {
			delete(w.anchors, t)
		}
	}
	need := make(map[string]bool, len(w.anchors))
	for _, a := range w.anchors {
		need[a] = true
	}
	for q := range w.watched {
		if !w.tree[q] && !need[q] {
			_ = w.fsw.Remove(q)
			delete(w.watched, q)
		}
	}
	return errors.Join(errs...)
}

// targets yields the paths watched through their parent directory: rootName, names, and
// the symbolic links on the way to them (rootLinks, fileLinks). It may yield a path more
// than once. mu is held.
func (w *Watcher) targets() iter.Seq[string] {
	return func(yield func(string) bool) {
		if !yield(w.rootName) {
			return
		}
		for _, set := range []map[string]bool{w.names, w.rootLinks, w.fileLinks} {
			for t := range set {
				if !yield(t) {
					return
				}
			}
		}
	}
}

// isTarget reports whether targets yields t. mu is held.
func (w *Watcher) isTarget(t string) bool {
	return t == w.rootName || w.names[t] || w.rootLinks[t] || w.fileLinks[t]
}

// aboveTarget reports whether p is a directory above one of targets. mu is held.
func (w *Watcher) aboveTarget(p string) bool {
	for t := range w.targets() {
		if t != p && within(t, p) {
			return true
		}
	}
	return false
}

// aboveAnchor reports whether p is above a directory watched for the root or an extra
// file. mu is held.
func (w *Watcher) aboveAnchor(p string) bool {
	for _, a := range w.anchors {
		if a != p && within(a, p) {
			return true
		}
	}
	return false
}

// nearestDir returns dir if it is a directory, else its nearest ancestor that is.
func nearestDir(dir string) string {
	for {
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return dir
		}
		dir = up
	}
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	if path == dir {
		return true
	}
	if !strings.HasPrefix(path, dir) {
		return false
	}
	return strings.HasSuffix(dir, string(filepath.Separator)) || path[len(dir)] == filepath.Separator
}

// gone reports whether err says that a path no longer exists (or is no longer a
// directory).
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
