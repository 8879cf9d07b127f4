package pipeline

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

func types3() *Types { return testTypes(newFake(DatasetVersion), newFake(RunOutput), newFake("")) }

func TestValidateAcceptsAChain(t *testing.T) {
	p := chain()
	require.NoError(t, Normalize(&p))
	assert.Empty(t, Validate(p, types3()))
	assert.Equal(t, []string{"a", "b", "c"}, order(p))
}

// Each refusal is a sentence that names the place at fault.
func TestValidateRefusals(t *testing.T) {
	cases := []struct {
		name string
		edit func(p *Pipeline)
		want []string
	}{
		{"no name", func(p *Pipeline) { p.Name = " " }, []string{"needs a name"}},
		{"no steps", func(p *Pipeline) { p.Steps = nil }, []string{"no steps"}},
		{"unknown type", func(p *Pipeline) { p.Steps[1].Type = "trian" }, []string{`Step "b": unknown step type "trian"`, "known: sink, src, work"}},
		{"missing field", func(p *Pipeline) { delete(p.Steps[0].Fields, "value") }, []string{`Step "a": field "value" is required (what to emit)`}},
		{"unknown field", func(p *Pipeline) { p.Steps[0].Fields["colour"] = "red" }, []string{`Step "a": a src step has no field "colour" (its fields: value, mode)`}},
		{"int field given text", func(p *Pipeline) { p.Steps[1].Fields["n"] = "three" }, []string{`Step "b": field "n" must be a whole number, not the text "three"`}},
		{"int field given a fraction", func(p *Pipeline) { p.Steps[1].Fields["n"] = 2.5 }, []string{`field "n" must be a whole number, not the number 2.5`}},
		{"float field given bool", func(p *Pipeline) { p.Steps[1].Fields["rate"] = true }, []string{`field "rate" must be a number, not true`}},
		{"bool field given text", func(p *Pipeline) { p.Steps[1].Fields["on"] = "yes" }, []string{`field "on" must be true or false`}},
		{"object field given list", func(p *Pipeline) { p.Steps[1].Fields["params"] = []any{"x"} }, []string{`field "params" must be a set of name: value pairs, not a list`}},
		{"list with a number", func(p *Pipeline) { p.Steps[1].Fields["cols"] = []any{"x", 2.0} }, []string{`field "cols" item 2 must be text`}},
		{"enum off the list", func(p *Pipeline) { p.Steps[0].Fields["mode"] = "c" }, []string{`field "mode" is "c"; it must be one of a, b`}},
		{"unwired input", func(p *Pipeline) { delete(p.Steps[1].Inputs, "in") }, []string{`Step "b": input "in" (a dataset_version) is not wired`}},
		{"wired to a missing step", func(p *Pipeline) { p.Steps[1].Inputs["in"] = "ghost.out" }, []string{`Step "b": input "in" is wired to step "ghost", which is not in the pipeline`}},
		{"wired to a missing output", func(p *Pipeline) { p.Steps[1].Inputs["in"] = "a.version" }, []string{`a src step has no output "version" (its outputs: out)`}},
		{"incompatible types", func(p *Pipeline) {
			p.Steps = append(p.Steps, Step{ID: "d", Type: "work", Inputs: map[string]string{"in": "b.out"}})
		}, []string{`Step "d": input "in" takes a dataset_version, but "b.out" gives a run`}},
		{"unknown input", func(p *Pipeline) { p.Steps[0].Inputs["extra"] = "b.out" }, []string{`Step "a": a src step has no input "extra" (its inputs: none)`}},
		{"bad wiring syntax", func(p *Pipeline) { p.Steps[1].Inputs["in"] = "a" }, []string{`write it as step.output`}},
		{"self wiring", func(p *Pipeline) { p.Steps[2].Inputs["after"] = "c.out" }, []string{`Step "c": input "after" is wired to the step's own output; that is a cycle: c → c`}},
		{"duplicate ids", func(p *Pipeline) { p.Steps[2].ID = "b" }, []string{`Two steps are called "b"`}},
		{"bad id", func(p *Pipeline) { p.Steps[2].ID = "9 lives" }, []string{`Step id "9 lives" must start with a letter`}},
		{"bad cron", func(p *Pipeline) { p.Triggers = []Trigger{{Kind: TriggerSchedule, Cron: "every day"}} }, []string{`Trigger 1 (schedule): The schedule "every day" is not a cron expression`}},
		{"unknown trigger", func(p *Pipeline) { p.Triggers = []Trigger{{Kind: "sometimes"}} }, []string{`Trigger 1: unknown kind "sometimes"`}},
		{"dataset trigger without dataset", func(p *Pipeline) { p.Triggers = []Trigger{{Kind: TriggerDataset}} }, []string{`Trigger 1 (dataset): name the dataset`}},
		{"bad on_active", func(p *Pipeline) { p.OnActive = "drop" }, []string{`on_active is "drop"`}},
		{"relative folder", func(p *Pipeline) { p.Triggers = []Trigger{{Kind: TriggerFolder, Folder: "inbox", Dataset: "churn"}} }, []string{`Trigger 1 (folder): give the folder to watch as an absolute path`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := chain()
			require.NoError(t, Normalize(&p))
			c.edit(&p)
			require.NoError(t, Normalize(&p))
			probs := Validate(p, types3())
			require.NotEmpty(t, probs)
			var msgs []string
			for _, pr := range probs {
				msgs = append(msgs, pr.Message)
			}
			all := strings.Join(msgs, " | ")
			for _, w := range c.want {
				assert.Contains(t, all, w)
			}
		})
	}
}

