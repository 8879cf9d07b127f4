package modelserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/explain"
	"github.com/tern-studio/tern/backend/httpjson"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Model is one servable model version.
type Model struct {
	Name      string
	Version   string
	Signature modelfmt.Signature
	Predictor Predictor
	// Classes, when set, label the output columns of a classifier.
	Classes []string
}

// ServerOptions bound what one request may cost.
type ServerOptions struct {
	// MaxBodyBytes caps a request body; 0 means 32 MiB. Larger bodies get 413.
	MaxBodyBytes int64
	// Version is reported by /version and /v2.
	Version string
}

// Server speaks the MLflow scoring protocol and the Open Inference (KServe
// V2) protocol for one model, and exposes Prometheus metrics. It is the
// handler `tern-runtime serve` runs inside a serving container and the one
// the in-process launcher runs when Docker is absent.
type Server struct {
	model   Model
	opt     ServerOptions
	mux     *http.ServeMux
	metrics *Metrics
	bufs    sync.Pool
}

// NewServer checks the model and builds its handler.
func NewServer(m Model, opt ServerOptions) (*Server, error) {
	if err := m.Signature.Validate(); err != nil {
		return nil, err
	}
	if m.Predictor.NumFeatures() != len(m.Signature.Inputs) {
		return nil, core.Errorf(core.Invalid, "The model reads %d features but its signature has %d inputs.", m.Predictor.NumFeatures(), len(m.Signature.Inputs))
	}
	if opt.MaxBodyBytes == 0 {
		opt.MaxBodyBytes = 32 << 20
	}
	if opt.Version == "" {
		opt.Version = "tern-dev"
	}
	s := &Server{model: m, opt: opt, mux: http.NewServeMux(), metrics: NewMetrics()}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200); io.WriteString(w, "\n") }
	s.mux.HandleFunc("GET /ping", ok)
	s.mux.HandleFunc("GET /health", ok)
	s.mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, opt.Version) })
	s.mux.HandleFunc("POST /invocations", s.invocations)
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.metrics.WriteTo(w)
	})
	s.mux.HandleFunc("GET /v2", s.v2Server)
	s.mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) { httpjson.Write(w, 200, map[string]bool{"live": true}) })
	s.mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, _ *http.Request) { httpjson.Write(w, 200, map[string]bool{"ready": true}) })
	s.mux.HandleFunc("GET /v2/models/{name}", s.v2Metadata)
	s.mux.HandleFunc("GET /v2/models/{name}/versions/{version}", s.v2Metadata)
	s.mux.HandleFunc("GET /v2/models/{name}/ready", s.v2Ready)
	s.mux.HandleFunc("GET /v2/models/{name}/versions/{version}/ready", s.v2Ready)
	s.mux.HandleFunc("POST /v2/models/{name}/infer", s.v2Infer)
	s.mux.HandleFunc("POST /v2/models/{name}/versions/{version}/infer", s.v2Infer)
	return s, nil
}

