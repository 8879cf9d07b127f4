package tracking

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
)

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }

// View types, as MLflow names them.
const (
	ViewActive  = "ACTIVE_ONLY"
	ViewDeleted = "DELETED_ONLY"
	ViewAll     = "ALL"
)

// SearchRequest asks for a page of runs.
type SearchRequest struct {
	// ExperimentIDs to search; empty means all experiments.
	ExperimentIDs []string `json:"experimentIds"`
	Query         string   `json:"query"`
	// OrderBy entries like "metrics.auc DESC", "start_time", "params.lr ASC".
	// Runs missing the column sort last either way; ties fall back to
	// newest first.
	OrderBy []string `json:"orderBy"`
	// MaxResults per page: default 1000, at most 50,000.
	MaxResults int    `json:"maxResults"`
	PageToken  string `json:"pageToken"`
	// Offset, when PageToken is empty, starts the page at that match (the
	// virtualised table jumps straight to the rows scrolled into view).
	Offset int `json:"offset"`
	// ViewType: ACTIVE_ONLY (default), DELETED_ONLY or ALL.
	ViewType string `json:"viewType"`
	// Columns, when set, trims each run's params, tags and metrics to these
	// columns ("metrics.auc", "params.model"), which keeps a page of a wide
	// table small. Nil returns everything.
	Columns []string `json:"columns"`
}

// SearchResult is one page.
type SearchResult struct {
	Runs          []Run  `json:"runs"`
	NextPageToken string `json:"nextPageToken"`
	// Total is how many runs matched, across all pages.
	Total int `json:"total"`
	// Offset of the first run of this page among all matches.
	Offset int `json:"offset"`
}

type orderKey struct {
	col  Column
	desc bool
}

func parseOrderBy(specs []string) ([]orderKey, error) {
	var out []orderKey
	for _, spec := range specs {
		s := strings.TrimSpace(spec)
		desc := false
		up := strings.ToUpper(s)
		switch {
		case strings.HasSuffix(up, " DESC"):
			desc, s = true, strings.TrimSpace(s[:len(s)-5])
		case strings.HasSuffix(up, " ASC"):
			s = strings.TrimSpace(s[:len(s)-4])
		}
		c, err := ParseColumn(s)
		if err != nil {
			return nil, core.Errorf(core.Invalid, "Sort %q: %s", spec, core.ErrorMessage(err))
		}
		out = append(out, orderKey{c, desc})
	}
	return out, nil
}

// PageToken encodes an offset; tokens are opaque to clients.
func pageToken(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(off)))
}

