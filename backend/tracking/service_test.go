package tracking

import (
	"bytes"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

func newSvc(t testing.TB) *Service {
	t.Helper()
	st := store.MustOpen(t)
	s, err := NewService(st, core.NewBus(), st.Dir)
	require.NoError(t, err)
	return s
}

// reopen closes nothing: it opens a second store on a fresh dir that the
// test then closes and reopens itself.
func openAt(t *testing.T, dir string) (*store.Store, *Service) {
	t.Helper()
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	s, err := NewService(st, core.NewBus(), dir)
	require.NoError(t, err)
	return st, s
}

func TestDefaultExperimentAndReload(t *testing.T) {
	dir := t.TempDir()
	st, s := openAt(t, dir)
	def, err := s.Experiment("0")
	require.NoError(t, err)
	assert.Equal(t, "Default", def.Name)

	e, err := s.CreateExperiment("fraud", map[string]string{"team": "risk"})
	require.NoError(t, err)
	assert.Equal(t, "1", e.ID)
	_, err = s.CreateExperiment("fraud", nil)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))

	r, err := s.CreateRun(RunSpec{ExperimentID: e.ID, Name: "gbdt", Params: map[string]string{"model": "gbdt"}, Tags: map[string]string{"team": "risk"}, GitCommit: "abc123"})
	require.NoError(t, err)
	require.NoError(t, s.LogMetrics(r.ID, []Metric{{Key: "auc", Value: 0.8, Step: 1, Timestamp: 10}, {Key: "auc", Value: 0.9, Step: 2, Timestamp: 20}, {Key: "loss", Value: Float(math.NaN()), Step: 0, Timestamp: 5}}))
	require.NoError(t, s.LogParams(r.ID, map[string]string{"lr": "0.1"}))
	require.NoError(t, s.SetTags(r.ID, map[string]string{"stage": "dev"}))
	require.NoError(t, s.SetNote(r.ID, "# best so far"))
	require.NoError(t, s.EndRun(r.ID, StatusFinished))
	require.NoError(t, st.Close())

	st, s = openAt(t, dir)
	defer st.Close()
	got, err := s.GetRun(r.ID)
	require.NoError(t, err)
	assert.Equal(t, "gbdt", got.Name)
	assert.Equal(t, StatusFinished, got.Status)
	assert.NotZero(t, got.EndTime)
	assert.Equal(t, "abc123", got.GitCommit)
	assert.Equal(t, "# best so far", got.Note)
	assert.Equal(t, map[string]string{"model": "gbdt", "lr": "0.1"}, got.Params)
	assert.Equal(t, "risk", got.Tags["team"])
	assert.Equal(t, "gbdt", got.Tags[TagRunName])
	assert.Equal(t, Point{Value: 0.9, Step: 2, Timestamp: 20}, got.Metrics["auc"])
	assert.True(t, math.IsNaN(float64(got.Metrics["loss"].Value)))
	e2, err := s.ExperimentByName("fraud")
	require.NoError(t, err)
	assert.Equal(t, 1, e2.RunCount)
	e3, err := s.CreateExperiment("second", nil)
	require.NoError(t, err)
	assert.Equal(t, "2", e3.ID, "the id sequence survives a restart")
	ids, err := s.RunsWithParam("model", "gbdt")
	require.NoError(t, err)
	assert.Equal(t, []string{r.ID}, ids)
}

