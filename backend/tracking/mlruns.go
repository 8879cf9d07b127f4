package tracking

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// MLflow's file store ("mlruns/") layout, read by ImportMLruns and written
// by ExportMLruns:
//
//	<exp>/meta.yaml                     experiment: name, ids, times, stage
//	<exp>/<run>/meta.yaml               run: ids, name, status (1–5), times, user
//	<exp>/<run>/metrics/<key>           one "timestamp value step" line per point
//	<exp>/<run>/params/<key>            the value
//	<exp>/<run>/tags/<key>              the value
//	<exp>/<run>/artifacts/...           files
//
// Keys containing "/" are nested folders. meta.yaml files are flat
// "key: value" maps, read here without a YAML library and capped in size,
// so a hostile file cannot blow up memory.

// maxMetaBytes caps a meta.yaml; real ones are a few hundred bytes.
const maxMetaBytes = 64 << 10

var mlStatusNum = map[string]Status{"1": StatusRunning, "2": StatusScheduled, "3": StatusFinished, "4": StatusFailed, "5": StatusKilled}

// ImportReport says what an import did.
type ImportReport struct {
	Experiments int      `json:"experiments"`
	Runs        int      `json:"runs"`
	Skipped     int      `json:"skipped"` // runs already present (re-import)
	Points      int      `json:"points"`
	Artifacts   int      `json:"artifacts"`
	Warnings    []string `json:"warnings"`
}

func readMeta(p string) (map[string]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetaBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetaBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxMetaBytes)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == ' ' || line[0] == '-' || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = strings.ReplaceAll(v[1:len(v)-1], "''", "'")
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
		case v == "null" || v == "~":
			v = ""
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

// ImportMLruns reads an MLflow mlruns/ folder into Tern. Experiments are
// matched by name (Default stays "0"); runs keep their MLflow ids, and a
// run already present is skipped, so importing twice is harmless.
func (s *Service) ImportMLruns(dir string) (ImportReport, error) {
	var rep ImportReport
	entries, err := os.ReadDir(dir)
	if err != nil {
		return rep, core.Wrap(err, core.Invalid, "Tern cannot read the folder %s.", dir)
	}
	found := false
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || e.Name() == "models" {
			continue
		}
		expDir := filepath.Join(dir, e.Name())
		meta, err := readMeta(filepath.Join(expDir, "meta.yaml"))
		if err != nil {
			continue // not an experiment folder
		}
		found = true
		name := meta["name"]
		if name == "" {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("experiment folder %s has no name; skipped", e.Name()))
			continue
		}
		exp, err := s.ExperimentByName(name)
		if err != nil {
			if exp, err = s.CreateExperiment(name, nil); err != nil {
				return rep, err
			}
		}
		rep.Experiments++
		runs, _ := os.ReadDir(expDir)
		for _, r := range runs {
			if !r.IsDir() {
				continue
			}
			n, err := s.importRun(exp.ID, filepath.Join(expDir, r.Name()), &rep)
			if err != nil {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("run %s: %s", r.Name(), core.ErrorMessage(err)))
				continue
			}
			rep.Points += n
		}
	}
	if !found {
		return rep, core.Errorf(core.Invalid, "%s is not an MLflow mlruns folder: no experiment meta.yaml inside.", dir)
	}
	s.bus.Publish("tracking.run.created", map[string]string{})
	return rep, nil
}