// Metrics is the server's Prometheus counters.
func (s *Server) Metrics() *Metrics { return s.metrics }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A sane caller request ID is echoed (no allocation: the header's own
	// slice). None is made here: only the router logs predictions, so only
	// its IDs can be labelled later.
	if v := r.Header[core.RequestIDHeader]; len(v) > 0 && core.ValidRequestID(v[0]) {
		w.Header()[core.RequestIDHeader] = v[:1:1]
	}
	defer func() {
		// A panic in a model must not take the server down, and the
		// caller gets a JSON error rather than a dropped connection.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			httpjson.WriteMLflowError(w, 500, "INTERNAL_ERROR", "The model failed while scoring this request.")
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// readBody reads at most MaxBodyBytes; more is a 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *RequestError) {
	if r.ContentLength > s.opt.MaxBodyBytes {
		return nil, &RequestError{Status: 413, Msg: "The body is " + strconv.FormatInt(r.ContentLength, 10) + " bytes; the limit is " + strconv.FormatInt(s.opt.MaxBodyBytes, 10) + "."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &RequestError{Status: 413, Msg: "The body is larger than the limit of " + strconv.FormatInt(s.opt.MaxBodyBytes, 10) + " bytes."}
		}
		return nil, bad("The body could not be read.")
	}
	return body, nil
}

func (s *Server) invocations(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, rerr := s.readBody(w, r)
	var b *Batch
	if rerr == nil {
		b, rerr = DecodeMLflow(r.Header.Get("Content-Type"), body, s.model.Signature)
	}
	lb, classifier := s.model.Predictor.(Labeler)
	if rerr == nil && b.Proba && (!classifier || lb.ProbaWidth() == 0) {
		rerr = bad("params.predict_method is predict_proba, but this model gives no class probabilities: it is not a classifier that scores each class. Leave predict_method out or set it to predict.")
	}
	var out []float64
	if rerr == nil {
		out, rerr = s.predict(b)
	}
	var x *explain.Explanation
	var xOuts []string
	if rerr == nil && b.Explain {
		x, xOuts, rerr = s.explainBatch(r.Context(), b)
	}
	if rerr != nil {
		s.metrics.observe("mlflow", rerr.Status, 0, time.Since(start))
		code := "BAD_REQUEST"
		if rerr.Status >= 500 {
			code = "INTERNAL_ERROR"
		}
		httpjson.WriteMLflowError(w, rerr.Status, code, rerr.Msg)
		return
	}
	bp := s.bufs.Get().(*[]byte)
	buf := append((*bp)[:0], `{"predictions":`...)
	switch {
	case classifier && b.Proba:
		buf = appendPredictions(buf, lb.Probabilities(out, b.NRows), b.NRows, lb.ProbaWidth())
	case classifier:
		lj, _ := json.Marshal(lb.Labels(out, b.NRows))
		buf = append(buf, lj...)
	default:
		buf = appendPredictions(buf, out, b.NRows, s.model.Predictor.OutputWidth())
	}
	if x != nil {
		buf = append(buf, `,"contributions":`...)
		buf = s.appendContributions(buf, x, xOuts)
	}
	buf = append(buf, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf)
	*bp = buf
	s.bufs.Put(bp)
	s.metrics.observe("mlflow", 200, b.NRows, time.Since(start))
}

func (s *Server) predict(b *Batch) ([]float64, *RequestError) {
	out := make([]float64, b.NRows*s.model.Predictor.OutputWidth())
	if b.NRows == 0 {
		return out, nil
	}
	if err := s.model.Predictor.Predict(b, out); err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, &RequestError{Status: 500, Msg: "The model failed while scoring this request."}
	}
	return out, nil
}

// appendPredictions writes a flat list for single-output models and a
// list of lists otherwise. Non-finite values are written as null: JSON has
// no NaN, and a client parser must not choke on a prediction.
func appendPredictions(buf []byte, out []float64, nrows, width int) []byte {
	buf = append(buf, '[')
	for r := 0; r < nrows; r++ {
		if r > 0 {
			buf = append(buf, ',')
		}
		if width == 1 {
			buf = appendFloat(buf, out[r])
			continue
		}
		buf = append(buf, '[')
		for c := 0; c < width; c++ {
			if c > 0 {
				buf = append(buf, ',')
			}
			buf = appendFloat(buf, out[r*width+c])
		}
		buf = append(buf, ']')
	}
	return append(buf, ']')
}

