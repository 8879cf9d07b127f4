// Package gbdt reads gradient-boosted tree models saved by XGBoost (JSON)
// and LightGBM (text, format v4) and scores them in pure Go, so a model
// trained in Python can be registered and served by Tern without Python.
// Predictions match the libraries' own to 1e-6 (checked against models
// and predictions produced by the current pip packages in testdata).
//
// github.com/dmitryikh/leaves reads older formats of both but rejects
// LightGBM v4 text and current XGBoost JSON; these readers are written
// from the formats as the libraries save them today.
package gbdt

import (
	"bytes"
	"fmt"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/explain"
)

// maxModelBytes bounds a model file so a hostile file cannot exhaust memory.
const maxModelBytes = 512 << 20

// Model is a loaded tree ensemble, ready to score rows.
type Model struct {
	// Kind is "xgboost" or "lightgbm".
	Kind      string
	Objective string
	// Features is how many values each row must have; FeatureNames are the
	// names saved with the model (may be empty or generic like Column_0).
	Features     int
	FeatureNames []string
	// Outputs is how many values a row's prediction has: 1, or the number
	// of classes for multi-class probability models.
	Outputs  int
	Trees    int
	row      func(x, out []float64)
	ensemble func() *explain.Ensemble
}

// Ensemble returns the model's trees for backend/explain (TreeSHAP in
// margin space, with the objective's link named), checked so that a model
// saved without node statistics is refused in words.
func (m *Model) Ensemble() (*explain.Ensemble, error) {
	e := m.ensemble()
	if len(m.FeatureNames) == e.Features {
		e.Names = m.FeatureNames
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// PredictRow scores one row of Features values (NaN = missing) into
// Outputs values.
func (m *Model) PredictRow(x, out []float64) { m.row(x, out) }

// Predict scores n rows, row-major.
func (m *Model) Predict(x []float64, n int) []float64 {
	out := make([]float64, n*m.Outputs)
	for r := 0; r < n; r++ {
		m.row(x[r*m.Features:(r+1)*m.Features], out[r*m.Outputs:(r+1)*m.Outputs])
	}
	return out
}

// Read detects the format: XGBoost JSON starts with '{', LightGBM text
// with "tree". Anything else is an unsupported format.
func Read(data []byte) (*Model, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\xef\xbb\xbf")
	switch {
	case isUBJSON(data):
		return ReadXGBoost(data)
	case bytes.HasPrefix(trimmed, []byte("{")):
		return ReadXGBoost(data)
	case bytes.HasPrefix(trimmed, []byte("tree")):
		return ReadLightGBM(data)
	case bytes.HasPrefix(trimmed, []byte("binf")):
		return nil, unsupported("XGBoost", "this is XGBoost's old binary format; save the model as JSON (save_model(\"model.json\"))")
	}
	return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the file is neither XGBoost JSON nor LightGBM text.")
}

func unsupported(kind, format string, args ...any) error {
	return core.Errorf(core.Invalid, "Unsupported model format/version: this %s model cannot be read: %s.", kind, fmt.Sprintf(format, args...))
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