func (s *Service) importRun(expID, runDir string, rep *ImportReport) (int, error) {
	meta, err := readMeta(filepath.Join(runDir, "meta.yaml"))
	if err != nil {
		return 0, core.Errorf(core.Invalid, "no readable meta.yaml")
	}
	id := meta["run_id"]
	if id == "" {
		id = meta["run_uuid"]
	}
	if id == "" || id != filepath.Base(runDir) || strings.ContainsAny(id, "\x00/\\") || len(id) > 64 {
		return 0, core.Errorf(core.Invalid, "run id %q does not match its folder", id)
	}
	s.mu.RLock()
	_, exists := s.runs[id]
	s.mu.RUnlock()
	if exists {
		rep.Skipped++
		return 0, nil
	}
	status := mlStatusNum[meta["status"]]
	if status == "" {
		if st := Status(meta["status"]); st.valid() {
			status = st
		} else {
			status = StatusFinished
		}
	}
	start, _ := strconv.ParseInt(meta["start_time"], 10, 64)
	end, _ := strconv.ParseInt(meta["end_time"], 10, 64)
	info := RunInfo{ID: id, ExperimentID: expID, Name: meta["run_name"], Status: status, StartTime: start, EndTime: end,
		UserID: meta["user_id"], LifecycleStage: StageActive, ArtifactURI: "mlflow-artifacts:/" + expID + "/" + id + "/artifacts",
		Source: meta["source_name"]}
	deleted := meta["lifecycle_stage"] == StageDeleted
	params, err := readKeyFiles(filepath.Join(runDir, "params"), MaxParamValueLength)
	if err != nil {
		return 0, err
	}
	tags, err := readKeyFiles(filepath.Join(runDir, "tags"), MaxTagValueLength)
	if err != nil {
		return 0, err
	}
	if info.Name == "" {
		info.Name = tags[TagRunName]
	}
	if info.Name == "" {
		info.Name = id
	}
	tags[TagRunName] = info.Name
	if c := tags["mlflow.source.git.commit"]; c != "" {
		info.GitCommit = c
	}
	b := Batch{}
	for k, v := range params {
		b.Params = append(b.Params, Param{k, v})
	}
	for k, v := range tags {
		b.Tags = append(b.Tags, Tag{k, v})
	}
	if err := validateBatch(b, false); err != nil {
		return 0, err
	}
	r := &Run{RunInfo: info, Params: map[string]string{}, Tags: map[string]string{}, Metrics: map[string]Point{}, LastHeartbeat: start}
	n, _ := parseExpID(expID)
	bi, _ := json.Marshal(info)
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(runKey(id), bi); err != nil {
			return err
		}
		if err := txn.Set(expRunKey(n, id), nil); err != nil {
			return err
		}
		if err := txn.Set(beatKey(id), store.I64(start)); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "run.import", Objects: runObj(id, info.Name), After: "from an mlruns folder, experiment " + expID}); err != nil {
			return err
		}
		return writeParamsTags(txn, id, r, b.Params, b.Tags)
	})
	if err != nil {
		return 0, core.Wrap(err, core.Internal, "could not save the run")
	}
	applyParamsTags(r, b.Params, b.Tags)
	r.Name = info.Name
	s.mu.Lock()
	s.runs[id] = r
	s.mu.Unlock()
	rep.Runs++

	points := 0
	err = walkKeys(filepath.Join(runDir, "metrics"), func(key, p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 4096), 1<<20)
		var ms []Metric
		line := 0
		for sc.Scan() {
			line++
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			ts, e1 := strconv.ParseInt(fields[0], 10, 64)
			v, e2 := strconv.ParseFloat(fields[1], 64)
			var step int64
			if len(fields) > 2 {
				step, _ = strconv.ParseInt(fields[2], 10, 64)
			}
			if e1 != nil || e2 != nil {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("run %s metric %s line %d is not 'timestamp value step'; skipped", id, key, line))
				continue
			}
			if ts == 0 {
				ts = 1 // 0 means "now" to LogMetrics; keep the point in the past
			}
			ms = append(ms, Metric{Key: key, Value: Float(v), Timestamp: ts, Step: step})
			if len(ms) == metricChunk {
				if err := s.write(id, Batch{Metrics: ms, partOf: true}); err != nil {
					return err
				}
				points += len(ms)
				ms = ms[:0]
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		if len(ms) > 0 {
			if err := s.write(id, Batch{Metrics: ms, partOf: true}); err != nil {
				return err
			}
			points += len(ms)
		}
		return nil
	})
	if err != nil {
		return points, err
	}
	// artifacts: regular files only, never links, every path checked
	artDir := filepath.Join(runDir, "artifacts")
	_ = filepath.WalkDir(artDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(artDir, p)
		rel = filepath.ToSlash(rel)
		if _, err := CleanArtifactPath(rel); err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("run %s artifact %q skipped: %s", id, rel, core.ErrorMessage(err)))
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		if _, err := s.logArtifact(id, rel, f, true); err == nil {
			rep.Artifacts++
		}
		return nil
	})
	if deleted {
		// soft-deleted in MLflow: hidden here too, after its data is in
		if err := s.SoftDelete(id); err != nil {
			return points, err
		}
	}
	return points, nil
}

// walkKeys calls fn for every file under dir with its key (the relative
// path, "/"-separated), skipping links.
func walkKeys(dir string, fn func(key, path string) error) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		key := filepath.ToSlash(rel)
		if validName("Key", key) != nil {
			return nil
		}
		return fn(key, p)
	})
}

func readKeyFiles(dir string, limit int) (map[string]string, error) {
	out := map[string]string{}
	err := walkKeys(dir, func(key, p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
		if err != nil {
			return err
		}
		if len(b) > limit {
			b = b[:limit]
		}
		out[key] = string(b)
		return nil
	})
	return out, err
}

var mlStatusOut = map[Status]int{StatusRunning: 1, StatusScheduled: 2, StatusFinished: 3, StatusFailed: 4, StatusKilled: 5, StatusCrashed: 4}

