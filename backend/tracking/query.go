package tracking

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tern-studio/tern/backend/core"
)

// The search language, a superset of MLflow's filter strings:
//
//	query   = or
//	or      = and { "or" and }
//	and     = not { "and" not }
//	not     = "not" not | "(" query ")" | compare
//	compare = column op value | column "is" ["not"] "null"
//	          | column ["not"] "in" "(" value {"," value} ")"
//	column  = ("metrics"|"params"|"tags"|"attributes") "." name | attribute
//	op      = "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
//
// Names may be quoted with backticks or quotes (tags."mlflow.user");
// unquoted they may contain letters, digits and _ . - / :. Keywords are
// case-insensitive. A run without the column never matches a comparison
// (as in SQL and MLflow); "not" turns that into a match.

// QueryError points at the part of a query that is wrong. Start and End
// are byte offsets (End exclusive); Column is 1-based, in characters.
type QueryError struct {
	Start, End int
	Column     int
	Token      string
	Msg        string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("Query error at column %d: %s", e.Column, e.Msg)
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tQuoted // backtick
	tNumber
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	kind       tokKind
	text       string // raw for words/ops/numbers, unquoted for strings
	start, end int
}

func lex(q string) ([]token, *QueryError) {
	var out []token
	i := 0
	for i < len(q) {
		c, w := utf8.DecodeRuneInString(q[i:])
		switch {
		case unicode.IsSpace(c):
			i += w
		case c == '(':
			out = append(out, token{tLParen, "(", i, i + 1})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i, i + 1})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i, i + 1})
			i++
		case c == '=' || c == '!' || c == '<' || c == '>':
			j := i + 1
			if j < len(q) && (q[j] == '=' || (c == '<' && q[j] == '>')) {
				j++
			}
			op := q[i:j]
			if op == "!" {
				return nil, qerr(q, i, j, "'!' must be followed by '=' (write != for 'not equal', or the word not)")
			}
			if op == "==" {
				op = "="
			}
			out = append(out, token{tOp, op, i, j})
			i = j
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			var sb strings.Builder
			closed := false
			for j < len(q) {
				if q[j] == '\\' && j+1 < len(q) {
					sb.WriteByte(q[j+1])
					j += 2
					continue
				}
				if rune(q[j]) == c {
					if j+1 < len(q) && rune(q[j+1]) == c { // doubled quote
						sb.WriteByte(q[j])
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				sb.WriteByte(q[j])
				j++
			}
			if !closed {
				return nil, qerr(q, i, len(q), fmt.Sprintf("the quote %c opened here is never closed", c))
			}
			k := tString
			if c == '`' {
				k = tQuoted
			}
			out = append(out, token{k, sb.String(), i, j})
			i = j
		case unicode.IsDigit(c) || ((c == '-' || c == '+' || c == '.') && i+1 < len(q) && (isDigit(q[i+1]) || q[i+1] == '.')):
			j := i + 1
			for j < len(q) && (isDigit(q[j]) || q[j] == '.' || q[j] == 'e' || q[j] == 'E' ||
				((q[j] == '-' || q[j] == '+') && (q[j-1] == 'e' || q[j-1] == 'E'))) {
				j++
			}
			if j < len(q) && isWordByte(q[j]) {
				for j < len(q) && isWordByte(q[j]) {
					j++
				}
				return nil, qerr(q, i, j, fmt.Sprintf("%q is not a number; quote text values", q[i:j]))
			}
			if _, err := strconv.ParseFloat(q[i:j], 64); err != nil {
				return nil, qerr(q, i, j, fmt.Sprintf("%q is not a number", q[i:j]))
			}
			out = append(out, token{tNumber, q[i:j], i, j})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(q) {
				r, rw := utf8.DecodeRuneInString(q[j:])
				if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == '-' || r == '/' || r == ':') {
					break
				}
				j += rw
			}
			out = append(out, token{tWord, q[i:j], i, j})
			i = j
		default:
			return nil, qerr(q, i, i+w, fmt.Sprintf("unexpected character %q", c))
		}
	}
	out = append(out, token{tEOF, "", len(q), len(q)})
	return out, nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
}