func TestValidateNamesTheCycle(t *testing.T) {
	ts := types3()
	ts.Register(Def{Type: StepType{Name: "loop", Inputs: []Port{{Name: "in", Type: RunOutput}}, Outputs: []Port{{Name: "out", Type: RunOutput}}}, Exec: newFake(RunOutput)})
	p := Pipeline{Name: "loopy", Steps: []Step{
		{ID: "x", Type: "loop", Inputs: map[string]string{"in": "z.out"}},
		{ID: "y", Type: "loop", Inputs: map[string]string{"in": "x.out"}},
		{ID: "z", Type: "loop", Inputs: map[string]string{"in": "y.out"}},
	}}
	require.NoError(t, Normalize(&p))
	probs := Validate(p, ts)
	require.Len(t, probs, 1)
	assert.Equal(t, "The steps form a cycle: x → y → z → x; a pipeline must flow one way.", probs[0].Message)
}

const chainYAML = `# a comment
name: chain
description: three steps
on_active: queue
triggers:
  - kind: manual
  - kind: schedule
    cron: "0 3 * * *"
  - kind: dataset
    dataset: churn
  - kind: folder
    folder: /srv/incoming
    dataset: churn
steps:
  - id: a
    type: src
    fields:
      value: v1
  - id: b
    type: work
    fields:
      n: 3
      rate: 0.25
      on: true
      params: {depth: 4, lr: 0.1}
      cols: [x, y]
    inputs:
      in: a.out
  - id: c
    type: sink
    inputs:
      after: b.out
`

func TestYAMLRoundTrip(t *testing.T) {
	ts := types3()
	p, err := ParseYAML([]byte(chainYAML), ts)
	require.NoError(t, err)
	assert.Equal(t, "chain", p.Name)
	assert.Equal(t, OnActiveQueue, p.OnActive)
	assert.Len(t, p.Triggers, 4)
	assert.Equal(t, "/srv/incoming", p.Triggers[3].Folder)
	assert.Equal(t, 3.0, p.Steps[1].Fields["n"])
	assert.Equal(t, map[string]any{"depth": 4.0, "lr": 0.1}, p.Steps[1].Fields["params"])

	out, err := ExportYAML(p)
	require.NoError(t, err)
	back, err := ParseYAML(out, ts)
	require.NoError(t, err, string(out))
	assert.Equal(t, p, back)
	again, err := ExportYAML(back)
	require.NoError(t, err)
	assert.Equal(t, string(out), string(again), "exports are stable, so files diff well")

	// A pipeline built in the UI (JSON numbers) exports and comes back equal.
	ui := chain()
	ui.ID = "01abc"
	require.NoError(t, Normalize(&ui))
	y, err := ExportYAML(ui)
	require.NoError(t, err)
	got, err := ParseYAML(y, ts)
	require.NoError(t, err)
	assert.Equal(t, ui, got)
}

