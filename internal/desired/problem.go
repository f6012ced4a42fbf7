package desired

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with the desired state, at a place in a file.
type Problem struct {
	// File is relative to the loaded directory, with forward slashes.
	File string
	// Line and Column are 1-based; 0 when the problem concerns the whole file (it is too
	// large or unreadable) or the YAML parser gave no column.
	Line   int
	Column int
	Msg    string
	// Err is the underlying error, if any (such as an fs error), for errors.Is and As.
	Err error
}

// String renders the problem as file:line:column: message.
func (p Problem) String() string {
	return Source{File: p.File, Line: p.Line, Column: p.Column}.String() + ": " + p.Msg
}

// LoadError is every problem found while loading a directory, sorted by file and position.
type LoadError struct {
	Dir      string
	Problems []Problem
}

// Error renders a header line and then each problem on its own line.
func (e *LoadError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "desired state in %s is invalid: %s", e.Dir, plural(n, "problem", "problems"))
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap gives the underlying errors of the problems that have one.
func (e *LoadError) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}