func TestParamsImmutableAndBatchAtomic(t *testing.T) {
	s := newSvc(t)
	r, err := s.CreateRun(RunSpec{})
	require.NoError(t, err)
	require.NoError(t, s.LogParams(r.ID, map[string]string{"lr": "0.1"}))
	require.NoError(t, s.LogParams(r.ID, map[string]string{"lr": "0.1"}), "same value again is fine")
	err = s.LogBatch(r.ID, Batch{Metrics: []Metric{{Key: "m", Value: 1}}, Params: []Param{{"lr", "0.2"}}})
	require.Error(t, err)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, err.Error(), `"lr"`)
	got, _ := s.GetRun(r.ID)
	assert.Empty(t, got.Metrics, "a rejected batch writes nothing")

	tooMany := make([]Metric, MaxMetricsPerBatch+1)
	for i := range tooMany {
		tooMany[i] = Metric{Key: "x", Value: Float(i), Step: int64(i)}
	}
	cases := map[string]Batch{
		"1001 metrics":     {Metrics: tooMany},
		"101 params":       {Params: make([]Param, 101)},
		"bad metric name":  {Metrics: []Metric{{Key: "ok", Value: 1}, {Key: "bad\x00", Value: 1}}},
		"dotdot name":      {Metrics: []Metric{{Key: "ok", Value: 1}, {Key: "a/../b", Value: 1}}},
		"dup param values": {Params: []Param{{"a", "1"}, {"a", "2"}}},
		"long tag":         {Metrics: []Metric{{Key: "ok", Value: 1}}, Tags: []Tag{{"t", strings.Repeat("x", MaxTagValueLength+1)}}},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			err := s.LogBatch(r.ID, b)
			require.Error(t, err)
			assert.Equal(t, core.Invalid, core.ErrorCode(err))
			got, _ := s.GetRun(r.ID)
			assert.Empty(t, got.Metrics)
			h, _ := s.MetricHistory(r.ID, "x")
			assert.Empty(t, h)
		})
	}
	assert.Equal(t, core.NotFound, core.ErrorCode(s.LogMetrics("nope", []Metric{{Key: "a", Value: 1}})))
}

func TestLatestAndHistory(t *testing.T) {
	s := newSvc(t)
	r, _ := s.CreateRun(RunSpec{})
	pts := []Metric{
		{Key: "loss", Value: 3, Step: 5, Timestamp: 100},
		{Key: "loss", Value: 1, Step: 9, Timestamp: 50}, // highest step wins over later time
		{Key: "loss", Value: 2, Step: -1, Timestamp: 200},
		{Key: "loss", Value: Float(math.Inf(1)), Step: 3, Timestamp: 1},
		{Key: "loss", Value: Float(math.Copysign(0, -1)), Step: 4, Timestamp: 1},
		{Key: "loss", Value: 1, Step: 9, Timestamp: 50}, // exact duplicate: one point
	}
	require.NoError(t, s.LogMetrics(r.ID, pts))
	require.NoError(t, s.LogMetrics(r.ID, []Metric{{Key: "loss", Value: 7, Step: 2, Timestamp: 999}}))
	got, _ := s.GetRun(r.ID)
	assert.Equal(t, Point{Value: 1, Step: 9, Timestamp: 50}, got.Metrics["loss"])

	h, err := s.MetricHistory(r.ID, "loss")
	require.NoError(t, err)
	steps := []int64{}
	for _, p := range h {
		steps = append(steps, p.Step)
	}
	assert.Equal(t, []int64{-1, 2, 3, 4, 5, 9}, steps)
	assert.True(t, math.IsInf(float64(h[2].Value), 1))
	assert.True(t, math.Signbit(float64(h[3].Value)), "-0.0 keeps its sign")

	// paging walks the same points
	var all []Point
	var tok []byte
	for {
		page, next, err := s.MetricHistoryPage(r.ID, "loss", 4, tok)
		require.NoError(t, err)
		all = append(all, page...)
		if next == nil {
			break
		}
		tok = next
	}
	assert.Equal(t, h, all)
	// "loss" must not pick up a metric whose name extends it
	require.NoError(t, s.LogMetrics(r.ID, []Metric{{Key: "loss2", Value: 1, Timestamp: 1}}))
	h2, _ := s.MetricHistory(r.ID, "loss")
	assert.Len(t, h2, len(h))
}