// Bad files are refused with the line and the field named.
func TestYAMLRefusalsNameTheLine(t *testing.T) {
	ts := types3()
	cases := []struct{ name, yaml, want string }{
		{"not yaml", "name: [unclosed\n", "The pipeline file is not valid YAML. Line"},
		{"empty", "", "The pipeline file is empty"},
		{"a list", "- a\n- b\n", "Line 1: a pipeline file is a mapping"},
		{"unknown top key", "name: x\nstep: []\n", `Line 2: unknown key "step" in the pipeline (known: id, name, description, on_active, triggers, steps)`},
		{"duplicate key", "name: x\nname: y\n", `Line 2: "name" is given twice in the pipeline`},
		{"steps not a list", "name: x\nsteps: {a: 1}\n", "Line 2: steps must be a list"},
		{"step not a mapping", "name: x\nsteps:\n  - src\n", "Line 3: step 1 must be a mapping"},
		{"step without id", "name: x\nsteps:\n  - type: src\n", "Line 3: step 1 has no id"},
		{"unknown step key", "name: x\nsteps:\n  - id: a\n    type: src\n    with: {value: 1}\n", `Line 5: unknown key "with" in step "a" (known: id, type, fields, inputs)`},
		{"unknown type", "name: x\nsteps:\n  - id: a\n    type: nope\n", `Line 3: Step "a": unknown step type "nope"`},
		{"missing field", "name: x\nsteps:\n  - id: a\n    type: src\n", `Line 3: Step "a": field "value" is required`},
		{"wrong field kind", "name: x\nsteps:\n  - id: a\n    type: src\n    fields:\n      value: v\n  - id: b\n    type: work\n    fields:\n      n: lots\n    inputs: {in: a.out}\n", `Line 10: Step "b": field "n" must be a whole number, not the text "lots"`},
		{"incompatible input", "name: x\nsteps:\n  - id: a\n    type: src\n    fields: {value: v}\n  - id: b\n    type: work\n    inputs: {in: a.out}\n  - id: c\n    type: work\n    inputs:\n      in: b.out\n", `Line 12: Step "c": input "in" takes a dataset_version, but "b.out" gives a run`},
		{"cycle", "name: x\nsteps:\n  - id: a\n    type: sink\n    inputs: {after: b.out}\n  - id: b\n    type: work\n    inputs: {in: a.out}\n", "cycle"},
		{"alias", "name: &n x\ndescription: *n\nsteps: []\n", "Line 2: aliases (*n) are not allowed"},
		{"input not a scalar", "name: x\nsteps:\n  - id: a\n    type: sink\n    inputs:\n      after: [b, out]\n", `Line 6: input "after" of step "a" must be a single value`},
		{"trigger without kind", "name: x\ntriggers:\n  - cron: '* * * * *'\nsteps: []\n", "Line 3: trigger 1 has no kind"},
		{"bad cron", "name: x\ntriggers:\n  - kind: schedule\n    cron: 'soon'\nsteps:\n  - id: a\n    type: src\n    fields: {value: v}\n", `Line 3: Trigger 1 (schedule): The schedule "soon" is not a cron expression`},
		{"non-string keys in a field", "name: x\nsteps:\n  - id: a\n    type: work\n    fields:\n      params:\n        ? [1]\n        : 2\n", `Line 7: field "params" of step "a"`},
		{"infinite number", "name: x\nsteps:\n  - id: a\n    type: work\n    fields:\n      rate: .inf\n", "cannot store"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseYAML([]byte(c.yaml), ts)
			require.Error(t, err)
			assert.Equal(t, core.Invalid, core.ErrorCode(err))
			assert.Contains(t, core.ErrorMessage(err), c.want)
		})
	}
	big := strings.Repeat("#", MaxYAML+1)
	_, err := ParseYAML([]byte(big), ts)
	assert.Contains(t, core.ErrorMessage(err), "Tern reads pipeline files up to")
}

func FuzzParsePipeline(f *testing.F) {
	f.Add([]byte(chainYAML))
	f.Add([]byte("name: x\nsteps:\n  - id: a\n    type: sink\n    inputs: {after: b.out}\n  - id: b\n    type: work\n    inputs: {in: a.out}\n"))
	f.Add([]byte("name: &n x\ndescription: *n\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("name: x\nsteps:\n  - id: a\n    type: work\n    fields:\n      rate: .nan\n      params: {? [1]: 2}\n"))
	f.Add([]byte("{name: 1, steps: [{id: a, type: src, fields: {value: null}}]}"))
	ts := types3()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseYAML(data, ts)
		if err != nil {
			msg := core.ErrorMessage(err)
			if msg == "" || strings.Contains(msg, "Something went wrong") {
				t.Fatalf("unworded refusal: %v", err)
			}
			return
		}
		// Whatever is accepted is valid, and survives a round trip.
		if probs := Validate(p, ts); len(probs) > 0 {
			t.Fatalf("accepted an invalid pipeline: %v", probs)
		}
		out, err := ExportYAML(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseYAML(out, ts)
		if err != nil {
			t.Fatalf("export of an accepted pipeline is refused: %v\n%s", err, out)
		}
		if !assert.ObjectsAreEqual(p, back) {
			t.Fatalf("round trip changed the pipeline\n%#v\n%#v", p, back)
		}
	})
}
