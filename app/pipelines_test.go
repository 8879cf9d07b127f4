package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/pipeline"
	"github.com/tern-studio/tern/backend/store"
)

type echoStep struct{}

func (echoStep) Run(_ context.Context, x *pipeline.Exec) (map[string]pipeline.Value, error) {
	x.Logf("hello %s", x.String("who"))
	return map[string]pipeline.Value{"out": {Type: pipeline.Report, ID: x.String("who"), Identity: x.String("who")}}, nil
}

// The bound calls reach the engine: import a YAML file, check, start,
// watch the run, export the same file back.
func TestPipelinesBound(t *testing.T) {
	types := pipeline.NewTypes()
	types.Register(pipeline.Def{Type: pipeline.StepType{Name: "echo", Cacheable: true,
		Fields:  []pipeline.Field{{Name: "who", Kind: pipeline.KindString, Required: true, Help: "who to greet"}},
		Outputs: []pipeline.Port{{Name: "out", Type: pipeline.Report}}}, Exec: echoStep{}})
	e := pipeline.New(pipeline.Config{Store: store.MustOpen(t), Bus: core.NewBus(), Types: types})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	p := NewPipelines(t.Context(), e, pipeline.Lineage{})

	st, err := p.StepTypes()
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Equal(t, "who", st[0].Fields[0].Name)

	_, err = p.ImportYAML("name: hi\nsteps:\n  - id: a\n    type: echo\n")
	assert.Contains(t, core.ErrorMessage(err), `Line 3: Step "a": field "who" is required (who to greet)`)
	pl, err := p.ImportYAML("name: hi\nsteps:\n  - id: a\n    type: echo\n    fields: {who: world}\n")
	require.NoError(t, err)
	probs, err := p.Check(pipeline.Pipeline{Name: "x", Steps: []pipeline.Step{{ID: "a", Type: "nope"}}})
	require.NoError(t, err)
	require.Len(t, probs, 1)
	assert.Equal(t, "a", probs[0].Step)

	run, err := p.Start(pl.ID, pipeline.StartOptions{})
	require.NoError(t, err)
	var d pipeline.RunDetail
	require.Eventually(t, func() bool {
		d, err = p.Run(run.ID)
		return err == nil && d.Run.State.Final()
	}, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, pipeline.RunSucceeded, d.Run.State)
	assert.Equal(t, []string{"hello world"}, d.Steps[0].Logs)
	runs, err := p.Runs(pl.ID, 0)
	require.NoError(t, err)
	assert.Len(t, runs, 1)

	text, err := p.ExportYAML(pl.ID)
	require.NoError(t, err)
	assert.Contains(t, text, "who: world")
	again, err := p.ImportYAML(text)
	require.NoError(t, err)
	assert.Equal(t, pl.ID, again.ID, "a file with an id replaces that pipeline")
	list, err := p.List()
	require.NoError(t, err)
	assert.Len(t, list, 1)
	_, err = p.Retry(run.ID, "a")
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	require.NoError(t, p.Delete(pl.ID))
	_, err = p.Approve("nope", "gate", "")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	_, err = p.RetrainOnDrift("churn-api")
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
}

// A schedule preview gives the next times in order, each a real firing of
// the expression; a bad expression is refused in words.
func TestPipelinesNextFires(t *testing.T) {
	p := NewPipelines(t.Context(), pipeline.New(pipeline.Config{Store: store.MustOpen(t), Bus: core.NewBus(), Types: pipeline.NewTypes()}), pipeline.Lineage{})
	times, err := p.NextFires("30 3 * * *", 3)
	require.NoError(t, err)
	require.Len(t, times, 3)
	assert.True(t, times[0].After(time.Now().Add(-time.Second)))
	for i, at := range times {
		assert.Equal(t, 3, at.Hour())
		assert.Equal(t, 30, at.Minute())
		if i > 0 {
			assert.Equal(t, 24*time.Hour, at.Sub(times[i-1]))
		}
	}
	many, err := p.NextFires("@hourly", 500)
	require.NoError(t, err)
	assert.Len(t, many, 10, "a preview is bounded")
	_, err = p.NextFires("every tuesday", 3)
	assert.Contains(t, core.ErrorMessage(err), "is not a cron expression")
}