func parsePageToken(t string) (int, error) {
	if t == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err == nil {
		if n, err := strconv.Atoi(string(b)); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, core.Errorf(core.Invalid, "The page token %q is not one this server issued.", t)
}

// SearchRuns filters, sorts and pages runs. A bad query is an Invalid
// error carrying a *QueryError (see AsQueryError) that points at the token.
func (s *Service) SearchRuns(req SearchRequest) (SearchResult, error) {
	var runs []Run
	var cols *columnSet
	res, err := s.search(req, func(c *columnSet) { cols = c }, func(r *Run) { runs = append(runs, cols.copy(r)) })
	if runs == nil {
		runs = []Run{}
	}
	res.Runs = runs
	return res, err
}

// SearchRunsFunc is SearchRuns for encoders: fn sees each run of the page,
// in order, under the service's read lock, without copies. fn must not
// keep r or call back into the service. Result.Runs is left empty.
func (s *Service) SearchRunsFunc(req SearchRequest, fn func(r *Run)) (SearchResult, error) {
	return s.search(req, func(*columnSet) {}, fn)
}

func (s *Service) search(req SearchRequest, setCols func(*columnSet), emit func(r *Run)) (SearchResult, error) {
	q, err := ParseQuery(req.Query)
	if err != nil {
		return SearchResult{}, err
	}
	order, err := parseOrderBy(req.OrderBy)
	if err != nil {
		return SearchResult{}, err
	}
	limit := req.MaxResults
	if limit <= 0 {
		limit = 1000
	}
	if limit > 50000 {
		return SearchResult{}, core.Errorf(core.Invalid, "max_results may be at most 50000; got %d.", limit)
	}
	off, err := parsePageToken(req.PageToken)
	if err != nil {
		return SearchResult{}, err
	}
	if req.PageToken == "" && req.Offset > 0 {
		off = req.Offset
	}
	view := req.ViewType
	if view == "" {
		view = ViewActive
	}
	if view != ViewActive && view != ViewDeleted && view != ViewAll {
		return SearchResult{}, core.Errorf(core.Invalid, "View type must be ACTIVE_ONLY, DELETED_ONLY or ALL, not %q.", view)
	}
	var cols *columnSet
	if req.Columns != nil {
		cols = &columnSet{m: map[string]bool{}, p: map[string]bool{}, t: map[string]bool{}}
		for _, c := range req.Columns {
			pc, err := ParseColumn(c)
			if err != nil {
				return SearchResult{}, core.Errorf(core.Invalid, "Column %q: %s", c, core.ErrorMessage(err))
			}
			switch pc.Kind {
			case colMetric:
				cols.m[pc.Name] = true
			case colParam:
				cols.p[pc.Name] = true
			case colTag:
				cols.t[pc.Name] = true
			}
		}
	}
	setCols(cols)
	exps := map[string]bool{}
	for _, e := range req.ExperimentIDs {
		exps[e] = true
	}
	now := s.nowMs()

	s.mu.RLock()
	defer s.mu.RUnlock()
	for e := range exps {
		if _, ok := s.exps[e]; !ok {
			return SearchResult{}, core.Errorf(core.NotFound, "No experiment with id %q.", e)
		}
	}
	hits := make([]*Run, 0, 256)
	for _, r := range s.runs {
		if len(exps) > 0 && !exps[r.ExperimentID] {
			continue
		}
		switch view {
		case ViewActive:
			if r.LifecycleStage != StageActive {
				continue
			}
		case ViewDeleted:
			if r.LifecycleStage != StageDeleted {
				continue
			}
		}
		if q.Match(r, now) {
			hits = append(hits, r)
		}
	}
	sortRuns(hits, order, now)
	res := SearchResult{Total: len(hits), Offset: off}
	if off < len(hits) {
		end := min(off+limit, len(hits))
		for _, r := range hits[off:end] {
			emit(r)
		}
		if end < len(hits) {
			res.NextPageToken = pageToken(end)
		}
	}
	return res, nil
}

type columnSet struct{ m, p, t map[string]bool }

func (c *columnSet) copy(r *Run) Run {
	if c == nil {
		return copyRun(r)
	}
	out := *r
	out.Metrics = map[string]Point{}
	for k := range c.m {
		if v, ok := r.Metrics[k]; ok {
			out.Metrics[k] = v
		}
	}
	out.Params = map[string]string{}
	for k := range c.p {
		if v, ok := r.Params[k]; ok {
			out.Params[k] = v
		}
	}
	out.Tags = map[string]string{}
	for k := range c.t {
		if v, ok := r.Tags[k]; ok {
			out.Tags[k] = v
		}
	}
	return out
}

func sortRuns(runs []*Run, order []orderKey, now int64) {
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i], runs[j]
		for _, o := range order {
			an, as, anum, aok := lookup(o.col, a, now)
			bn, bs, _, bok := lookup(o.col, b, now)
			if aok != bok {
				return aok // missing last, whatever the direction
			}
			if !aok {
				continue
			}
			if !anum {
				// text columns holding numbers sort as numbers
				af, e1 := strconv.ParseFloat(as, 64)
				bf, e2 := strconv.ParseFloat(bs, 64)
				if e1 == nil && e2 == nil {
					an, bn, anum = af, bf, true
				}
			}
			var c int
			if anum {
				c = cmpNum(an, bn)
			} else {
				c = strings.Compare(as, bs)
			}
			if c != 0 {
				return (c < 0) != o.desc
			}
		}
		if a.StartTime != b.StartTime {
			return a.StartTime > b.StartTime
		}
		return a.ID > b.ID
	})
}

