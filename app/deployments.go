package app

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
	"strconv"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/serving"
)

// Deployments is the serving screen: deploy a version, move traffic
// (canary slider, shadow, blue/green, rollback), watch latency and errors,
// try the endpoint, score a CSV, export images.
type Deployments struct {
	svc *deployment.Service
	reg *registry.Service
	bus *core.Bus
	// Packager builds images; nil when Docker is not reachable.
	packager *deployment.DockerLauncher
	client   *http.Client
}

// NewDeployments binds the deployment service.
func NewDeployments(s *deployment.Service, r *registry.Service, bus *core.Bus, packager *deployment.DockerLauncher) *Deployments {
	return &Deployments{svc: s, reg: r, bus: bus, packager: packager, client: &http.Client{Timeout: 60 * time.Second}}
}

func (d *Deployments) ready() error {
	if d.svc == nil {
		return core.Errorf(core.Unavailable, "Serving is not available.")
	}
	return nil
}

// List returns every deployment, newest first.
func (d *Deployments) List() ([]deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	out, err := d.svc.List()
	if out == nil {
		out = []deployment.Deployment{}
	}
	return out, err
}

// Get returns one deployment.
func (d *Deployments) Get(id string) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.Get(id)
}

// Deploy brings a model version (number, "latest" or "@alias") live.
func (d *Deployments) Deploy(model, ref string, opt deployment.Options) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.Deploy(context.Background(), model, ref, opt)
}

// AddVersion starts another version behind the deployment, with no traffic.
func (d *Deployments) AddVersion(id, ref string) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.AddVersion(context.Background(), id, ref)
}

// SetCanary gives backend weight percent, the stable backend the rest.
func (d *Deployments) SetCanary(id, backend string, weight float64) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.SetCanary(id, backend, weight)
}

// SetTraffic replaces the split and shadow (blue/green: 100 to one backend).
func (d *Deployments) SetTraffic(id string, t serving.Traffic) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.SetTraffic(id, t)
}

// Rollback restores the previous split.
func (d *Deployments) Rollback(id string) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.Rollback(id)
}

// Stop takes a deployment down (its log is kept).
func (d *Deployments) Stop(id string) (deployment.Deployment, error) {
	if err := d.ready(); err != nil {
		return deployment.Deployment{}, err
	}
	return d.svc.Stop(context.Background(), id)
}

// Delete stops and forgets a deployment.
func (d *Deployments) Delete(id string) error {
	if err := d.ready(); err != nil {
		return err
	}
	return d.svc.Delete(context.Background(), id)
}

// Stats is live latency percentiles, throughput, errors, shadow agreement
// and prediction-log counts (dropped shown to the user).
func (d *Deployments) Stats(id string) (serving.RouterStats, error) {
	if err := d.ready(); err != nil {
		return serving.RouterStats{}, err
	}
	return d.svc.Stats(id)
}

// LoggedPrediction is a prediction-log record with readable bodies.
type LoggedPrediction struct {
	serving.Record
	RequestText  string `json:"requestText"`
	ResponseText string `json:"responseText"`
}

// Predictions returns the latest logged requests and responses.
func (d *Deployments) Predictions(id string, limit int) ([]LoggedPrediction, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	recs, err := d.svc.Predictions(id, limit)
	out := make([]LoggedPrediction, 0, len(recs))
	for _, r := range recs {
		lp := LoggedPrediction{Record: r, RequestText: string(r.Request), ResponseText: string(r.Response)}
		lp.Request, lp.Response = nil, nil
		out = append(out, lp)
	}
	return out, err
}

// PredictResult is the answer to a Try-it request.
type PredictResult struct {
	Status    int     `json:"status"`
	Backend   string  `json:"backend"`
	Body      string  `json:"body"`
	LatencyMs float64 `json:"latencyMs"`
}

// Predict sends body (JSON in any MLflow form) through the deployment's
// router, exactly as an outside caller would, so it is routed and logged.
func (d *Deployments) Predict(id, contentType, body string) (PredictResult, error) {
	dep, err := d.Get(id)
	if err != nil {
		return PredictResult{}, err
	}
	if dep.State != deployment.StateRunning {
		return PredictResult{}, core.Errorf(core.Conflict, "Deployment %q is not running.", dep.Name)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	start := time.Now()
	resp, err := d.client.Post(dep.Endpoint+"/invocations", contentType, bytes.NewReader([]byte(body)))
	if err != nil {
		return PredictResult{}, core.Wrap(err, core.Unavailable, "The deployment did not answer.")
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return PredictResult{Status: resp.StatusCode, Backend: resp.Header.Get(serving.BackendHeader), Body: string(b), LatencyMs: float64(time.Since(start).Microseconds()) / 1000}, nil
}

// BatchProgress is published on "deployments.batch.progress".
type BatchProgress struct {
	Deployment string `json:"deployment"`
	Rows       int    `json:"rows"`
	Done       bool   `json:"done"`
	Output     string `json:"output,omitempty"`
	Error      string `json:"error,omitempty"`
}

// ScoreCSV scores a CSV file (header row) through the deployment in
// chunks of 500 rows and writes it with a "prediction" column to outPath
// (temp file, then rename). Progress events are throttled to ~100 ms.
func (d *Deployments) ScoreCSV(id, inPath, outPath string) (BatchProgress, error) {
	dep, err := d.Get(id)
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
	p, err := d.score(dep, in, tmp)
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
	d.bus.Publish("deployments.batch.progress", p)
	return p, nil
}

// ScoreCSVText scores a CSV dropped in the browser (the text of the file)
// and returns the scored CSV, for the page to offer as a download.
func (d *Deployments) ScoreCSVText(id, text string) (string, error) {
	dep, err := d.Get(id)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	p, err := d.score(dep, strings.NewReader(text), &out)
	if err != nil {
		return "", err
	}
	p.Done = true
	d.bus.Publish("deployments.batch.progress", p)
	return out.String(), nil
}

// score streams CSV rows from in to out with a prediction column added.
func (d *Deployments) score(dep deployment.Deployment, in io.Reader, dst io.Writer) (BatchProgress, error) {
	p := BatchProgress{Deployment: dep.ID}
	if dep.State != deployment.StateRunning {
		return p, core.Errorf(core.Conflict, "Deployment %q is not running.", dep.Name)
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
		resp, err := d.client.Post(dep.Endpoint+"/invocations", "text/csv", &buf)
		if err != nil {
			return core.Wrap(err, core.Unavailable, "The deployment did not answer.")
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
			d.bus.Publish("deployments.batch.progress", p)
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
		if len(chunk) == 500 {
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

// ExportImage writes `docker save` of the version's serving image to dest.
func (d *Deployments) ExportImage(model string, version int, dest string) (string, error) {
	if d.packager == nil {
		return "", core.Errorf(core.Unavailable, "The tern-runtime binary was not found beside Tern, so no serving image can be built.")
	}
	v, err := d.reg.Version(model, strconv.Itoa(version))
	if err != nil {
		return "", err
	}
	return d.packager.SaveImage(context.Background(), model, version, d.reg.Dir(v), dest)
}

// ExportBuildContext writes Dockerfile + tern-runtime + model/ to dest.
func (d *Deployments) ExportBuildContext(model string, version int, dest string) error {
	if d.packager == nil {
		return core.Errorf(core.Unavailable, "The tern-runtime binary is needed for a build context and was not found.")
	}
	v, err := d.reg.Version(model, strconv.Itoa(version))
	if err != nil {
		return err
	}
	return d.packager.WriteBuildContext(d.reg.Dir(v), dest)
}
