package registry

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/tracking"
)

// sklearnDir writes what mlflow.sklearn.log_model writes (the pickle is
// a stand-in: it is never opened).
func sklearnDir(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	mlmodel := "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: cloudpickle\n" +
		"saved_input_example_info:\n  artifact_path: input_example.json\n  type: dataframe\n  pandas_orient: split\n" +
		"signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"a\", \"required\": true}, {\"type\": \"double\", \"name\": \"b\", \"required\": true}]'\n  outputs: '[{\"type\": \"long\", \"required\": true}]'\n  params: null\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "MLmodel"), []byte(mlmodel), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.pkl"), []byte("\x80\x04not really"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "input_example.json"), []byte(`{"columns":["a","b"],"data":[[1,2]]}`), 0o644))
}

func TestPickledModelsAreRegisteredNotLoaded(t *testing.T) {
	s, tr := newService(t)
	run, err := tr.CreateRun(tracking.RunSpec{Name: "sk"})
	require.NoError(t, err)
	adir, err := tr.ArtifactDir(run.ID)
	require.NoError(t, err)
	sklearnDir(t, filepath.Join(adir, "model"))

	_, err = s.RegisterRunMeta("churn", run.ID, "model", Meta{MustExist: true})
	assert.Equal(t, core.NotFound, core.ErrorCode(err), "the MLflow API registers only into an existing model")

	v, err := s.RegisterRunMeta("churn", run.ID, "model", Meta{SourceURI: "runs:/" + run.ID + "/model", Tags: map[string]string{"k": "v"}})
	require.NoError(t, err)
	assert.True(t, v.Pickle)
	assert.Equal(t, "sklearn", v.Flavor)
	assert.Equal(t, "runs:/"+run.ID+"/model", v.SourceURI)
	assert.Equal(t, map[string]string{"k": "v"}, v.Tags)
	require.Len(t, v.Signature.Inputs, 2)
	assert.Equal(t, "b", v.Signature.Inputs[1].Name)
	assert.JSONEq(t, `{"columns":["a","b"],"data":[[1,2]]}`, string(v.InputExample))

	files, err := s.Files("churn", 1, "")
	require.NoError(t, err)
	assert.Equal(t, []File{{Path: "MLmodel", Size: files[0].Size}, {Path: "input_example.json", Size: 36}, {Path: "model.pkl", Size: 12}}, files)
	f, size, err := s.OpenFile("churn", 1, "model.pkl")
	require.NoError(t, err)
	b, _ := io.ReadAll(f)
	f.Close()
	assert.Equal(t, int64(12), size)
	assert.Equal(t, "\x80\x04not really", string(b))
	for _, bad := range []string{"../../etc/passwd", "/etc/passwd", "a/../../b", "."} {
		_, _, err := s.OpenFile("churn", 1, bad)
		assert.Error(t, err, bad)
	}
	_, _, err = s.OpenFile("churn", 1, "nope")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

func TestEditRenameDelete(t *testing.T) {
	s, tr := newService(t)
	run, err := tr.CreateRun(tracking.RunSpec{Name: "r"})
	require.NoError(t, err)
	adir, err := tr.ArtifactDir(run.ID)
	require.NoError(t, err)
	trainModel(t, filepath.Join(adir, "model"))
	for range 3 {
		_, err := s.RegisterRun("churn", run.ID, "")
		require.NoError(t, err)
	}
	_, err = s.SetAliases("churn", map[string]int{"champion": 2, "challenger": 3})
	require.NoError(t, err)

	val := "growth"
	m, err := s.SetModelTag("churn", "team", &val)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"team": "growth"}, m.Tags)
	_, err = s.SetModelTag("churn", "missing", nil)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	long := string(make([]byte, 5001))
	_, err = s.SetModelTag("churn", "big", &long)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	m, err = s.UpdateModel("churn", "who leaves")
	require.NoError(t, err)
	assert.Equal(t, "who leaves", m.Description)
	v, err := s.SetVersionTag("churn", 2, "ok", &val)
	require.NoError(t, err)
	assert.Equal(t, []string{"champion"}, v.Aliases)
	v, err = s.UpdateVersion("churn", 2, "second")
	require.NoError(t, err)
	assert.Equal(t, "second", v.Description)
	assert.Equal(t, map[string]string{"ok": "growth"}, v.Tags)
	_, err = s.UpdateVersion("churn", 9, "x")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))

	// what a deployment serves is neither deleted nor renamed
	s.DeploymentsOf = func(model string, version int) []string {
		if version == 2 {
			return []string{"churn-api"}
		}
		return nil
	}
	assert.ErrorContains(t, s.DeleteVersion("churn", 2), "churn-api")
	assert.ErrorContains(t, s.DeleteModel("churn"), "churn-api")
	_, err = s.RenameModel("churn", "attrition")
	assert.Equal(t, core.Conflict, core.ErrorCode(err))

	// deleting version 3 drops @challenger and its files; numbers are not reused
	require.NoError(t, s.DeleteVersion("churn", 3))
	assert.NoDirExists(t, filepath.Join(s.Root(), "churn", "3"))
	m, err = s.Get("churn")
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"champion": 2}, m.Aliases)
	s.DeploymentsOf = nil
	v4, err := s.RegisterRun("churn", run.ID, "")
	require.NoError(t, err)
	assert.Equal(t, 4, v4.Version)

	_, err = s.CreateModel("other", "")
	require.NoError(t, err)
	_, err = s.RenameModel("churn", "other")
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	_, err = s.RenameModel("churn", "../x")
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	m, err = s.RenameModel("churn", "attrition")
	require.NoError(t, err)
	assert.Equal(t, "attrition", m.Name)
	vs, err := s.Versions("attrition")
	require.NoError(t, err)
	require.Len(t, vs, 3)
	for _, v := range vs {
		assert.Equal(t, "attrition", v.Model)
		assert.FileExists(t, filepath.Join(s.Dir(v), "MLmodel"), "files moved with the model")
	}
	champ, err := s.Version("attrition", "@champion")
	require.NoError(t, err)
	assert.Equal(t, 2, champ.Version)
	_, err = s.Get("churn")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))

	require.NoError(t, s.DeleteModel("attrition"))
	_, err = s.Get("attrition")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	assert.NoDirExists(t, filepath.Join(s.Root(), "attrition"))
	_, err = s.Version("attrition", "2")
	assert.Error(t, err)
}