// cmpNum orders numbers with NaN above everything (as MLflow sorts it).
func cmpNum(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Columns lists every metric, param and tag name used by runs of the given
// experiments (all when empty), for the column picker: "metrics.auc", ...
func (s *Service) Columns(experimentIDs []string) []string {
	exps := map[string]bool{}
	for _, e := range experimentIDs {
		exps[e] = true
	}
	seen := map[string]bool{}
	s.mu.RLock()
	for _, r := range s.runs {
		if r.LifecycleStage != StageActive || (len(exps) > 0 && !exps[r.ExperimentID]) {
			continue
		}
		for k := range r.Metrics {
			seen["metrics."+k] = true
		}
		for k := range r.Params {
			seen["params."+k] = true
		}
		for k := range r.Tags {
			seen["tags."+k] = true
		}
	}
	s.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RunsWithParam uses the param index: ids of runs whose param key equals
// value, without touching the runs themselves.
func (s *Service) RunsWithParam(key, value string) ([]string, error) {
	return s.indexLookup(kParamIdx, key, value)
}

// RunsWithTag is RunsWithParam for tags.
func (s *Service) RunsWithTag(key, value string) ([]string, error) {
	return s.indexLookup(kTagIdx, key, value)
}

func (s *Service) indexLookup(kind byte, key, value string) ([]string, error) {
	p := indexKey(kind, key, value, "")
	var ids []string
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, p, false, func(k, _ []byte) error {
			ids = append(ids, string(k[len(p):]))
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not read its run index.")
	}
	return ids, nil
}

// SaveView stores (or replaces) a named search.
func (s *Service) SaveView(v SavedView) error {
	v.Name = strings.TrimSpace(v.Name)
	if v.Name == "" {
		return core.Errorf(core.Invalid, "A saved view needs a name.")
	}
	if len(v.Name) > 200 {
		return core.Errorf(core.Invalid, "A saved view name may be at most 200 characters.")
	}
	if _, err := ParseQuery(v.Query); err != nil {
		return err
	}
	if _, err := parseOrderBy(v.OrderBy); err != nil {
		return err
	}
	b, _ := json.Marshal(v)
	if err := s.db.Update(func(txn *badger.Txn) error {
		if err := audit.Append(txn, audit.Record{Action: "view.save", Objects: []audit.Object{{Kind: "view", ID: v.Name, Name: v.Name}}, After: v.Query}); err != nil {
			return err
		}
		return txn.Set(viewKey(v.Name), b)
	}); err != nil {
		return core.Wrap(err, core.Internal, "Tern could not save view %q.", v.Name)
	}
	return nil
}

// Views lists saved views by name.
func (s *Service) Views() ([]SavedView, error) {
	out := []SavedView{}
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, []byte{kView}, true, func(_, v []byte) error {
			var sv SavedView
			if err := json.Unmarshal(v, &sv); err != nil {
				return err
			}
			out = append(out, sv)
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not read saved views.")
	}
	return out, nil
}

// DeleteView removes a saved view.
func (s *Service) DeleteView(name string) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(viewKey(name)); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "view.delete", Objects: []audit.Object{{Kind: "view", ID: name, Name: name}}}); err != nil {
			return err
		}
		return txn.Delete(viewKey(name))
	})
	if err == badger.ErrKeyNotFound {
		return core.Errorf(core.NotFound, "No saved view named %q.", name)
	}
	if err != nil {
		return core.Wrap(err, core.Internal, "Tern could not delete view %q.", name)
	}
	return nil
}

// CheckQuery is for the query box: nil when q parses, else where it is
// wrong.
func CheckQuery(q string) *QueryError {
	return parseQuery(q).err
}
