package deployment

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/router"
)

// TopicBatchProgress carries BatchProgress while a CSV is scored.
const TopicBatchProgress = "deployments.batch.progress"

// batchRows is how many rows go to the endpoint in one request.
const batchRows = 500

// PredictResult is the answer to a Try-it request.
type PredictResult struct {
	Status    int     `json:"status"`
	Backend   string  `json:"backend"`
	Body      string  `json:"body"`
	LatencyMs float64 `json:"latencyMs"`
}

// Predict sends body (JSON in any MLflow form) through the deployment's
// router, exactly as an outside caller would, so it is routed and logged.
// The endpoint's own answer, a 400 included, is the result, not an error.
func (s *Service) Predict(ctx context.Context, id, contentType, body string) (PredictResult, error) {
	dep, err := s.running(id)
	if err != nil {
		return PredictResult{}, err
	}
	if contentType == "" {
		contentType = "application/json"
	}
	start := time.Now()
	resp, err := s.post(ctx, dep, contentType, strings.NewReader(body))
	if err != nil {
		return PredictResult{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return PredictResult{Status: resp.StatusCode, Backend: resp.Header.Get(router.BackendHeader), Body: string(b), LatencyMs: float64(time.Since(start).Microseconds()) / 1000}, nil
}

// BatchProgress is published on TopicBatchProgress.
type BatchProgress struct {
	Deployment string `json:"deployment"`
	Rows       int    `json:"rows"`
	Done       bool   `json:"done"`
	Output     string `json:"output,omitempty"`
	Error      string `json:"error,omitempty"`
}

// ScoreCSV scores a CSV file (header row) through the deployment in
// chunks of 500 rows and writes it with a "prediction" column to outPath
// ("" is <in>.scored.csv), written to a temp file then renamed, so a
// failure leaves nothing behind. Progress events are throttled to ~100 ms.
func (s *Service) ScoreCSV(ctx context.Context, id, inPath, outPath string) (BatchProgress, error) {
	dep, err := s.Get(id)
	if err != nil {
		return BatchProgress{}, err
	}
	if outPath == "" {
		outPath = inPath[:len(inPath)-len(filepath.Ext(inPath))] + ".scored.csv"
	}
	in, err := os.Open(inPath)
	if err != nil {
		return BatchProgress{}, core.Errorf(core.NotFound, "%s cannot be opened.", inPath)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(outPath), ".scored-*.csv")
	if err != nil {
		return BatchProgress{}, core.Wrap(err, core.Unavailable, "Cannot write next to %s.", outPath)
	}
	defer os.Remove(tmp.Name())
	p, err := s.score(ctx, dep, in, tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = core.Errorf(core.Unavailable, "Writing %s failed.", outPath)
	}
	if err != nil {
		return p, err
	}
	if err := os.Rename(tmp.Name(), outPath); err != nil {
		return p, core.Wrap(err, core.Unavailable, "Cannot move the scored file to %s.", outPath)
	}
	p.Done, p.Output = true, outPath
	s.cfg.Bus.Publish(TopicBatchProgress, p)
	return p, nil
}

// ScoreCSVText scores a CSV dropped in the browser (the text of the file)
// and returns the scored CSV, for the page to offer as a download.
func (s *Service) ScoreCSVText(ctx context.Context, id, text string) (string, error) {
	dep, err := s.Get(id)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	p, err := s.score(ctx, dep, strings.NewReader(text), &out)
	if err != nil {
		return "", err
	}
	p.Done = true
	s.cfg.Bus.Publish(TopicBatchProgress, p)
	return out.String(), nil
}

// running is the deployment, which must be running to be called.
func (s *Service) running(id string) (Deployment, error) {
	dep, err := s.Get(id)
	if err != nil {
		return Deployment{}, err
	}
	if dep.State != StateRunning {
		return Deployment{}, notRunning(dep)
	}
	return dep, nil
}

func notRunning(dep Deployment) error {
	return core.Errorf(core.Conflict, "Deployment %q is not running.", dep.Name)
}

// post sends one request to the deployment's /invocations.
func (s *Service) post(ctx context.Context, dep Deployment, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dep.Endpoint+"/invocations", body)
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The request to %q could not be made.", dep.Name)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "The deployment did not answer.")
	}
	return resp, nil
}

// score streams CSV rows from in to dst with a prediction column added.
func (s *Service) score(ctx context.Context, dep Deployment, in io.Reader, dst io.Writer) (BatchProgress, error) {
	p := BatchProgress{Deployment: dep.ID}
	if dep.State != StateRunning {
		return p, notRunning(dep)
	}
	r := csv.NewReader(in)
	header, err := r.Read()
	if err != nil {
		return p, core.Errorf(core.Invalid, "The CSV has no header row.")
	}
	header = append([]string(nil), header...)
	w := csv.NewWriter(dst)
	w.Write(append(append([]string(nil), header...), "prediction"))
	last := time.Now()
	var chunk [][]string
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		cw.Write(header)
		cw.WriteAll(chunk)
		resp, err := s.post(ctx, dep, "text/csv", &buf)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if resp.StatusCode != 200 {
			var e struct {
				Message string `json:"message"`
			}
			json.Unmarshal(body, &e)
			return core.Errorf(core.Invalid, "Rows %d–%d were refused: %s", p.Rows+1, p.Rows+len(chunk), e.Message)
		}
		var out struct {
			Predictions []json.RawMessage `json:"predictions"`
		}
		if err := json.Unmarshal(body, &out); err != nil || len(out.Predictions) != len(chunk) {
			return core.Errorf(core.Internal, "The deployment answered rows %d–%d with a malformed response.", p.Rows+1, p.Rows+len(chunk))
		}
		for i, row := range chunk {
			var v any
			json.Unmarshal(out.Predictions[i], &v)
			s := string(out.Predictions[i])
			if str, ok := v.(string); ok {
				s = str
			}
			w.Write(append(row, s))
		}
		p.Rows += len(chunk)
		chunk = chunk[:0]
		if time.Since(last) > 100*time.Millisecond {
			last = time.Now()
			s.cfg.Bus.Publish(TopicBatchProgress, p)
		}
		return nil
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return p, core.Errorf(core.Invalid, "The CSV cannot be read after row %d: %v", p.Rows+len(chunk), err)
		}
		chunk = append(chunk, append([]string(nil), rec...))
		if len(chunk) == batchRows {
			if err := flush(); err != nil {
				return p, err
			}
		}
	}
	if err := flush(); err != nil {
		return p, err
	}
	w.Flush()
	if w.Error() != nil {
		return p, core.Errorf(core.Unavailable, "Writing the scored CSV failed.")
	}
	return p, nil
}