func TestLoggedModels(t *testing.T) {
	s, tr := newService(t)
	run, err := tr.CreateRun(tracking.RunSpec{Name: "r"})
	require.NoError(t, err)
	_, err = s.CreateLoggedModel("", "model", "", nil, nil)
	assert.Equal(t, core.Invalid, core.ErrorCode(err), "a logged model belongs to a run")
	_, err = s.CreateLoggedModel("no-such-run", "model", "", nil, nil)
	assert.Error(t, err)

	lm, err := s.CreateLoggedModel(run.ID, "model", "sklearn", map[string]string{"a": "1"}, map[string]string{"lr": "0.1"})
	require.NoError(t, err)
	assert.Regexp(t, `^m-[0-9a-z]+$`, lm.ID)
	assert.Equal(t, "models/"+lm.ID, lm.ArtifactPath)
	assert.Equal(t, LoggedPending, lm.Status)
	assert.Equal(t, run.ExperimentID, lm.ExperimentID)

	lm, err = s.EditLoggedModel(lm.ID, LoggedModelEdit{Status: LoggedReady, SetTags: map[string]string{"b": "2"}, Params: map[string]string{"lr": "0.1", "depth": "3"}})
	require.NoError(t, err)
	assert.Equal(t, LoggedReady, lm.Status)
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, lm.Tags)
	_, err = s.EditLoggedModel(lm.ID, LoggedModelEdit{Params: map[string]string{"lr": "0.2"}})
	assert.Equal(t, core.Invalid, core.ErrorCode(err), "params do not change")
	_, err = s.EditLoggedModel(lm.ID, LoggedModelEdit{Status: "DONE"})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	lm, err = s.EditLoggedModel(lm.ID, LoggedModelEdit{DeleteTag: "a"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"b": "2"}, lm.Tags)

	list, err := s.LoggedModels([]string{run.ExperimentID})
	require.NoError(t, err)
	assert.Len(t, list, 1)
	list, err = s.LoggedModels([]string{"999"})
	require.NoError(t, err)
	assert.Empty(t, list)
	require.NoError(t, s.DeleteLoggedModel(lm.ID))
	_, err = s.LoggedModel(lm.ID)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}
