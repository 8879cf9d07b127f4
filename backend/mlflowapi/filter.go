package mlflowapi

import (
	"regexp"
	"strings"
	"unicode"
)

// The registry's search filters, in MLflow's syntax: clauses joined by
// AND, each `<field> <op> <value>` with op one of =, !=, LIKE, ILIKE, IN,
// NOT IN; values single- or double-quoted strings, numbers, or a
// parenthesised list for IN. Fields are plain names (name, run_id,
// version_number, ...) or tags.<key> (the key may be backquoted). The
// handler says which fields it knows; everything is compared as text.

type clause struct {
	field string // "name", "tags.team"
	op    string // "=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"
	vals  []string
}

// maxFilterLen bounds a filter so a hostile one costs little.
const maxFilterLen = 4096

func parseFilter(s string, fields map[string]bool) ([]clause, error) {
	if len(s) > maxFilterLen {
		return nil, invalid("The filter is %d characters; the limit is %d.", len(s), maxFilterLen)
	}
	p := &filterLexer{s: s}
	var out []clause
	for {
		p.space()
		if p.done() {
			if len(out) == 0 {
				return nil, nil
			}
			return nil, invalid("Invalid filter %q: it ends after AND.", s)
		}
		c, err := p.clause(fields)
		if err != nil {
			return nil, invalid("Invalid filter %q: %s", s, err.Error())
		}
		out = append(out, c)
		p.space()
		if p.done() {
			return out, nil
		}
		if !p.word("AND") {
			return nil, invalid("Invalid filter %q: expected AND at character %d (Tern's registry search joins clauses with AND only).", s, p.i+1)
		}
	}
}

type filterLexer struct {
	s string
	i int
}

type filterErr string

func (e filterErr) Error() string { return string(e) }

func (p *filterLexer) done() bool { return p.i >= len(p.s) }

func (p *filterLexer) space() {
	for p.i < len(p.s) && unicode.IsSpace(rune(p.s[p.i])) {
		p.i++
	}
}

// word consumes a case-insensitive keyword followed by a non-letter.
func (p *filterLexer) word(w string) bool {
	end := p.i + len(w)
	if end > len(p.s) || !strings.EqualFold(p.s[p.i:end], w) {
		return false
	}
	if end < len(p.s) && (isIdent(p.s[end])) {
		return false
	}
	p.i = end
	return true
}

func isIdent(b byte) bool {
	return b == '_' || b == '.' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func (p *filterLexer) ident() (string, error) {
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == '`':
			end := strings.IndexByte(p.s[p.i+1:], '`')
			if end < 0 {
				return "", filterErr("a backquote is not closed")
			}
			b.WriteString(p.s[p.i+1 : p.i+1+end])
			p.i += end + 2
		case isIdent(c):
			b.WriteByte(c)
			p.i++
		default:
			return b.String(), nil
		}
	}
	return b.String(), nil
}

func (p *filterLexer) clause(fields map[string]bool) (clause, error) {
	start := p.i
	f, err := p.ident()
	if err != nil {
		return clause{}, err
	}
	if f == "" {
		return clause{}, filterErr(sprintf("expected a field name at character %d", start+1))
	}
	lf := strings.ToLower(f)
	lf = strings.TrimPrefix(strings.TrimPrefix(lf, "attributes."), "attribute.")
	switch {
	case strings.HasPrefix(lf, "tags.") || strings.HasPrefix(lf, "tag."):
		key := f[strings.IndexByte(f, '.')+1:]
		if key == "" {
			return clause{}, filterErr("a tag filter needs a key: tags.<key>")
		}
		lf = "tags." + key
		if !fields["tags"] {
			return clause{}, filterErr("tags cannot be filtered here")
		}
	case !fields[lf]:
		return clause{}, filterErr(sprintf("unknown field %q", f))
	}
	c := clause{field: lf}
	p.space()
	switch {
	case strings.HasPrefix(p.s[p.i:], "!="):
		c.op, p.i = "!=", p.i+2
	case strings.HasPrefix(p.s[p.i:], "="):
		c.op, p.i = "=", p.i+1
	case p.word("LIKE"):
		c.op = "LIKE"
	case p.word("ILIKE"):
		c.op = "ILIKE"
	case p.word("IN"):
		c.op = "IN"
	case p.word("NOT"):
		p.space()
		if !p.word("IN") {
			return clause{}, filterErr("expected IN after NOT")
		}
		c.op = "NOT IN"
	default:
		return clause{}, filterErr(sprintf("expected =, !=, LIKE, ILIKE, IN or NOT IN after %s", f))
	}
	p.space()
	if c.op == "IN" || c.op == "NOT IN" {
		if p.done() || p.s[p.i] != '(' {
			return clause{}, filterErr("IN needs a list in parentheses")
		}
		p.i++
		for {
			p.space()
			v, err := p.value()
			if err != nil {
				return clause{}, err
			}
			c.vals = append(c.vals, v)
			p.space()
			if p.done() {
				return clause{}, filterErr("the IN list is not closed")
			}
			if p.s[p.i] == ')' {
				p.i++
				return c, nil
			}
			if p.s[p.i] != ',' {
				return clause{}, filterErr("expected , or ) in the IN list")
			}
			p.i++
		}
	}
	v, err := p.value()
	if err != nil {
		return clause{}, err
	}
	c.vals = []string{v}
	return c, nil
}

func (p *filterLexer) value() (string, error) {
	if p.done() {
		return "", filterErr("a value is missing")
	}
	q := p.s[p.i]
	if q == '\'' || q == '"' {
		var b strings.Builder
		for j := p.i + 1; j < len(p.s); j++ {
			if p.s[j] == q {
				if j+1 < len(p.s) && p.s[j+1] == q { // doubled quote
					b.WriteByte(q)
					j++
					continue
				}
				p.i = j + 1
				return b.String(), nil
			}
			b.WriteByte(p.s[j])
		}
		return "", filterErr("a quoted value is not closed")
	}
	start := p.i
	for !p.done() && (p.s[p.i] == '-' || p.s[p.i] == '.' || p.s[p.i] >= '0' && p.s[p.i] <= '9') {
		p.i++
	}
	if p.i == start {
		return "", filterErr(sprintf("expected a quoted value or a number at character %d", start+1))
	}
	return p.s[start:p.i], nil
}

// match tests a clause against a field's value; has says the field (a
// tag) is set at all. A missing tag matches only != and NOT IN: the MLflow
// 3 client leaves prompts out of model searches with
// tags.`mlflow.prompt.is_prompt` != 'true', which must keep every model
// that lacks the tag.
func (c clause) match(val string, has bool) bool {
	if !has {
		return c.op == "!=" || c.op == "NOT IN"
	}
	switch c.op {
	case "=":
		return val == c.vals[0]
	case "!=":
		return val != c.vals[0]
	case "LIKE":
		return likeRE(c.vals[0], false).MatchString(val)
	case "ILIKE":
		return likeRE(c.vals[0], true).MatchString(val)
	}
	in := false
	for _, v := range c.vals {
		in = in || v == val
	}
	return in == (c.op == "IN")
}

// likeRE turns a SQL LIKE pattern (% any run, _ one character) into a
// regexp anchored at both ends.
func likeRE(pat string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?is)^")
	} else {
		b.WriteString("(?s)^")
	}
	for _, r := range pat {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
