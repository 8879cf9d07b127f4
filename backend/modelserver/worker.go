package modelserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Worker scores with a model held by another process: the Python worker
// of a pickled scikit-learn model (backend/deployment/pyworker.py), which
// runs in its own container with no network and listens on a Unix socket
// both containers mount. The server in front decodes and checks every
// request against the signature exactly as for a native model, so a
// pickle gets the same protocol, the same 400s and the same metrics; only
// the rows it has accepted cross the socket.
//
// The wire: each message is a 4-byte big-endian length, then JSON. The
// front asks {"op":"info"} once and {"op":"predict",...} per batch.
type Worker struct {
	path string
	sig  modelfmt.Signature
	info workerInfo
	// classes as Go values (int64, float64, string or bool), labelType
	// their V2 datatype.
	classes   []any
	labelType string
	idle      chan *workerConn
}

type workerInfo struct {
	Classifier bool              `json:"classifier"`
	Classes    []json.RawMessage `json:"classes"`
	Proba      bool              `json:"proba"`
	Outputs    int               `json:"outputs"`
	Model      string            `json:"model"`
}

type workerConn struct {
	c  net.Conn
	br *bufio.Reader
}

// maxWorkerMessage bounds one answer from the worker: a misbehaving
// pickle must not make the front allocate without limit.
const maxWorkerMessage = 256 << 20

