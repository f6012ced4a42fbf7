package yamlsubset

import "gopkg.in/yaml.v3"

// nodeArena hands out nodes from chunks that are reused, from the start, after reset: a
// document's nodes cost no allocation once the first documents have sized the chunks.
type nodeArena struct {
	chunks [][]yaml.Node
	chunk  int // the chunk being used
	used   int // nodes used in it
}

func (a *nodeArena) reset() { a.chunk, a.used = 0, 0 }

func (a *nodeArena) new() *yaml.Node {
	if a.chunk == len(a.chunks) {
		a.chunks = append(a.chunks, make([]yaml.Node, 32<<min(a.chunk, 5)))
	}
	c := a.chunks[a.chunk]
	n := &c[a.used]
	if a.used++; a.used == len(c) {
		a.chunk, a.used = a.chunk+1, 0
	}
	return n
}

// ptrArena hands out the child lists of collections the same way.
type ptrArena struct {
	chunks [][]*yaml.Node
	chunk  int
	used   int
}

func (a *ptrArena) reset() { a.chunk, a.used = 0, 0 }

// alloc returns a list of n children, with no room to append into a neighbour's.
func (a *ptrArena) alloc(n int) []*yaml.Node {
	for a.chunk < len(a.chunks) && len(a.chunks[a.chunk])-a.used < n {
		a.chunk, a.used = a.chunk+1, 0
	}
	if a.chunk == len(a.chunks) {
		a.chunks = append(a.chunks, make([]*yaml.Node, max(n, 64<<min(a.chunk, 5))))
	}
	s := a.chunks[a.chunk][a.used : a.used+n : a.used+n]
	a.used += n
	return s
}