func qerr(q string, start, end int, msg string) *QueryError {
	if end < start {
		end = start
	}
	tok := ""
	if start < len(q) {
		tok = q[start:min(end, len(q))]
	}
	return &QueryError{Start: start, End: end, Column: utf8.RuneCountInString(q[:start]) + 1, Token: tok, Msg: msg}
}

// column kinds
const (
	colMetric = 'm'
	colParam  = 'p'
	colTag    = 't'
	colAttr   = 'a'
)

// Column is a parsed column reference: kind m/p/t/a and the name.
type Column struct {
	Kind byte
	Name string
}

func (c Column) String() string {
	switch c.Kind {
	case colMetric:
		return "metrics." + c.Name
	case colParam:
		return "params." + c.Name
	case colTag:
		return "tags." + c.Name
	}
	return "attributes." + c.Name
}

// attributes maps accepted spellings to the canonical attribute name.
var attributes = map[string]string{
	"status": "status", "run_name": "run_name", "name": "run_name", "run_id": "run_id", "id": "run_id",
	"user_id": "user_id", "user": "user_id", "experiment_id": "experiment_id",
	"start_time": "start_time", "created": "start_time", "end_time": "end_time", "duration": "duration",
	"artifact_uri": "artifact_uri", "lifecycle_stage": "lifecycle_stage", "source": "source",
	"dataset_version": "dataset_version", "image_digest": "image_digest", "git_commit": "git_commit",
}

var numericAttr = map[string]bool{"start_time": true, "end_time": true, "duration": true}

func kindOf(prefix string) (byte, bool) {
	switch strings.ToLower(prefix) {
	case "metrics", "metric":
		return colMetric, true
	case "params", "param", "parameters", "parameter":
		return colParam, true
	case "tags", "tag":
		return colTag, true
	case "attributes", "attribute", "attr", "run":
		return colAttr, true
	}
	return 0, false
}

type node interface {
	match(r *Run, now int64) bool
}

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

func (n andNode) match(r *Run, now int64) bool { return n.l.match(r, now) && n.r.match(r, now) }
func (n orNode) match(r *Run, now int64) bool  { return n.l.match(r, now) || n.r.match(r, now) }
func (n notNode) match(r *Run, now int64) bool { return !n.x.match(r, now) }

type cmpNode struct {
	col   Column
	op    string // = != < <= > >= like ilike in notin isnull notnull
	num   float64
	isNum bool
	str   string
	list  []string
	re    *regexp.Regexp
}

// Query is a parsed search; the zero Query (empty text) matches every run.
type Query struct {
	root node
	Text string
}

// ParseQuery parses q; errors are *QueryError wrapped in a core.Error
// (code invalid) whose message names the column and the bad token.
func ParseQuery(q string) (*Query, error) {
	qe := parseQuery(q)
	if qe.err != nil {
		return nil, &core.Error{Code: core.Invalid, Msg: qe.err.Error(), Err: qe.err}
	}
	return qe.q, nil
}

type parseResult struct {
	q   *Query
	err *QueryError
}

func parseQuery(q string) parseResult {
	if strings.TrimSpace(q) == "" {
		return parseResult{q: &Query{Text: q}}
	}
	toks, err := lex(q)
	if err != nil {
		return parseResult{err: err}
	}
	p := &parser{q: q, toks: toks}
	n, err := p.or()
	if err != nil {
		return parseResult{err: err}
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return parseResult{err: p.errAt(t, "this ')' has no matching '('")}
		}
		return parseResult{err: p.errAt(t, fmt.Sprintf("expected and, or or the end of the query, found %s", describe(t)))}
	}
	return parseResult{q: &Query{root: n, Text: q}}
}

// AsQueryError extracts the position of a query error, if err is one.
func AsQueryError(err error) (*QueryError, bool) {
	var ce *core.Error
	if e, ok := err.(*core.Error); ok {
		ce = e
	}
	if ce == nil {
		return nil, false
	}
	qe, ok := ce.Err.(*QueryError)
	return qe, ok
}

// Match reports whether the run matches.
func (q *Query) Match(r *Run, now int64) bool {
	return q == nil || q.root == nil || q.root.match(r, now)
}