// DialWorker waits (up to ctx) for the worker at the socket path to load
// its model and describe it, and returns the predictor for sig.
func DialWorker(ctx context.Context, path string, sig modelfmt.Signature) (*Worker, error) {
	w := &Worker{path: path, sig: sig, idle: make(chan *workerConn, 16)}
	var last error
	for {
		wc, err := w.dial()
		if err == nil {
			var info workerInfo
			err = wc.exchange(map[string]string{"op": "info"}, &info, 30*time.Second)
			wc.c.Close()
			if err == nil {
				return w, w.setInfo(info)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, core.Wrap(last, core.Unavailable, "The Python model worker did not answer on %s: %v.", path, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (w *Worker) setInfo(info workerInfo) error {
	w.info = info
	if !info.Classifier {
		if info.Outputs < 1 {
			w.info.Outputs = 1
		}
		return nil
	}
	if len(info.Classes) == 0 {
		return core.Errorf(core.Invalid, "The Python model is a classifier but lists no classes.")
	}
	kinds := map[string]bool{}
	for _, raw := range info.Classes {
		v, kind, err := classValue(raw)
		if err != nil {
			return err
		}
		w.classes = append(w.classes, v)
		kinds[kind] = true
	}
	switch {
	case len(kinds) > 1 || kinds["FP64"]:
		w.labelType = "FP64"
		if kinds["BYTES"] {
			w.labelType = "BYTES"
		}
	case kinds["BYTES"]:
		w.labelType = "BYTES"
	case kinds["BOOL"]:
		w.labelType = "BOOL"
	default:
		w.labelType = "INT64"
	}
	return nil
}

// classValue reads one class label as JSON gives it: integers stay
// integers (so labels print as 0 and 1, as scikit-learn's do), other
// numbers are floats.
func classValue(raw json.RawMessage) (any, string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "", core.Errorf(core.Invalid, "The Python model's class %s cannot be read.", clip(string(raw)))
	}
	switch t := v.(type) {
	case string:
		return t, "BYTES", nil
	case bool:
		return t, "BOOL", nil
	case json.Number:
		if i, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			return i, "INT64", nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, "", core.Errorf(core.Invalid, "The Python model's class %s is not a number Tern can carry.", clip(t.String()))
		}
		return f, "FP64", nil
	}
	return nil, "", core.Errorf(core.Invalid, "The Python model's class %s is neither text nor a number.", clip(string(raw)))
}

// Describe names the model class the worker loaded, for logs.
func (w *Worker) Describe() string { return w.info.Model }

func (w *Worker) NumFeatures() int { return len(w.sig.Inputs) }

// OutputWidth is, for a classifier, the predicted class's index followed
// by the class probabilities; for anything else the predicted values.
func (w *Worker) OutputWidth() int {
	if w.info.Classifier {
		return 1 + w.ProbaWidth()
	}
	return w.info.Outputs
}

func (w *Worker) Predict(b *Batch, out []float64) error {
	req := workerRequest{Op: "predict", Proba: b.Proba || b.wantProba, Rows: b.NRows, Columns: make([]workerColumn, len(w.sig.Inputs))}
	if !w.info.Classifier || !w.info.Proba {
		req.Proba = false
	}
	for p, c := range w.sig.Inputs {
		col := workerColumn{Name: c.Name, Type: c.Type}
		if c.Type == "string" {
			col.Values = b.Text[p]
		} else {
			vals := make([]*float64, b.NRows)
			for r := range vals {
				if f := b.X[r*b.NCols+p]; !math.IsNaN(f) {
					vals[r] = &f
				}
			}
			col.Values = vals
		}
		req.Columns[p] = col
	}
	var resp workerResponse
	if err := w.call(req, &resp); err != nil {
		return err
	}
	if resp.Error != "" {
		// MLflow's scoring server answers a model's own exception as 400
		// BAD_REQUEST: the input reached the model and the model refused it.
		return bad("The model refused this input: %s", clip(resp.Error))
	}
	width := w.OutputWidth()
	if w.info.Classifier {
		if len(resp.Labels) != b.NRows || (req.Proba && len(resp.Proba) != b.NRows) {
			return errors.New("the Python worker answered a different number of rows")
		}
		for r, idx := range resp.Labels {
			if idx < 0 || idx >= len(w.classes) {
				return errors.New("the Python worker predicted a class outside classes_")
			}
			out[r*width] = float64(idx)
			for k := 1; k < width; k++ {
				out[r*width+k] = math.NaN()
				if req.Proba && k-1 < len(resp.Proba[r]) && resp.Proba[r][k-1] != nil {
					out[r*width+k] = *resp.Proba[r][k-1]
				}
			}
		}
		return nil
	}
	if len(resp.Values) != b.NRows*width {
		return errors.New("the Python worker answered a different number of values")
	}
	for i, v := range resp.Values {
		out[i] = math.NaN()
		if v != nil {
			out[i] = *v
		}
	}
	return nil
}

func (w *Worker) LabelType() string { return w.labelType }

func (w *Worker) ProbaWidth() int {
	if !w.info.Proba {
		return 0
	}
	return len(w.classes)
}

func (w *Worker) Probabilities(out []float64, nrows int) []float64 {
	width, k := w.OutputWidth(), w.ProbaWidth()
	probs := make([]float64, nrows*k)
	for r := 0; r < nrows; r++ {
		copy(probs[r*k:(r+1)*k], out[r*width+1:(r+1)*width])
	}
	return probs
}

func (w *Worker) Labels(out []float64, nrows int) []any {
	width := w.OutputWidth()
	labels := make([]any, nrows)
	for r := range labels {
		labels[r] = w.classes[int(out[r*width])]
	}
	return labels
}

// workerLabeler is a Worker that is a classifier; a regressor must not
// satisfy Labeler, so the server gets one or the other.
type workerLabeler struct{ *Worker }

// Predictor is the worker as the server should see it: a Labeler when the
// model is a classifier.
func (w *Worker) Predictor() Predictor {
	if w.info.Classifier {
		return workerLabeler{w}
	}
	return workerRegressor{w}
}

type workerRegressor struct{ w *Worker }

func (p workerRegressor) NumFeatures() int                      { return p.w.NumFeatures() }
func (p workerRegressor) OutputWidth() int                      { return p.w.OutputWidth() }
func (p workerRegressor) Predict(b *Batch, out []float64) error { return p.w.Predict(b, out) }

type workerRequest struct {
	Op      string         `json:"op"`
	Proba   bool           `json:"proba"`
	Rows    int            `json:"rows"`
	Columns []workerColumn `json:"columns"`
}

type workerColumn struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Values any    `json:"values"`
}

type workerResponse struct {
	Error  string       `json:"error"`
	Labels []int        `json:"labels"`
	Proba  [][]*float64 `json:"proba"`
	Values []*float64   `json:"values"`
}

func (w *Worker) dial() (*workerConn, error) {
	c, err := net.DialTimeout("unix", w.path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &workerConn{c: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

// call sends one request on an idle connection (or a new one). A kept
// connection the worker dropped (it restarted) fails on first use; that
// is retried once on a fresh one, as scoring is idempotent.
func (w *Worker) call(req any, resp any) error {
	for attempt := 0; ; attempt++ {
		var wc *workerConn
		reused := false
		select {
		case wc = <-w.idle:
			reused = true
		default:
			var err error
			if wc, err = w.dial(); err != nil {
				return core.Wrap(err, core.Unavailable, "The Python model worker is not answering: %v.", err)
			}
		}
		err := wc.exchange(req, resp, 60*time.Second)
		if err == nil {
			select {
			case w.idle <- wc:
			default:
				wc.c.Close()
			}
			return nil
		}
		wc.c.Close()
		if !reused || attempt > 0 {
			return core.Wrap(err, core.Unavailable, "The Python model worker failed: %v.", err)
		}
	}
}

func (wc *workerConn) exchange(req, resp any, timeout time.Duration) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if err := wc.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	msg := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(msg, uint32(len(body)))
	copy(msg[4:], body)
	if _, err := wc.c.Write(msg); err != nil {
		return err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(wc.br, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxWorkerMessage {
		return errors.New("the answer is larger than " + strconv.Itoa(maxWorkerMessage>>20) + " MiB")
	}
	rb := make([]byte, n)
	if _, err := io.ReadFull(wc.br, rb); err != nil {
		return err
	}
	if err := json.Unmarshal(rb, resp); err != nil {
		return errors.New("the answer is not JSON: " + strings.TrimSpace(jsonProblem(err)))
	}
	return nil
}
