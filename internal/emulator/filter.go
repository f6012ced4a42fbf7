package emulator

import (
	"fmt"
	"slices"
	"strings"
)

// The list endpoint's `filters` parameter in SailPoint's collection syntax:
//
//	expr    = and { "or" and }
//	and     = unary { "and" unary }
//	unary   = "not" unary | "(" expr ")" | field op value
//	value   = "quoted string" | "(" "quoted string" { "," "quoted string" } ")"
//
// Operators and keywords are case-insensitive; strings escape `"` and `\` with a backslash.
// Only the fields and operators the service desk API documents are accepted; anything else
// is an error that says what is supported.

// filterFields maps each filterable field to its operators, as the API documents them.
var filterFields = map[string][]string{
	"id":      {"eq", "in"},
	"name":    {"eq"},
	"type":    {"eq", "in"},
	"cluster": {"eq", "in"},
}

const filterHelp = "supported: id eq/in, name eq, type eq/in, cluster eq/in"

// knownOperators are the operators of the collection syntax; the API supports only some.
var knownOperators = []string{"eq", "ne", "gt", "ge", "lt", "le", "co", "sw", "in", "pr", "isnull", "ca"}

// filterable is what a filter can look at in an object.
type filterable interface {
	field(name string) string
}

type filterNode interface {
	match(o filterable) bool
}

type (
	orNode  []filterNode
	andNode []filterNode
	notNode struct{ inner filterNode }
	cmpNode struct {
		field  string
		values []string // one for eq
	}
)

func (n orNode) match(o filterable) bool {
	for _, c := range n {
		if c.match(o) {
			return true
		}
	}
	return false
}

func (n andNode) match(o filterable) bool {
	for _, c := range n {
		if !c.match(o) {
			return false
		}
	}
	return true
}

func (n notNode) match(o filterable) bool { return !n.inner.match(o) }

func (n cmpNode) match(o filterable) bool { return slices.Contains(n.values, o.field(n.field)) }

type tokenKind int

const (
	tokWord tokenKind = iota
	tokString
	tokLParen
	tokRParen
	tokComma
	tokEOF
)

type token struct {
	kind tokenKind
	text string
	pos  int
}

func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tokComma, ",", i})
			i++
		case c == '"':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' {
					if i+1 >= len(s) {
						return nil, fmt.Errorf("filter: string starting at %d ends in a lone backslash", start)
					}
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("filter: string starting at %d is not closed", start)
			}
			toks = append(toks, token{tokString, b.String(), start})
		default:
			start := i
			for i < len(s) && !strings.ContainsRune(" \t\n\r(),\"", rune(s[i])) {
				i++
			}
			toks = append(toks, token{tokWord, s[start:i], start})
		}
	}
	return append(toks, token{tokEOF, "", len(s)}), nil
}

type filterParser struct {
	toks []token
	i    int
}

// parseFilter parses a filters expression; an empty one matches everything (nil node).
func parseFilter(s string) (filterNode, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("filter: unexpected %q at %d", t.text, t.pos)
	}
	return n, nil
}

func (p *filterParser) peek() token { return p.toks[p.i] }
func (p *filterParser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *filterParser) keyword(word string) bool {
	t := p.peek()
	if t.kind == tokWord && strings.EqualFold(t.text, word) {
		p.i++
		return true
	}
	return false
}

func (p *filterParser) or() (filterNode, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	nodes := orNode{first}
	for p.keyword("or") {
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 1 {
		return first, nil
	}
	return nodes, nil
}

func (p *filterParser) and() (filterNode, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	nodes := andNode{first}
	for p.keyword("and") {
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 1 {
		return first, nil
	}
	return nodes, nil
}

func (p *filterParser) unary() (filterNode, error) {
	if p.keyword("not") {
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	if p.peek().kind == tokLParen {
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tokRParen {
			return nil, fmt.Errorf("filter: expected ')' at %d", t.pos)
		}
		return n, nil
	}
	return p.comparison()
}

func (p *filterParser) comparison() (filterNode, error) {
	ft := p.next()
	if ft.kind != tokWord {
		return nil, fmt.Errorf("filter: expected a field name at %d", ft.pos)
	}
	field := ft.text
	ot := p.next()
	if ot.kind != tokWord {
		return nil, fmt.Errorf("filter: expected an operator after %q at %d", field, ot.pos)
	}
	op := strings.ToLower(ot.text)
	if !slices.Contains(knownOperators, op) {
		return nil, fmt.Errorf("filter: unknown operator %q at %d", ot.text, ot.pos)
	}
	ops, ok := filterFields[field]
	if !ok {
		return nil, fmt.Errorf("filter: field %q cannot be filtered on; %s", field, filterHelp)
	}
	if !slices.Contains(ops, op) {
		return nil, fmt.Errorf("filter: operator %q is not supported on %q; %s", op, field, filterHelp)
	}
	if op == "eq" {
		v := p.next()
		if v.kind != tokString {
			return nil, fmt.Errorf("filter: the value of %s %s at %d must be a double-quoted string", field, op, v.pos)
		}
		return cmpNode{field: field, values: []string{v.text}}, nil
	}
	// in: a parenthesised, comma-separated list of strings.
	if t := p.next(); t.kind != tokLParen {
		return nil, fmt.Errorf("filter: %s in needs a list such as (\"a\", \"b\") at %d", field, t.pos)
	}
	var values []string
	for {
		v := p.next()
		if v.kind != tokString {
			return nil, fmt.Errorf("filter: the values of %s in at %d must be double-quoted strings", field, v.pos)
		}
		values = append(values, v.text)
		sep := p.next()
		if sep.kind == tokRParen {
			break
		}
		if sep.kind != tokComma {
			return nil, fmt.Errorf("filter: expected ',' or ')' at %d", sep.pos)
		}
	}
	return cmpNode{field: field, values: values}, nil
}