func appendFloat(buf []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(buf, "null"...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

func (s *Server) v2Server(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, 200, map[string]any{"name": "tern", "version": s.opt.Version, "extensions": []string{}})
}

// v2Model checks the path names this server's model; a different name is
// a 404 as the protocol says.
func (s *Server) v2Model(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("name") != s.model.Name {
		httpjson.Write(w, 404, map[string]string{"error": "Model " + strconv.Quote(clip(r.PathValue("name"))) + " is not served here; this server serves " + strconv.Quote(s.model.Name) + "."})
		return false
	}
	if v := r.PathValue("version"); v != "" && v != s.model.Version {
		httpjson.Write(w, 404, map[string]string{"error": "Version " + strconv.Quote(clip(v)) + " of " + strconv.Quote(s.model.Name) + " is not served here; this server serves version " + s.model.Version + "."})
		return false
	}
	return true
}

func (s *Server) v2Ready(w http.ResponseWriter, r *http.Request) {
	if s.v2Model(w, r) {
		httpjson.Write(w, 200, map[string]any{"name": s.model.Name, "ready": true})
	}
}

func v2Datatype(t string) string {
	switch t {
	case "long":
		return "INT64"
	case "integer":
		return "INT32"
	case "float":
		return "FP32"
	case "boolean":
		return "BOOL"
	}
	return "FP64"
}

// v2Outputs describes every output infer gives: "predict" always, and
// "probabilities" for a classifier that scores each class.
func (s *Server) v2Outputs() []v2Meta {
	width := int64(s.model.Predictor.OutputWidth())
	if lb, ok := s.model.Predictor.(Labeler); ok {
		outs := []v2Meta{{"predict", lb.LabelType(), []int64{-1}}}
		if k := lb.ProbaWidth(); k > 0 {
			outs = append(outs, v2Meta{"probabilities", "FP64", []int64{-1, int64(k)}})
		}
		return s.withContributions(outs)
	}
	shape := []int64{-1}
	if width > 1 {
		shape = []int64{-1, width}
	}
	return s.withContributions([]v2Meta{{"predict", "FP64", shape}})
}

// withContributions lists the "contributions" output of a model that
// explains (given only when a request asks for it).
func (s *Server) withContributions(outs []v2Meta) []v2Meta {
	k := s.explainable()
	if k == 0 {
		return outs
	}
	shape := []int64{-1, int64(len(s.model.Signature.Inputs) + 1)}
	if k > 1 {
		shape = []int64{-1, int64(k), shape[1]}
	}
	return append(outs, v2Meta{"contributions", "FP64", shape})
}

type v2Meta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (s *Server) v2Metadata(w http.ResponseWriter, r *http.Request) {
	if !s.v2Model(w, r) {
		return
	}
	var ins []v2Meta
	for _, c := range s.model.Signature.Inputs {
		dt := v2Datatype(c.Type)
		if c.Type == "string" {
			dt = "BYTES"
		}
		ins = append(ins, v2Meta{c.Name, dt, []int64{-1}})
	}
	httpjson.Write(w, 200, map[string]any{
		"name": s.model.Name, "versions": []string{s.model.Version}, "platform": "tern",
		"inputs": ins, "outputs": s.v2Outputs(),
	})
}

// v2Wanted reads the request's outputs: which of the model's outputs to
// answer (all when it names none). An output the model does not give is
// a 400 naming the ones it does.
func (s *Server) v2Wanted(req *V2Request) (map[string]bool, *RequestError) {
	gives := map[string]bool{}
	var names []string
	for _, o := range s.v2Outputs() {
		gives[o.Name] = true
		names = append(names, o.Name)
	}
	if len(req.Outputs) == 0 {
		return gives, nil
	}
	want := map[string]bool{}
	for _, o := range req.Outputs {
		if o.Name == "contributions" && !gives[o.Name] {
			// Asked for by name from a model that cannot explain: the
			// reason, not the list of outputs.
			if _, _, err := s.explainBatch(context.Background(), &Batch{}); err != nil {
				return nil, err
			}
		}
		if !gives[o.Name] {
			return nil, bad("The request asks for output %q; this model gives %s.", clip(o.Name), strings.Join(names, " and "))
		}
		want[o.Name] = true
	}
	return want, nil
}

func (s *Server) v2Infer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !s.v2Model(w, r) {
		s.metrics.observe("v2", 404, 0, time.Since(start))
		return
	}
	body, rerr := s.readBody(w, r)
	if rerr == nil {
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
			rerr = &RequestError{Status: 415, Msg: "Content-Type " + clip(ct) + " is not supported; the V2 protocol takes application/json."}
		}
	}
	var b *Batch
	var req *V2Request
	if rerr == nil {
		b, req, rerr = decodeV2Checked(body, s.model.Signature)
	}
	var want map[string]bool
	if rerr == nil {
		want, rerr = s.v2Wanted(req)
	}
	var out []float64
	if rerr == nil {
		b.wantProba = want["probabilities"]
		out, rerr = s.predict(b)
	}
	var x *explain.Explanation
	var xOuts []string
	if rerr == nil && (b.Explain || want["contributions"] && len(req.Outputs) > 0) {
		x, xOuts, rerr = s.explainBatch(r.Context(), b)
	}
	if rerr != nil {
		s.metrics.observe("v2", rerr.Status, 0, time.Since(start))
		httpjson.Write(w, rerr.Status, map[string]string{"error": rerr.Msg})
		return
	}
	id := req.ID
	width := s.model.Predictor.OutputWidth()
	if lb, ok := s.model.Predictor.(Labeler); ok {
		s.v2Labels(w, id, lb, want, out, b.NRows, x, xOuts)
		s.metrics.observe("v2", 200, b.NRows, time.Since(start))
		return
	}
	bp := s.bufs.Get().(*[]byte)
	buf := append((*bp)[:0], `{"model_name":`...)
	buf = strconv.AppendQuote(buf, s.model.Name)
	buf = append(buf, `,"model_version":`...)
	buf = strconv.AppendQuote(buf, s.model.Version)
	if id != "" {
		buf = append(buf, `,"id":`...)
		idb, _ := json.Marshal(id)
		buf = append(buf, idb...)
	}
	buf = append(buf, `,"outputs":[`...)
	if want["predict"] {
		buf = append(buf, `{"name":"predict","datatype":"FP64","shape":[`...)
		buf = strconv.AppendInt(buf, int64(b.NRows), 10)
		if width > 1 {
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, int64(width), 10)
		}
		buf = append(buf, `],"data":[`...)
		for i, f := range out {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendFloat(buf, f)
		}
		buf = append(buf, "]}"...)
	}
	if x != nil {
		if want["predict"] {
			buf = append(buf, ',')
		}
		buf = s.appendV2Contributions(buf, x, xOuts)
	}
	buf = append(buf, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf)
	*bp = buf
	s.bufs.Put(bp)
	s.metrics.observe("v2", 200, b.NRows, time.Since(start))
}