type parser struct {
	q    string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) errAt(t token, msg string) *QueryError { return qerr(p.q, t.start, t.end, msg) }

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "the end of the query"
	case tString:
		return fmt.Sprintf("the text %q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func isKw(t token, kw string) bool { return t.kind == tWord && strings.EqualFold(t.text, kw) }

func (p *parser) or() (node, *QueryError) {
	return p.chain("or", p.and, func(l, r node) node { return orNode{l, r} })
}

func (p *parser) and() (node, *QueryError) {
	return p.chain("and", p.not, func(l, r node) node { return andNode{l, r} })
}

// chain parses operand (kw operand)*, joining left to right, so "a or b
// or c" is (a or b) or c.
func (p *parser) chain(kw string, operand func() (node, *QueryError), join func(l, r node) node) (node, *QueryError) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for isKw(p.peek(), kw) {
		p.next()
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = join(l, r)
	}
	return l, nil
}

func (p *parser) not() (node, *QueryError) {
	t := p.peek()
	switch {
	case isKw(t, "not"):
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case t.kind == tLParen:
		p.next()
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			if c.kind == tEOF {
				return nil, p.errAt(t, "this '(' is never closed")
			}
			return nil, p.errAt(c, fmt.Sprintf("expected ')' to close the '(' at column %d, found %s", qerr(p.q, t.start, t.end, "").Column, describe(c)))
		}
		p.next()
		return x, nil
	}
	return p.compare()
}

func (p *parser) column() (Column, *QueryError) {
	t := p.next()
	switch t.kind {
	case tWord:
	case tEOF:
		return Column{}, p.errAt(t, "expected a comparison such as metrics.auc > 0.9, but the query ended")
	default:
		return Column{}, p.errAt(t, fmt.Sprintf("expected a column such as metrics.auc, params.model or status, found %s", describe(t)))
	}
	for _, kw := range []string{"and", "or"} {
		if isKw(t, kw) {
			return Column{}, p.errAt(t, fmt.Sprintf("expected a comparison before %q", t.text))
		}
	}
	word := t.text
	dot := strings.IndexByte(word, '.')
	if dot < 0 {
		if a, ok := attributes[strings.ToLower(word)]; ok {
			return Column{colAttr, a}, nil
		}
		return Column{}, p.errAt(t, fmt.Sprintf("unknown column %q; write metrics.%s, params.%s or tags.%s", word, word, word, word))
	}
	kind, ok := kindOf(word[:dot])
	if !ok {
		return Column{}, qerr(p.q, t.start, t.start+dot, fmt.Sprintf("unknown column kind %q; use metrics, params, tags or attributes", word[:dot]))
	}
	name := word[dot+1:]
	if name == "" {
		// tags."mlflow.user" or metrics.`val loss`
		n := p.peek()
		if (n.kind == tString || n.kind == tQuoted) && n.start == t.end {
			p.next()
			name = n.text
		}
	}
	if name == "" {
		return Column{}, p.errAt(t, fmt.Sprintf("%q needs a name after the dot", word))
	}
	if kind == colAttr {
		a, ok := attributes[strings.ToLower(name)]
		if !ok {
			return Column{}, qerr(p.q, t.start+dot+1, t.end, fmt.Sprintf("unknown attribute %q; known: status, run_name, run_id, user_id, start_time, end_time, duration, source, dataset_version, image_digest, git_commit", name))
		}
		name = a
	}
	return Column{kind, name}, nil
}