func TestStatusMovesForwardAndResume(t *testing.T) {
	s := newSvc(t)
	r, _ := s.CreateRun(RunSpec{})
	require.NoError(t, s.SetStatus(r.ID, StatusCrashed, "exit 137"))
	require.NoError(t, s.EndRun(r.ID, StatusFinished), "a late end is accepted but does not hide the crash")
	got, _ := s.GetRun(r.ID)
	assert.Equal(t, StatusCrashed, got.Status)
	assert.Equal(t, "exit 137", got.StatusReason)
	end := got.EndTime
	assert.NotZero(t, end)

	require.NoError(t, s.SetStatus(r.ID, StatusRunning, ""))
	got, _ = s.GetRun(r.ID)
	assert.Equal(t, StatusRunning, got.Status)
	assert.Zero(t, got.EndTime)
	assert.Error(t, s.SetStatus(r.ID, "DONE", ""))
	assert.Error(t, s.EndRun(r.ID, StatusRunning))
}

func TestHeartbeatCrashDetection(t *testing.T) {
	s := newSvc(t)
	now := time.UnixMilli(1_000_000)
	s.Now = func() time.Time { return now }
	watched, _ := s.CreateRun(RunSpec{HeartbeatTimeout: time.Minute})
	unwatched, _ := s.CreateRun(RunSpec{})
	now = now.Add(50 * time.Second)
	require.NoError(t, s.Heartbeat(watched.ID))
	now = now.Add(50 * time.Second)
	assert.Empty(t, s.ReapCrashed(), "heartbeat 50 s ago is within the timeout")
	require.NoError(t, s.LogMetrics(watched.ID, []Metric{{Key: "m", Value: 1}}))
	now = now.Add(59 * time.Second)
	assert.Empty(t, s.ReapCrashed(), "a write counts as a heartbeat")
	now = now.Add(2 * time.Second)
	assert.Equal(t, []string{watched.ID}, s.ReapCrashed())
	got, _ := s.GetRun(watched.ID)
	assert.Equal(t, StatusCrashed, got.Status)
	assert.Contains(t, got.StatusReason, "No heartbeat")
	u, _ := s.GetRun(unwatched.ID)
	assert.Equal(t, StatusRunning, u.Status, "runs without a timeout (MLflow clients) are never reaped")
}

func TestDeleteRunFreesArtifacts(t *testing.T) {
	s := newSvc(t)
	r, _ := s.CreateRun(RunSpec{Params: map[string]string{"p": "1"}})
	require.NoError(t, s.LogMetrics(r.ID, []Metric{{Key: "m", Value: 1, Step: 1}, {Key: "m", Value: 2, Step: 2}}))
	_, err := s.LogArtifact(r.ID, "model/weights.bin", bytes.NewReader(make([]byte, 4096)))
	require.NoError(t, err)
	_, err = s.DeleteRun(r.ID)
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "a running run cannot be deleted")
	require.NoError(t, s.EndRun(r.ID, StatusFinished))
	freed, err := s.DeleteRun(r.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(4096), freed)
	assert.NoDirExists(t, filepath.Join(s.artRoot, r.ID))
	_, err = s.GetRun(r.ID)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	ids, _ := s.RunsWithParam("p", "1")
	assert.Empty(t, ids)
	n := 0
	require.NoError(t, s.db.View(func(txn *badgerTxn) error {
		for _, k := range []byte{kRun, kLatest, kHist, kParam, kTag, kBeat, kParamIdx, kTagIdx, kExpRun} {
			require.NoError(t, scan(txn, []byte{k}, false, func(key, _ []byte) error {
				if bytes.Contains(key, []byte(r.ID)) {
					n++
				}
				return nil
			}))
		}
		return nil
	}))
	assert.Zero(t, n, "no key of the run is left")
}

