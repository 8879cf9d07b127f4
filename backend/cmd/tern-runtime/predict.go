package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
)

func predict(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	modelDir := fs.String("model", "/tern/model", "model directory")
	data := fs.String("data", "", "data file to score (default: the only file in /tern/data)")
	dest := fs.String("out", "/tern/outputs/predictions.csv", "where to write the predictions CSV")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	return finish("predict", runPredict(ctx, *modelDir, *data, *dest))
}

// runPredict writes the input rows' predictions (and class probabilities)
// as CSV, through a temporary file renamed at the end.
func runPredict(ctx context.Context, modelDir, data, dest string) error {
	m, err := modelfmt.LoadML(modelDir)
	if err != nil {
		return err
	}
	if data == "" {
		if data, err = onlyFile("/tern/data"); err != nil {
			return err
		}
	}
	frame, err := ml.ReadFrameText(ctx, data)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return core.Errorf(core.Invalid, "Prediction was cancelled.")
	}
	preds, err := m.PredictFrame(frame)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return core.Wrap(err, core.Internal, "Cannot create the folder for %s.", dest)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".predictions-*")
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot write %s.", dest)
	}
	defer os.Remove(tmp.Name())
	w := csv.NewWriter(tmp)
	header := []string{"prediction"}
	if m.Task == ml.Classification {
		for _, c := range m.Classes {
			header = append(header, "proba_"+c)
		}
	}
	_ = w.Write(header)
	for _, p := range preds {
		rec := []string{}
		if m.Task == ml.Classification {
			rec = append(rec, fmt.Sprint(p.Label))
			for _, v := range p.Probabilities {
				rec = append(rec, strconv.FormatFloat(v, 'g', 6, 64))
			}
		} else {
			rec = append(rec, strconv.FormatFloat(p.Value, 'g', -1, 64))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		tmp.Close()
		return core.Wrap(err, core.Internal, "Cannot write %s.", dest)
	}
	if err := tmp.Close(); err != nil {
		return core.Wrap(err, core.Internal, "Cannot write %s.", dest)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return core.Wrap(err, core.Internal, "Cannot write %s.", dest)
	}
	out.metric("predictions", float64(len(preds)), 0)
	return nil
}