// v2Labels answers a classifier: "predict" holds the labels (BYTES when
// they are text) and "probabilities" the class probabilities, each when
// wanted.
func (s *Server) v2Labels(w http.ResponseWriter, id string, lb Labeler, want map[string]bool, out []float64, nrows int, x *explain.Explanation, xOuts []string) {
	type tensor struct {
		Name     string `json:"name"`
		Datatype string `json:"datatype"`
		Shape    []int  `json:"shape"`
		Data     any    `json:"data"`
	}
	var outputs []any
	if want["predict"] {
		outputs = append(outputs, tensor{"predict", lb.LabelType(), []int{nrows}, lb.Labels(out, nrows)})
	}
	if k := lb.ProbaWidth(); k > 0 && want["probabilities"] {
		raw := lb.Probabilities(out, nrows)
		probs := make([]any, len(raw))
		for i, f := range raw {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				probs[i] = nil
			} else {
				probs[i] = f
			}
		}
		outputs = append(outputs, tensor{"probabilities", "FP64", []int{nrows, k}, probs})
	}
	if x != nil {
		outputs = append(outputs, json.RawMessage(s.appendV2Contributions(nil, x, xOuts)))
	}
	resp := map[string]any{"model_name": s.model.Name, "model_version": s.model.Version, "outputs": outputs}
	if id != "" {
		resp["id"] = id
	}
	httpjson.Write(w, 200, resp)
}
