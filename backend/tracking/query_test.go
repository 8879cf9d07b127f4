package tracking

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
)

// fixture: four runs with different shapes
func searchFixture(t *testing.T) (*Service, map[string]string) {
	s := newSvc(t)
	e, err := s.CreateExperiment("exp", nil)
	require.NoError(t, err)
	ids := map[string]string{}
	mk := func(name string, params, tags map[string]string, metrics map[string]float64, start int64) {
		r, err := s.CreateRun(RunSpec{ExperimentID: e.ID, Name: name, Params: params, Tags: tags, StartTime: start, UserID: "ana"})
		require.NoError(t, err)
		var ms []Metric
		for k, v := range metrics {
			ms = append(ms, Metric{Key: k, Value: Float(v), Timestamp: 1})
		}
		require.NoError(t, s.LogMetrics(r.ID, ms))
		ids[name] = r.ID
	}
	mk("a", map[string]string{"model": "gbdt", "lr": "0.1"}, map[string]string{"team": "risk"}, map[string]float64{"auc": 0.95, "val loss": 0.2}, 1000)
	mk("b", map[string]string{"model": "linear", "lr": "0.01"}, map[string]string{"team": "risk"}, map[string]float64{"auc": 0.80}, 2000)
	mk("c", map[string]string{"model": "gbdt", "lr": "1e-3"}, map[string]string{"team": "growth", "mlflow.user": "bo"}, map[string]float64{"auc": 0.91, "f1": math.NaN()}, 3000)
	mk("d", map[string]string{"model": "mlp"}, nil, nil, 4000)
	require.NoError(t, s.EndRun(ids["d"], StatusFailed))
	return s, ids
}

func TestSearchQueries(t *testing.T) {
	s, ids := searchFixture(t)
	cases := []struct {
		q    string
		want []string // run names, in default order (newest first)
	}{
		{``, []string{"d", "c", "b", "a"}},
		{`metrics.auc > 0.9`, []string{"c", "a"}},
		{`metrics.auc > 0.9 and (params.model = "gbdt" or tags.team = "risk")`, []string{"c", "a"}},
		{`metrics.auc > 0.9 AND params.model = 'gbdt' AND tags.team = 'risk'`, []string{"a"}},
		{`params.model = "linear" OR params.model = "mlp"`, []string{"d", "b"}},
		{`not params.model = "gbdt"`, []string{"d", "b"}},
		{`NOT (metrics.auc > 0.9)`, []string{"d", "b"}},
		{`metrics.auc >= 0.8 and not tags.team = "growth"`, []string{"b", "a"}},
		{"metrics.`val loss` < 0.5", []string{"a"}},
		{`metrics."val loss" < 0.5`, []string{"a"}},
		{`tags."mlflow.user" = "bo"`, []string{"c"}},
		{`tags.mlflow.user = "bo"`, []string{"c"}},
		{`params.lr > 0.005`, []string{"b", "a"}},
		{`params.lr = 0.001`, []string{"c"}},
		{`params.model like "g%"`, []string{"c", "a"}},
		{`params.model ILIKE "GB__"`, []string{"c", "a"}},
		{`params.model not like "g%"`, []string{"d", "b"}},
		{`params.model in ("mlp", "linear")`, []string{"d", "b"}},
		{`params.model not in ("mlp", "linear")`, []string{"c", "a"}},
		{`tags.team is null`, []string{"d"}},
		{`tags.team is not null and metrics.auc < 0.9`, []string{"b"}},
		{`status = "FAILED"`, []string{"d"}},
		{`attributes.status != "FAILED"`, []string{"c", "b", "a"}},
		{`attributes.run_name = "b" or run_name = 'c'`, []string{"c", "b"}},
		{`start_time >= 2000 and start_time < 4000`, []string{"c", "b"}},
		{`metrics.f1 = NaN`, []string{"c"}},
		{`metrics.f1 > 0`, nil},
		{`metrics.auc != 0.95`, []string{"c", "b"}},
		{`((metrics.auc > 0.9))`, []string{"c", "a"}},
		{`params.model = "gbdt" or params.model = "linear" and metrics.auc > 0.9`, []string{"c", "a"}}, // and binds tighter
		{`user_id = "ana" and run_id = "` + ids["a"] + `"`, []string{"a"}},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			res, err := s.SearchRuns(SearchRequest{Query: c.q})
			require.NoError(t, err)
			var got []string
			for _, r := range res.Runs {
				got = append(got, r.Name)
			}
			assert.Equal(t, c.want, got)
			assert.Equal(t, len(c.want), res.Total)
		})
	}
}

