package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpjson"
)

var errorType = reflect.TypeOf((*error)(nil)).Elem()

// bindCalls makes one handler per exported method of each binding, keyed
// "Struct.Method" — the names Wails gives the same methods in the window.
// Methods must return error or (T, error), as Wails requires.
func bindCalls(bindings []any) (map[string]http.Handler, error) {
	out := map[string]http.Handler{}
	for _, b := range bindings {
		v := reflect.ValueOf(b)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			return nil, fmt.Errorf("httpapi: binding %T is not a pointer to a struct", b)
		}
		structName := v.Elem().Type().Name()
		for i := 0; i < v.NumMethod(); i++ {
			m := v.Type().Method(i)
			mt := m.Type
			last := mt.NumOut() - 1
			if last < 0 || last > 1 || mt.Out(last) != errorType {
				return nil, fmt.Errorf("httpapi: %s.%s must return error or (T, error)", structName, m.Name)
			}
			name := structName + "." + m.Name
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("httpapi: two bindings named %s", name)
			}
			out[name] = callHandler(name, v.Method(i))
		}
	}
	return out, nil
}

func callHandler(name string, fn reflect.Value) http.Handler {
	ft := fn.Type()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var raw []json.RawMessage
		body, err := readBody(r)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, "too_large", "The request is larger than Tern accepts here.")
				return
			}
			writeError(w, http.StatusBadRequest, string(core.Invalid), "The request body could not be read.")
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &raw); err != nil {
				writeError(w, http.StatusBadRequest, string(core.Invalid), "Send the arguments as a JSON array.")
				return
			}
		}
		if len(raw) != ft.NumIn() {
			writeError(w, http.StatusBadRequest, string(core.Invalid),
				fmt.Sprintf("%s takes %d argument(s), got %d.", name, ft.NumIn(), len(raw)))
			return
		}
		args := make([]reflect.Value, len(raw))
		for i, a := range raw {
			p := reflect.New(ft.In(i))
			if err := json.Unmarshal(a, p.Interface()); err != nil {
				writeError(w, http.StatusBadRequest, string(core.Invalid),
					fmt.Sprintf("Argument %d of %s is not a valid %s.", i+1, name, ft.In(i)))
				return
			}
			args[i] = p.Elem()
		}
		out := fn.Call(args)
		if errv := out[len(out)-1]; !errv.IsNil() {
			err := errv.Interface().(error)
			if core.ErrorCode(err) == core.Internal {
				slog.Error("call failed", "method", name, "err", err)
			}
			WriteError(w, err)
			return
		}
		if len(out) == 1 {
			httpjson.Write(w, http.StatusOK, nil)
			return
		}
		httpjson.Write(w, http.StatusOK, out[0].Interface())
	})
}

func readBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r.Body)
	return buf.Bytes(), err
}

// WriteError answers with err's HTTP status and the one error body every
// route shares, {"code", "message"}; routes that domain packages add use
// it too, so the UI reads every failure the same way.
func WriteError(w http.ResponseWriter, err error) {
	code := core.ErrorCode(err)
	writeError(w, Status(code), string(code), core.ErrorMessage(err))
}

// Status is the HTTP status for an error code.
func Status(c core.Code) int {
	switch c {
	case core.Invalid:
		return http.StatusBadRequest
	case core.NotFound:
		return http.StatusNotFound
	case core.Conflict:
		return http.StatusConflict
	case core.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