// ExportMLruns writes the experiment's runs (all when runIDs is empty)
// under destDir/<expID>/ in MLflow's mlruns layout, artifacts included.
// Files are written to a temp folder and renamed into place at the end.
func (s *Service) ExportMLruns(expID string, runIDs []string, destDir string) (int, error) {
	exp, err := s.Experiment(expID)
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	for _, id := range runIDs {
		want[id] = true
	}
	s.mu.RLock()
	var runs []Run
	for _, r := range s.runs {
		if r.ExperimentID == expID && (len(want) == 0 || want[r.ID]) {
			runs = append(runs, copyRun(r))
		}
	}
	s.mu.RUnlock()
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	if err := os.MkdirAll(destDir, 0o700); err != nil {
		return 0, core.Wrap(err, core.Unavailable, "Tern cannot create %s.", destDir)
	}
	final := filepath.Join(destDir, expID)
	if _, err := os.Stat(final); err == nil {
		return 0, core.Errorf(core.Conflict, "%s already exists; export into an empty folder.", final)
	}
	tmp, err := os.MkdirTemp(destDir, ".tern-export-")
	if err != nil {
		return 0, core.Wrap(err, core.Unavailable, "Tern cannot write to %s.", destDir)
	}
	defer os.RemoveAll(tmp)
	yaml := func(p string, kv [][2]string) error {
		var sb strings.Builder
		for _, e := range kv {
			fmt.Fprintf(&sb, "%s: %s\n", e[0], e[1])
		}
		return os.WriteFile(p, []byte(sb.String()), 0o600)
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	if err := yaml(filepath.Join(tmp, "meta.yaml"), [][2]string{
		{"artifact_location", q("mlflow-artifacts:/" + expID)}, {"creation_time", strconv.FormatInt(exp.CreationTime, 10)},
		{"experiment_id", q(expID)}, {"last_update_time", strconv.FormatInt(exp.LastUpdateTime, 10)},
		{"lifecycle_stage", exp.LifecycleStage}, {"name", q(exp.Name)},
	}); err != nil {
		return 0, core.Wrap(err, core.Unavailable, "Tern cannot write to %s.", destDir)
	}
	for _, r := range runs {
		rd := filepath.Join(tmp, r.ID)
		for _, sub := range []string{"metrics", "params", "tags", "artifacts"} {
			if err := os.MkdirAll(filepath.Join(rd, sub), 0o700); err != nil {
				return 0, core.Wrap(err, core.Unavailable, "Tern cannot write to %s.", destDir)
			}
		}
		end := "null"
		if r.EndTime > 0 {
			end = strconv.FormatInt(r.EndTime, 10)
		}
		if err := yaml(filepath.Join(rd, "meta.yaml"), [][2]string{
			{"artifact_uri", q(r.ArtifactURI)}, {"end_time", end}, {"entry_point_name", "''"}, {"experiment_id", q(expID)},
			{"lifecycle_stage", r.LifecycleStage}, {"run_id", r.ID}, {"run_name", q(r.Name)}, {"run_uuid", r.ID},
			{"source_name", q(r.Source)}, {"source_type", "4"}, {"source_version", q(r.GitCommit)},
			{"start_time", strconv.FormatInt(r.StartTime, 10)}, {"status", strconv.Itoa(mlStatusOut[r.Status])},
			{"tags", "[]"}, {"user_id", q(r.UserID)},
		}); err != nil {
			return 0, err
		}
		put := func(sub, key, val string) error {
			p := filepath.Join(rd, sub, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			return os.WriteFile(p, []byte(val), 0o600)
		}
		for k, v := range r.Params {
			if err := put("params", k, v); err != nil {
				return 0, err
			}
		}
		for k, v := range r.Tags {
			if err := put("tags", k, v); err != nil {
				return 0, err
			}
		}
		for k := range r.Metrics {
			pts, err := s.MetricHistory(r.ID, k)
			if err != nil {
				return 0, err
			}
			var sb strings.Builder
			for _, p := range pts {
				sb.WriteString(strconv.FormatInt(p.Timestamp, 10))
				sb.WriteByte(' ')
				sb.WriteString(pyFloat(float64(p.Value)))
				sb.WriteByte(' ')
				sb.WriteString(strconv.FormatInt(p.Step, 10))
				sb.WriteByte('\n')
			}
			if err := put("metrics", k, sb.String()); err != nil {
				return 0, err
			}
		}
		if err := s.copyArtifactsOut(r.ID, "", filepath.Join(rd, "artifacts")); err != nil {
			return 0, err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return 0, core.Wrap(err, core.Unavailable, "Tern could not move the export into %s.", final)
	}
	return len(runs), nil
}

// pyFloat writes floats as Python's str() does, which MLflow reads back.
func pyFloat(v float64) string {
	switch {
	case v != v:
		return "nan"
	case v > 1.7976931348623157e308:
		return "inf"
	case v < -1.7976931348623157e308:
		return "-inf"
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".en") {
		s += ".0"
	}
	return s
}

func (s *Service) copyArtifactsOut(runID, dir, dest string) error {
	list, err := s.ListArtifacts(runID, dir)
	if err != nil {
		return err
	}
	for _, a := range list {
		target := filepath.Join(dest, filepath.FromSlash(path.Base(a.Path)))
		if a.IsDir {
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			if err := s.copyArtifactsOut(runID, a.Path, target); err != nil {
				return err
			}
			continue
		}
		f, _, err := s.OpenArtifact(runID, a.Path)
		if err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			f.Close()
			return err
		}
		_, err = io.Copy(out, f)
		f.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