func TestArtifactsStayInsideTheRun(t *testing.T) {
	s := newSvc(t)
	a, _ := s.CreateRun(RunSpec{})
	b, _ := s.CreateRun(RunSpec{})
	_, err := s.LogArtifact(b.ID, "secret.txt", strings.NewReader("b's secret"))
	require.NoError(t, err)
	_, err = s.LogArtifact(a.ID, "dir/ok.txt", strings.NewReader("hello"))
	require.NoError(t, err)

	bad := []string{
		"../" + b.ID + "/secret.txt", "..", "dir/../../x", "/etc/passwd", "%2e%2e/x", "%252e%252e%252fx",
		"..%2fx", "dir\\..\\x", "C:/x", "C:\\x", "file:///etc/passwd", "x#frag", "x?q=1", "a\x00b", "a//b", "./a",
		".tern-upload-x", "a/\x7f",
	}
	for _, p := range bad {
		t.Run(p, func(t *testing.T) {
			_, err := s.LogArtifact(a.ID, p, strings.NewReader("x"))
			require.Error(t, err)
			assert.Equal(t, core.Invalid, core.ErrorCode(err))
			_, _, err = s.OpenArtifact(a.ID, p)
			assert.Error(t, err)
		})
	}
	// a symlink planted inside a's folder, pointing at b's file
	aDir, err := s.ArtifactDir(a.ID)
	require.NoError(t, err)
	require.NoError(t, os.Symlink(filepath.Join(s.artRoot, b.ID, "secret.txt"), filepath.Join(aDir, "link")))
	require.NoError(t, os.Symlink("../"+b.ID, filepath.Join(aDir, "linkdir")))
	_, _, err = s.OpenArtifact(a.ID, "link")
	require.Error(t, err)
	_, _, err = s.OpenArtifact(a.ID, "linkdir/secret.txt")
	require.Error(t, err)
	_, err = s.LogArtifact(a.ID, "linkdir/secret.txt", strings.NewReader("overwrite"))
	require.Error(t, err)
	secret, _ := os.ReadFile(filepath.Join(s.artRoot, b.ID, "secret.txt"))
	assert.Equal(t, "b's secret", string(secret))
	list, err := s.ListArtifacts(a.ID, "")
	require.NoError(t, err)
	assert.Equal(t, []Artifact{{Path: "dir", IsDir: true}}, list, "links out of the root are not listed")
	list, err = s.ListArtifacts(a.ID, "dir")
	require.NoError(t, err)
	assert.Equal(t, []Artifact{{Path: "dir/ok.txt", Size: 5}}, list)
	f, info, err := s.OpenArtifact(a.ID, "dir/ok.txt")
	require.NoError(t, err)
	body, _ := io.ReadAll(f)
	f.Close()
	assert.Equal(t, "hello", string(body))
	assert.Equal(t, int64(5), info.Size)
	entries, _ := os.ReadDir(aDir)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), tempPrefix), "no temp file left behind")
	}
}

func TestConcurrentWritersOneRun(t *testing.T) {
	s := newSvc(t)
	r, _ := s.CreateRun(RunSpec{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				assert.NoError(t, s.LogMetrics(r.ID, []Metric{{Key: "m", Value: Float(w*1000 + i), Step: int64(w*1000 + i), Timestamp: 1}}))
			}
		}(w)
	}
	wg.Wait()
	h, _ := s.MetricHistory(r.ID, "m")
	assert.Len(t, h, 400)
	got, _ := s.GetRun(r.ID)
	assert.Equal(t, int64(7049), got.Metrics["m"].Step)
}

func TestDownsample(t *testing.T) {
	pts := make([]Point, 100_000)
	for i := range pts {
		pts[i] = Point{Step: int64(i), Value: Float(math.Sin(float64(i) / 1000))}
	}
	pts[54_321].Value = 50 // a spike a stride would miss
	d := Downsample(pts, 1000)
	assert.LessOrEqual(t, len(d), 1000)
	assert.GreaterOrEqual(t, len(d), 900)
	assert.Equal(t, pts[0], d[0])
	assert.Equal(t, pts[len(pts)-1], d[len(d)-1])
	found := false
	for i, p := range d {
		if i > 0 {
			assert.Less(t, d[i-1].Step, p.Step, "steps stay ordered")
		}
		found = found || p.Value == 50
	}
	assert.True(t, found, "the spike survives")
	assert.Equal(t, pts[:10], Downsample(pts[:10], 1000))
}

func TestSavedViews(t *testing.T) {
	s := newSvc(t)
	require.NoError(t, s.SaveView(SavedView{Name: "good", Query: "metrics.auc > 0.9", OrderBy: []string{"metrics.auc DESC"}, Columns: []string{"metrics.auc"}}))
	err := s.SaveView(SavedView{Name: "bad", Query: "metrics.auc >"})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	v, err := s.Views()
	require.NoError(t, err)
	require.Len(t, v, 1)
	assert.Equal(t, "good", v[0].Name)
	require.NoError(t, s.DeleteView("good"))
	assert.Equal(t, core.NotFound, core.ErrorCode(s.DeleteView("good")))
}

