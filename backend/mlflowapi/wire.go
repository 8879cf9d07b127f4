package mlflowapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpjson"
	"github.com/tern-studio/tern/backend/tracking"
)

// MLflow error codes (databricks_pb2.ErrorCode names).
const (
	errInvalid  = "INVALID_PARAMETER_VALUE"
	errNotFound = "RESOURCE_DOES_NOT_EXIST"
	errExists   = "RESOURCE_ALREADY_EXISTS"
	errBad      = "BAD_REQUEST"
	errInternal = "INTERNAL_ERROR"
	errUnavail  = "TEMPORARILY_UNAVAILABLE"
)

// apiError is an error already in MLflow's terms.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, errInvalid, sprintf(format, args...)}
}

func writeErr(w http.ResponseWriter, log *slog.Logger, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{code: errInternal, status: http.StatusInternalServerError, msg: core.ErrorMessage(err)}
		switch core.ErrorCode(err) {
		case core.Invalid:
			ae.status, ae.code = http.StatusBadRequest, errInvalid
		case core.NotFound:
			ae.status, ae.code = http.StatusNotFound, errNotFound
		case core.Conflict:
			ae.status, ae.code = http.StatusBadRequest, errExists
		case core.Unavailable:
			ae.status, ae.code = http.StatusServiceUnavailable, errUnavail
		default:
			log.Error("mlflow api", "err", err)
		}
	}
	httpjson.WriteMLflowError(w, ae.status, ae.code, ae.msg)
}

// args reads request fields from a JSON object body (POST) or the query
// string (GET), with MLflow's leniency: ids as strings or numbers, unknown
// fields ignored.
type args struct {
	body map[string]json.RawMessage
	q    url.Values
	req  *http.Request // for the run scope; nil in unit uses
}

// scopeOK refuses a run other than the request's scope.
func (a args) scopeOK(runID string) error {
	if a.req == nil {
		return nil
	}
	return checkScope(a.req, runID)
}

func readArgs(r *http.Request) (args, error) {
	if r.Method == http.MethodGet {
		return args{q: r.URL.Query()}, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return args{}, &apiError{http.StatusRequestEntityTooLarge, errBad, sprintf("The request body is larger than %d bytes.", mbe.Limit)}
		}
		return args{}, &apiError{http.StatusBadRequest, errBad, "The request body could not be read."}
	}
	a := args{body: map[string]json.RawMessage{}, q: r.URL.Query()}
	if len(strings.TrimSpace(string(b))) == 0 {
		if r.Method == http.MethodDelete {
			// the registry's DELETEs carry a JSON body; a bare DELETE
			// names its fields in the query
			return args{q: r.URL.Query()}, nil
		}
		return a, nil
	}
	if err := json.Unmarshal(b, &a.body); err != nil {
		return args{}, &apiError{http.StatusBadRequest, errBad, "The request body must be a JSON object: " + jsonProblem(err)}
	}
	if a.body == nil { // the literal null
		a.body = map[string]json.RawMessage{}
	}
	return a, nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return sprintf("invalid JSON at byte %d.", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return sprintf("field %q should be %s, not a JSON %s.", te.Field, te.Type, te.Value)
		}
		return sprintf("got a JSON %s.", te.Value)
	}
	return "it is not valid JSON."
}

func (a args) has(name string) bool {
	if v, ok := a.body[name]; ok && string(v) != "null" {
		return true
	}
	return a.body == nil && a.q.Has(name)
}

// str reads a string field; numbers are accepted and kept as written.
func (a args) str(name string) (string, error) {
	if a.body == nil {
		return a.q.Get(name), nil
	}
	return rawString(name, a.body[name])
}

func rawString(name string, v json.RawMessage) (string, error) {
	s := strings.TrimSpace(string(v))
	if s == "" || s == "null" {
		return "", nil
	}
	switch s[0] {
	case '"':
		var out string
		if err := json.Unmarshal(v, &out); err != nil {
			return "", invalid("Field %q is not a valid string.", name)
		}
		return out, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return "", invalid("Field %q is not a valid number.", name)
		}
		return n.String(), nil
	}
	return "", invalid("Field %q should be a string, not %s.", name, jsonKind(s))
}

func jsonKind(s string) string {
	switch s[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	}
	return "this value"
}

