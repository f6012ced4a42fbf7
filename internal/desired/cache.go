package desired

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
)

// Cache keeps what each file decoded to, by the file's content digest, so that a process
// that loads the same directory again and again (the daemon, every few minutes) parses
// only the files that changed. A file is reused only when its bytes, the load's settings
// and every secret reference it resolved (the environment variable's value, the secret
// file's content) are what they were; anything else is decoded afresh. Create one with
// NewCache and pass it to every Load with WithCache; it is safe for concurrent use.
//
// The States that loads with a cache return share their resources' contents (specs,
// options) with each other: treat a State as read-only, as the planner and the applier do.
type Cache struct {
	mu           sync.Mutex
	files        map[string]cacheEntry // by path as opened
	hits, misses int
}

type cacheEntry struct {
	content string // contentEntry of the bytes decoded
	conf    string // the settings that shaped the decoding
	res     fileResult
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{files: map[string]cacheEntry{}} }

// WithCache makes Load reuse what c holds of unchanged files, and keep what it decodes.
func WithCache(c *Cache) Option { return func(cfg *config) { cfg.cache = c } }

// Len is the number of files the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files)
}

// Stats returns how many file loads the cache served (hits) and how many it could not
// (misses: new or changed files, or changed secrets), since it was made.
func (c *Cache) Stats() (hits, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

func (c *Cache) count(hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hit {
		c.hits++
	} else {
		c.misses++
	}
}

func (c *Cache) get(path, content, conf string) (fileResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.files[path]
	if !ok || e.content != content || e.conf != conf {
		return fileResult{}, false
	}
	return e.res, true
}

func (c *Cache) put(path, content, conf string, res fileResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[path] = cacheEntry{content: content, conf: conf, res: res}
}

// retain drops the files a load no longer read (deleted, renamed, now skipped).
func (c *Cache) retain(paths map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.files {
		if !paths[p] {
			delete(c.files, p)
		}
	}
}

// dep is one secret reference a file resolved, with a digest of what it resolved to: the
// value, or the message of why it did not resolve. The digest lives only in memory.
type dep struct {
	ref string // env:NAME or file:PATH as written
	sum [sha256.Size]byte
}

func depSum(value, msg string) [sha256.Size]byte {
	return sha256.Sum256([]byte(value + "\x00" + msg))
}

// confKey names the settings that shape how a file decodes.
func (c config) confKey(root string) string {
	keys := make([]string, 0, len(c.secretKeys))
	for k := range c.secretKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return fmt.Sprintf("%d/%d/%d/%t/%q/%s", c.maxFileSize, c.maxAliasNodes, c.maxAliasSize, c.allowOutside, keys, root)
}

// depsHold reports whether every secret reference of a cached file still resolves to what
// it did. Resolving again also registers the secret files this load reads.
func (l *loader) depsHold(f yamlFile, deps []dep) bool {
	d := &fileDecoder{l: l, file: f.rel, fileDir: filepath.Dir(f.path)}
	for _, dp := range deps {
		v, _, msg := d.resolve(dp.ref)
		if depSum(v, msg) != dp.sum {
			return false
		}
	}
	return true
}
