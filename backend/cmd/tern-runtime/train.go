package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	goruntime "runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/table"
)

func train(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	data := fs.String("data", "", "data file to train on (default: the only file in /tern/data)")
	reading := fs.String("dataset", defaultReading, "the dataset version's read settings (JSON table.Options); empty or absent: detect")
	paramsFile := fs.String("params", "/tern/params.json", "params JSON file (TERN_PARAMS overrides)")
	outDir := fs.String("out", "/tern/outputs", "output directory")
	testFile := fs.String("test", "", "evaluate on this file instead of a held-out split of -data")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	return finish("train", runTrain(ctx, *data, *reading, *testFile, *paramsFile, *outDir))
}

func runTrain(ctx context.Context, data, reading, testFile, paramsFile, outDir string) error {
	params, err := readParams(paramsFile)
	if err != nil {
		return err
	}
	if data == "" {
		if data, err = onlyFile("/tern/data"); err != nil {
			return err
		}
	}
	start := time.Now()
	frame, err := loadData(ctx, data, reading)
	if err != nil {
		return err
	}
	out.status(fmt.Sprintf("read %d rows × %d columns in %s", frame.Len(), len(frame.Columns), time.Since(start).Round(time.Millisecond)))
	p, err := params.WithDefaults()
	if err != nil {
		return err
	}
	logParams(p)
	for k, v := range runtimeTags() {
		out.tag(k, v)
	}
	start = time.Now()
	var model *ml.Model
	var ev *ml.Evaluation
	if testFile != "" {
		test, terr := ml.ReadFrameText(ctx, testFile)
		if terr != nil {
			return terr
		}
		start = time.Now()
		model, ev, err = ml.TrainWithTest(ctx, frame, test, params, out.metric)
	} else {
		model, ev, err = ml.Train(ctx, frame, params, out.metric)
	}
	if err != nil {
		if ctx.Err() != nil {
			return core.Errorf(core.Invalid, "Training was cancelled.")
		}
		return err
	}
	out.metric("training_seconds", time.Since(start).Seconds(), 0)
	if p.Task == "" {
		// Inferred from the target's values: recorded once known.
		out.param("task", model.Task)
	}
	keys := make([]string, 0, len(ev.Metrics))
	for k := range ev.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.metric("test_"+k, ev.Metrics[k], 0)
		if b, ok := ev.Baseline[k]; ok {
			// The trivial model's score, so "better than nothing" is on record.
			out.metric("baseline_"+k, b, 0)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return core.Wrap(err, core.Internal, "Cannot create the output folder %s.", outDir)
	}
	n := min(5, frame.Len())
	if err := modelfmt.SaveML(filepath.Join(outDir, "model"), model, &ml.Frame{Columns: frame.Columns, Rows: frame.Rows[:n]}); err != nil {
		return err
	}
	if err := writeEvaluation(outDir, ev); err != nil {
		return err
	}
	writeCurveCharts(outDir, ev)
	out.status("model written to " + filepath.Join(outDir, "model"))
	return nil
}

// defaultReading is where a container finds its dataset version's read
// settings (the runner mounts them beside the data).
const defaultReading = "/tern/dataset.json"

// loadData reads the training data through the table reader, the one the
// dataset import profiled it with: with the version's settings and schema
// when the job has them (file), else detected as an import would.
func loadData(ctx context.Context, data, file string) (*ml.Frame, error) {
	var opts table.Options
	if file != "" {
		b, err := os.ReadFile(file)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &opts); err != nil {
				return nil, core.Errorf(core.Invalid, "The dataset's read settings in %s are not valid: %v.", file, err)
			}
		case errors.Is(err, os.ErrNotExist) && file == defaultReading:
			// A plain file, with no dataset version behind it.
		default:
			return nil, core.Wrap(err, core.Invalid, "Cannot read the dataset's read settings %s.", file)
		}
	}
	return ml.ReadFrame(ctx, data, opts)
}

func readParams(file string) (ml.Params, error) {
	var p ml.Params
	raw := []byte(os.Getenv("TERN_PARAMS"))
	if len(raw) == 0 {
		b, err := os.ReadFile(file)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return p, core.Errorf(core.Invalid, "No parameters: set TERN_PARAMS or provide %s.", file)
			}
			return p, core.Wrap(err, core.Invalid, "Cannot read the parameters file %s.", file)
		}
		raw = b
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&p); err != nil {
		return p, core.Errorf(core.Invalid, "The parameters are not valid JSON for this model: %v.", err)
	}
	return p, nil
}

func onlyFile(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", core.Errorf(core.Invalid, "No data: pass -data or mount a file in %s.", dir)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) != 1 {
		return "", core.Errorf(core.Invalid, "Expected exactly one data file in %s, found %d; pass -data.", dir, len(files))
	}
	return files[0], nil
}

// runtimeTags describe this binary, so a run says exactly what trained it:
// its version, the platform it ran on, its Go and its libraries (the
// modules linked in, from the build info).
func runtimeTags() map[string]string {
	tags := map[string]string{
		"tern.runtime.version":  version,
		"tern.runtime.platform": goruntime.GOOS + "/" + goruntime.GOARCH,
		"tern.runtime.go":       goruntime.Version(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var libs []string
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil {
				v = d.Replace.Version
			}
			libs = append(libs, d.Path+" "+v)
		}
		sort.Strings(libs)
		tags["tern.runtime.libraries"] = strings.Join(libs, ", ")
	}
	return tags
}

// logParams reports the effective parameters, defaults included, so the run
// records exactly what was trained: the chosen model's keys only.
func logParams(p ml.Params) {
	logged := ml.LoggedParams(p)
	keys := make([]string, 0, len(logged))
	for k := range logged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.param(k, logged[k])
	}
}

func writeEvaluation(dir string, ev *ml.Evaluation) error {
	files := map[string]any{"evaluation.json": ev}
	if ev.Confusion != nil {
		files["confusion_matrix.json"] = ev.Confusion
	}
	if len(ev.ROC) > 0 {
		files["roc_curve.json"] = ev.ROC
		files["pr_curve.json"] = ev.PR
	}
	for name, v := range files {
		b, err := json.MarshalIndent(sanitize(v), "", " ")
		if err != nil {
			return core.Wrap(err, core.Internal, "Cannot encode %s.", name)
		}
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return core.Wrap(err, core.Internal, "Cannot write %s.", name)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return core.Wrap(err, core.Internal, "Cannot write %s.", name)
		}
	}
	return nil
}

// sanitize round-trips through a generic form replacing non-finite floats
// (AUC is NaN with one class in the test split; thresholds start at +Inf),
// which encoding/json refuses.
func sanitize(v any) any {
	b, err := json.Marshal(fixFloats(reflect.ValueOf(v)))
	if err != nil {
		return v
	}
	var g any
	_ = json.Unmarshal(b, &g)
	return g
}

func fixFloats(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return fixFloats(v.Elem())
	case reflect.Float64, reflect.Float32:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(f)
		}
		return f
	case reflect.Map:
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = fixFloats(v.MapIndex(k))
		}
		return m
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		s := make([]any, v.Len())
		for i := range s {
			s[i] = fixFloats(v.Index(i))
		}
		return s
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
			if name == "-" {
				continue
			}
			if name == "" {
				name = t.Field(i).Name
			}
			m[name] = fixFloats(v.Field(i))
		}
		return m
	}
	return v.Interface()
}