func (a args) required(name string) (string, error) {
	s, err := a.str(name)
	if err == nil && s == "" {
		err = invalid("Missing value for required parameter '%s'.", name)
	}
	return s, err
}

// int64 reads an integer field given as a number or a numeric string.
func (a args) int64(name string) (int64, bool, error) {
	s, err := a.str(name)
	if err != nil || s == "" {
		return 0, false, err
	}
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return 0, false, invalid("Field %q should be an integer, not %q.", name, s)
		}
		n = int64(f)
	}
	return n, true, nil
}

func (a args) strs(name string) ([]string, error) {
	if a.body == nil {
		return a.q[name], nil
	}
	v, ok := a.body[name]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		// a single value where a list is expected, as query strings do
		s, err := rawString(name, v)
		if err != nil {
			return nil, invalid("Field %q should be a list.", name)
		}
		return []string{s}, nil
	}
	out := make([]string, 0, len(raw))
	for i, r := range raw {
		s, err := rawString(sprintf("%s[%d]", name, i), r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// runID reads run_id, falling back to the legacy run_uuid.
func (a args) runID() (string, error) {
	id, err := a.str("run_id")
	if err == nil && id == "" {
		id, err = a.str("run_uuid")
	}
	if err == nil && id == "" {
		err = invalid("Missing value for required parameter 'run_id'.")
	}
	if err == nil {
		err = a.scopeOK(id)
	}
	return id, err
}

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func kvList(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// readKVs reads a list of {key, value} objects; values may be numbers
// (clients that skip str()).
func readKVs(name string, v json.RawMessage) ([]kv, error) {
	if len(v) == 0 || string(v) == "null" {
		return nil, nil
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, invalid("Field %q should be a list of {key, value} objects.", name)
	}
	out := make([]kv, 0, len(raw))
	for i, m := range raw {
		if rk := strings.TrimSpace(string(m["key"])); rk != "" && rk[0] != '"' && rk != "null" {
			return nil, invalid("Field '%s[%d].key' should be a string.", name, i)
		}
		k, err := rawString(sprintf("%s[%d].key", name, i), m["key"])
		if err != nil {
			return nil, err
		}
		if k == "" {
			return nil, invalid("Missing value for required parameter '%s[%d].key'.", name, i)
		}
		val, err := rawString(sprintf("%s[%d].value", name, i), m["value"])
		if err != nil {
			return nil, err
		}
		out = append(out, kv{k, val})
	}
	return out, nil
}

type metricJSON struct {
	Key       string         `json:"key"`
	Value     tracking.Float `json:"value"`
	Timestamp int64          `json:"timestamp"`
	Step      int64          `json:"step"`
}

// readMetric reads one metric object; value may be a number or one of the
// strings MLflow uses for non-finite values.
func readMetric(path string, m map[string]json.RawMessage) (tracking.Metric, error) {
	a := args{body: m}
	key, err := a.str("key")
	if err != nil {
		return tracking.Metric{}, err
	}
	if key == "" {
		return tracking.Metric{}, invalid("Missing value for required parameter '%skey'.", path)
	}
	raw, ok := m["value"]
	if !ok || string(raw) == "null" {
		return tracking.Metric{}, invalid("Missing value for required parameter '%svalue'.", path)
	}
	v, perr := tracking.ParseFloat(raw)
	if perr != nil {
		return tracking.Metric{}, invalid("Metric %q: value %s is not a number.", key, string(raw))
	}
	ts, _, err := a.int64("timestamp")
	if err != nil {
		return tracking.Metric{}, err
	}
	step, _, err := a.int64("step")
	if err != nil {
		return tracking.Metric{}, err
	}
	return tracking.Metric{Key: key, Value: tracking.Float(v), Timestamp: ts, Step: step}, nil
}

// wireMetric is log-batch's metric, decoded in one pass (the ingest hot
// path) with MLflow's leniency on numbers given as strings.
type wireMetric struct {
	Key       string          `json:"key"`
	Value     *tracking.Float `json:"value"`
	Timestamp flexInt         `json:"timestamp"`
	Step      flexInt         `json:"step"`
}

// flexInt is an int64 sent as a JSON number or a numeric string (protobuf
// JSON writes int64 as strings).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fl, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || fl != float64(int64(fl)) {
			return invalid("%s is not an integer.", string(b))
		}
		n = int64(fl)
	}
	*f = flexInt(n)
	return nil
}