func TestDeleteRunsRefusesLiveOnes(t *testing.T) {
	svc := newSvc(t)
	done, _ := svc.CreateRun(RunSpec{})
	live, _ := svc.CreateRun(RunSpec{})
	require.NoError(t, svc.EndRun(done.ID, StatusFinished))
	_, err := svc.DeleteRuns([]string{done.ID, live.ID})
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	_, err = svc.GetRun(done.ID)
	assert.NoError(t, err, "nothing deleted when one run is live")
	_, err = svc.DeleteRuns([]string{done.ID})
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "a permanent delete needs the run in the trash first")
	assert.Contains(t, core.ErrorMessage(err), "not in the trash")
	assert.Equal(t, core.Conflict, core.ErrorCode(svc.TrashRuns([]string{done.ID, live.ID})), "a live run is not trashed")
	require.NoError(t, svc.TrashRuns([]string{done.ID}))
	_, err = svc.DeleteRuns([]string{done.ID})
	require.NoError(t, err)
	_, err = svc.GetRun(done.ID)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

// A trashed run leaves the default search, is listed in the trash with the
// bytes its artifacts take and the time it went there, and comes back whole.
func TestTrashAndRestore(t *testing.T) {
	svc := newSvc(t)
	r, err := svc.CreateRun(RunSpec{Name: "keep-me"})
	require.NoError(t, err)
	require.NoError(t, svc.LogParams(r.ID, map[string]string{"lr": "0.1"}))
	require.NoError(t, svc.LogMetrics(r.ID, []Metric{{Key: "auc", Value: Float(0.9), Step: 1}}))
	_, err = svc.LogArtifact(r.ID, "model/weights.bin", strings.NewReader(strings.Repeat("w", 5000)))
	require.NoError(t, err)
	require.NoError(t, svc.EndRun(r.ID, StatusFinished))
	other, _ := svc.CreateRun(RunSpec{Name: "other"})
	require.NoError(t, svc.EndRun(other.ID, StatusFinished))

	ids := func(view string) []string {
		res, err := svc.SearchRuns(SearchRequest{ViewType: view})
		require.NoError(t, err)
		var out []string
		for _, x := range res.Runs {
			out = append(out, x.ID)
		}
		sort.Strings(out)
		return out
	}
	assert.Empty(t, svc.Trash())
	require.NoError(t, svc.TrashRuns([]string{r.ID}))
	assert.Equal(t, []string{other.ID}, ids(ViewActive))
	assert.Equal(t, []string{r.ID}, ids(ViewDeleted))
	assert.Len(t, ids(ViewAll), 2)
	tr := svc.Trash()
	require.Len(t, tr, 1)
	assert.Equal(t, "keep-me", tr[0].Run.Name)
	assert.Equal(t, "Default", tr[0].ExperimentName)
	assert.GreaterOrEqual(t, tr[0].ArtifactBytes, int64(5000))
	assert.NotZero(t, tr[0].Run.DeletedTime)

	require.NoError(t, svc.RestoreRuns([]string{r.ID}))
	assert.Empty(t, svc.Trash())
	got, err := svc.GetRun(r.ID)
	require.NoError(t, err)
	assert.Equal(t, StageActive, got.LifecycleStage)
	assert.Zero(t, got.DeletedTime)
	assert.Equal(t, "0.1", got.Params["lr"])
	assert.InDelta(t, 0.9, float64(got.Metrics["auc"].Value), 1e-12)

	require.NoError(t, svc.TrashRuns([]string{r.ID}))
	freed, err := svc.DeleteRuns([]string{r.ID})
	require.NoError(t, err)
	assert.Equal(t, tr[0].ArtifactBytes, freed, "the trash said what a permanent delete frees")
	assert.Empty(t, svc.Trash())
}