func TestQueryErrorsPointAtTheToken(t *testing.T) {
	cases := []struct {
		q     string
		token string // text at [Start:End]
		msg   string
	}{
		{`metrics.auc >`, ``, "query ended"},
		{`metrics.auc ~ 3`, `~`, "unexpected character"},
		{`metrics.auc > 0.9 and`, ``, "query ended"},
		{`metrics.auc > 0.9 and (params.model = "gbdt" or tags.team = "risk"`, `(`, "never closed"},
		{`metrics.auc > 'high'`, `'high'`, "holds numbers"},
		{`foo = 1`, `foo`, "unknown column"},
		{`metricz.auc > 1`, `metricz`, "unknown column kind"},
		{`attributes.colour = "red"`, `colour`, "unknown attribute"},
		{`params.model = gbdt`, `gbdt`, "quote text"},
		{`params.model = "gbdt")`, `)`, "no matching"},
		{`metrics.auc > 0.9 metrics.f1 > 1`, `metrics.f1`, "expected and, or"},
		{`params.model = "unterminated`, `"unterminated`, "never closed"},
		{`metrics.auc like "x%"`, `like`, "holds numbers"},
		{`params.model in "a"`, `"a"`, "expected '('"},
		{`params.model in ("a" "b")`, `"b"`, "expected ','"},
		{`and metrics.auc > 1`, `and`, "comparison"},
		{`metrics.auc > 1 or or`, `or`, "comparison"},
		{`tags.team is red`, `red`, "null"},
		{`metrics.auc > 12abc`, `12abc`, "not a number"},
		{`metrics.auc ! 1`, `!`, "!="},
		{`metrics. > 1`, `metrics.`, "needs a name"},
		{`"auc" > 1`, `"auc"`, "expected a column"},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			_, err := ParseQuery(c.q)
			require.Error(t, err)
			assert.Equal(t, core.Invalid, core.ErrorCode(err))
			qe, ok := AsQueryError(err)
			require.True(t, ok)
			assert.Equal(t, c.token, c.q[qe.Start:qe.End])
			assert.Contains(t, qe.Msg, c.msg)
			assert.Contains(t, err.Error(), fmt.Sprintf("column %d", qe.Column))
			assert.Equal(t, qe, CheckQuery(c.q))
		})
	}
	assert.Nil(t, CheckQuery(`metrics.auc > 0.9`))
}

func TestQueryColumnCountsCharacters(t *testing.T) {
	qe := CheckQuery(`tags.équipe = "é" and ~`)
	require.NotNil(t, qe)
	assert.Equal(t, 23, qe.Column)
}

func TestSearchOrderPagingAndColumns(t *testing.T) {
	s, _ := searchFixture(t)
	res, err := s.SearchRuns(SearchRequest{OrderBy: []string{"metrics.auc DESC"}})
	require.NoError(t, err)
	names := func(rs []Run) (out []string) {
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return
	}
	assert.Equal(t, []string{"a", "c", "b", "d"}, names(res.Runs), "missing values last")
	res, _ = s.SearchRuns(SearchRequest{OrderBy: []string{"metrics.auc ASC"}})
	assert.Equal(t, []string{"b", "c", "a", "d"}, names(res.Runs), "missing values last in both directions")
	res, _ = s.SearchRuns(SearchRequest{OrderBy: []string{"params.lr"}})
	assert.Equal(t, []string{"c", "b", "a", "d"}, names(res.Runs), "numeric params sort as numbers")
	res, _ = s.SearchRuns(SearchRequest{OrderBy: []string{"params.model", "start_time DESC"}})
	assert.Equal(t, []string{"c", "a", "b", "d"}, names(res.Runs))

	var paged []string
	tok := ""
	for i := 0; i < 10; i++ {
		res, err := s.SearchRuns(SearchRequest{MaxResults: 3, PageToken: tok, OrderBy: []string{"start_time"}})
		require.NoError(t, err)
		assert.Equal(t, 4, res.Total)
		paged = append(paged, names(res.Runs)...)
		if tok = res.NextPageToken; tok == "" {
			break
		}
	}
	assert.Equal(t, []string{"a", "b", "c", "d"}, paged)

	res, err = s.SearchRuns(SearchRequest{Query: `run_name = "a"`, Columns: []string{"metrics.auc", "params.model"}})
	require.NoError(t, err)
	require.Len(t, res.Runs, 1)
	assert.Equal(t, map[string]string{"model": "gbdt"}, res.Runs[0].Params)
	assert.Len(t, res.Runs[0].Metrics, 1)
	assert.Empty(t, res.Runs[0].Tags)

	_, err = s.SearchRuns(SearchRequest{OrderBy: []string{"bogus DESC"}})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	_, err = s.SearchRuns(SearchRequest{PageToken: "garbage!"})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	_, err = s.SearchRuns(SearchRequest{ExperimentIDs: []string{"99"}})
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	cols := s.Columns(nil)
	assert.Contains(t, cols, "metrics.val loss")
	assert.Contains(t, cols, "params.lr")
	assert.Contains(t, cols, "tags.team")
}

func TestSoftDeleteHidesFromSearch(t *testing.T) {
	s, ids := searchFixture(t)
	require.NoError(t, s.SoftDelete(ids["a"]))
	res, _ := s.SearchRuns(SearchRequest{})
	assert.Equal(t, 3, res.Total)
	res, _ = s.SearchRuns(SearchRequest{ViewType: ViewDeleted})
	require.Equal(t, 1, res.Total)
	assert.Equal(t, ids["a"], res.Runs[0].ID)
	assert.Error(t, s.LogMetrics(ids["a"], []Metric{{Key: "x", Value: 1}}), "a deleted run takes no writes")
	require.NoError(t, s.Restore(ids["a"]))
	res, _ = s.SearchRuns(SearchRequest{ViewType: ViewAll})
	assert.Equal(t, 4, res.Total)
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`metrics.auc > 0.9 and (params.model = "gbdt" or tags.team = "risk")`,
		"metrics.`a b` <= -1e-3", `tags."x" in ('a','b')`, `not not status = "RUNNING"`,
		`params.x like '%a_'`, `((`, `"`, `metrics.x is not null`, `é = 1`,
	} {
		f.Add(s)
	}
	r := &Run{RunInfo: RunInfo{Status: StatusRunning, StartTime: 1}, Params: map[string]string{"model": "gbdt", "x": "ab"},
		Tags: map[string]string{"team": "risk"}, Metrics: map[string]Point{"auc": {Value: 0.95}}}
	f.Fuzz(func(t *testing.T, q string) {
		res := parseQuery(q)
		if res.err != nil {
			e := res.err
			if e.Start < 0 || e.End < e.Start || e.End > len(q) || e.Column < 1 {
				t.Fatalf("bad error span %+v for %q", e, q)
			}
			return
		}
		res.q.Match(r, 2)
	})
}