func (p *parser) compare() (node, *QueryError) {
	// A column may also be written as a quoted name alone only with a kind
	// prefix; a bare string here is a mistake worth pointing at.
	if t := p.peek(); t.kind == tString || t.kind == tQuoted || t.kind == tNumber {
		return nil, p.errAt(t, fmt.Sprintf("expected a column such as metrics.auc before %s", describe(t)))
	}
	colTok := p.peek()
	col, err := p.column()
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	n := cmpNode{col: col}
	switch {
	case opTok.kind == tOp:
		n.op = opTok.text
		if n.op == "<>" {
			n.op = "!="
		}
	case isKw(opTok, "like"), isKw(opTok, "ilike"):
		n.op = strings.ToLower(opTok.text)
	case isKw(opTok, "in"):
		n.op = "in"
	case isKw(opTok, "not"):
		if in := p.next(); isKw(in, "in") {
			n.op = "notin"
		} else if isKw(in, "like") || isKw(in, "ilike") {
			v, err := p.value(in, &n, strings.ToLower(in.text))
			if err != nil {
				return nil, err
			}
			return notNode{v}, nil
		} else {
			return nil, p.errAt(in, fmt.Sprintf("expected in or like after not, found %s", describe(in)))
		}
	case isKw(opTok, "is"):
		neg := false
		nt := p.next()
		if isKw(nt, "not") {
			neg = true
			nt = p.next()
		}
		if !isKw(nt, "null") {
			return nil, p.errAt(nt, fmt.Sprintf("expected null after is, found %s", describe(nt)))
		}
		n.op = "isnull"
		if neg {
			n.op = "notnull"
		}
		return n, nil
	case opTok.kind == tEOF:
		return nil, p.errAt(opTok, fmt.Sprintf("expected an operator (=, !=, <, <=, >, >=, like, in) after %s, but the query ended", p.q[colTok.start:colTok.end]))
	default:
		return nil, p.errAt(opTok, fmt.Sprintf("expected an operator (=, !=, <, <=, >, >=, like, in) after %s, found %s", p.q[colTok.start:colTok.end], describe(opTok)))
	}
	return p.value(opTok, &n, n.op)
}

func (p *parser) value(opTok token, n *cmpNode, op string) (node, *QueryError) {
	n.op = op
	numericCol := n.col.Kind == colMetric || (n.col.Kind == colAttr && numericAttr[n.col.Name])
	if op == "in" || op == "notin" {
		if l := p.next(); l.kind != tLParen {
			return nil, p.errAt(l, fmt.Sprintf("expected '(' and a list of values after in, found %s", describe(l)))
		}
		for {
			v := p.next()
			switch v.kind {
			case tString, tNumber:
				n.list = append(n.list, v.text)
			default:
				return nil, p.errAt(v, fmt.Sprintf("expected a value in the list, found %s", describe(v)))
			}
			sepTok := p.next()
			if sepTok.kind == tRParen {
				break
			}
			if sepTok.kind != tComma {
				return nil, p.errAt(sepTok, fmt.Sprintf("expected ',' or ')' in the list, found %s", describe(sepTok)))
			}
		}
		if numericCol {
			for _, s := range n.list {
				if _, err := strconv.ParseFloat(s, 64); err != nil {
					return nil, p.errAt(opTok, fmt.Sprintf("%s holds numbers; %q in the list is not one", n.col, s))
				}
			}
		}
		return *n, nil
	}
	if (op == "like" || op == "ilike") && numericCol {
		return nil, p.errAt(opTok, fmt.Sprintf("%s holds numbers; like only works on params, tags and text attributes", n.col))
	}
	v := p.next()
	switch v.kind {
	case tNumber:
		f, _ := strconv.ParseFloat(v.text, 64)
		n.num, n.isNum, n.str = f, true, v.text
	case tString:
		n.str = v.text
		if numericCol {
			f, err := strconv.ParseFloat(v.text, 64)
			if err != nil {
				if lf, ok := nonFinite(v.text); ok {
					f = lf
				} else {
					return nil, p.errAt(v, fmt.Sprintf("%s holds numbers; compare it with a number, not the text %q", n.col, v.text))
				}
			}
			n.num, n.isNum = f, true
		}
	case tWord:
		if f, ok := nonFinite(v.text); ok && numericCol {
			n.num, n.isNum, n.str = f, true, v.text
			break
		}
		return nil, p.errAt(v, fmt.Sprintf("expected a number or a quoted text after %s, found %s (quote text values: '%s')", opTok.text, describe(v), v.text))
	case tEOF:
		return nil, p.errAt(v, fmt.Sprintf("expected a value after %s, but the query ended", opTok.text))
	default:
		return nil, p.errAt(v, fmt.Sprintf("expected a number or a quoted text after %s, found %s", opTok.text, describe(v)))
	}
	if op == "like" || op == "ilike" {
		n.re = likeRegexp(n.str, op == "ilike")
	}
	return *n, nil
}

func nonFinite(s string) (float64, bool) {
	switch strings.ToLower(s) {
	case "nan":
		return math.NaN(), true
	case "inf", "infinity", "+inf", "+infinity":
		return math.Inf(1), true
	case "-inf", "-infinity":
		return math.Inf(-1), true
	}
	return 0, false
}

// likeRegexp turns a SQL LIKE pattern (% any run, _ one character) into
// an anchored regexp.
func likeRegexp(pat string, fold bool) *regexp.Regexp {
	var sb strings.Builder
	if fold {
		sb.WriteString("(?is)^")
	} else {
		sb.WriteString("(?s)^")
	}
	for _, c := range pat {
		switch c {
		case '%':
			sb.WriteString(".*")
		case '_':
			sb.WriteString(".")
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	sb.WriteString("$")
	return regexp.MustCompile(sb.String())
}

// lookup reads a column of r: numeric value, text value, presence.
func lookup(c Column, r *Run, now int64) (num float64, str string, isNum bool, ok bool) {
	switch c.Kind {
	case colMetric:
		p, ok := r.Metrics[c.Name]
		return float64(p.Value), "", true, ok
	case colParam:
		v, ok := r.Params[c.Name]
		return 0, v, false, ok
	case colTag:
		v, ok := r.Tags[c.Name]
		return 0, v, false, ok
	}
	switch c.Name {
	case "status":
		return 0, string(r.Status), false, true
	case "run_name":
		return 0, r.Name, false, true
	case "run_id":
		return 0, r.ID, false, true
	case "user_id":
		return 0, r.UserID, false, true
	case "experiment_id":
		return 0, r.ExperimentID, false, true
	case "artifact_uri":
		return 0, r.ArtifactURI, false, true
	case "lifecycle_stage":
		return 0, r.LifecycleStage, false, true
	case "source":
		return 0, r.Source, false, r.Source != ""
	case "dataset_version":
		return 0, r.DatasetVersion, false, r.DatasetVersion != ""
	case "image_digest":
		return 0, r.ImageDigest, false, r.ImageDigest != ""
	case "git_commit":
		return 0, r.GitCommit, false, r.GitCommit != ""
	case "start_time":
		return float64(r.StartTime), "", true, r.StartTime != 0
	case "end_time":
		return float64(r.EndTime), "", true, r.EndTime != 0
	case "duration":
		return float64(r.Duration(timeMs(now))), "", true, r.StartTime != 0
	}
	return 0, "", false, false
}

func (n cmpNode) match(r *Run, now int64) bool {
	num, str, isNum, ok := lookup(n.col, r, now)
	switch n.op {
	case "isnull":
		return !ok
	case "notnull":
		return ok
	}
	if !ok {
		return false
	}
	switch n.op {
	case "in", "notin":
		hit := false
		for _, v := range n.list {
			if isNum {
				f, _ := strconv.ParseFloat(v, 64)
				hit = f == num
			} else {
				hit = v == str
			}
			if hit {
				break
			}
		}
		return hit == (n.op == "in")
	case "like", "ilike":
		return n.re.MatchString(str)
	}
	if !isNum && n.isNum {
		// params and tags are text, but "params.lr > 0.01" means numbers
		// when the value is one.
		if f, err := strconv.ParseFloat(strings.TrimSpace(str), 64); err == nil {
			num, isNum = f, true
		}
	}
	if isNum {
		return cmpFloat(n.op, num, n.num)
	}
	return cmpOrdered(n.op, str, n.str)
}

// cmpFloat is cmpOrdered where NaN equals NaN, as MLflow compares metrics.
func cmpFloat(op string, a, b float64) bool {
	if math.IsNaN(a) && math.IsNaN(b) && (op == "=" || op == "!=") {
		return op == "="
	}
	return cmpOrdered(op, a, b)
}

func cmpOrdered[T cmp.Ordered](op string, a, b T) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// ParseColumn reads one column reference, as used by order-by and the
// column picker ("metrics.auc", "params.`learning rate`", "start_time").
func ParseColumn(s string) (Column, error) {
	toks, qe := lex(s)
	if qe != nil {
		return Column{}, &core.Error{Code: core.Invalid, Msg: qe.Error(), Err: qe}
	}
	p := &parser{q: s, toks: toks}
	c, qe := p.column()
	if qe == nil && p.peek().kind != tEOF {
		qe = p.errAt(p.peek(), fmt.Sprintf("unexpected %s after the column", describe(p.peek())))
	}
	if qe != nil {
		return Column{}, &core.Error{Code: core.Invalid, Msg: qe.Error(), Err: qe}
	}
	return c, nil
}
