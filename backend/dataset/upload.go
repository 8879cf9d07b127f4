package dataset

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpapi"
)

// DefaultUploadLimit caps a browser upload; the body is streamed, so the
// cap bounds disk, not memory.
const DefaultUploadLimit int64 = 20 << 30

// UploadPath is the browser-mode upload route.
const UploadPath = "/api/datasets/upload"

// Routes are the dataset service's HTTP routes for browser mode: the
// upload, streamed into the same one-pass import as a dropped file.
//
//	POST /api/datasets/upload?filename=people.csv&importId=…&name=…
//	body: the file's bytes; optional header X-Tern-Import-Options: Options as JSON
//
// The answer is the Version as JSON, or {code, message} with 400/413/….
// A client that aborts the request cancels the import.
func (s *Service) Routes(limit int64) []httpapi.Route {
	if limit <= 0 {
		limit = DefaultUploadLimit
	}
	return []httpapi.Route{{
		Pattern:  "POST " + UploadPath,
		RawBody:  true,
		MaxBytes: -1, // streamed; capped below with a 413
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			var opts Options
			if h := r.Header.Get("X-Tern-Import-Options"); h != "" {
				if err := json.Unmarshal([]byte(h), &opts); err != nil {
					writeErr(w, http.StatusBadRequest, core.Errorf(core.Invalid, "The import options are not valid JSON."))
					return
				}
			}
			if v := q.Get("name"); v != "" {
				opts.Name = v
			}
			if v := q.Get("importId"); v != "" {
				opts.ImportID = v
			}
			filename := filepath.Base(q.Get("filename"))
			if filename == "." || filename == "/" || filename == "" {
				filename = "upload.csv"
			}
			if r.ContentLength > limit {
				writeErr(w, http.StatusRequestEntityTooLarge, core.Errorf(core.Invalid, "%s is larger than the %s this Tern accepts for uploads.", filename, humanBytes(limit)))
				return
			}
			body := http.MaxBytesReader(w, r.Body, limit)
			size := r.ContentLength
			if size < 0 {
				size = 0
			}
			v, err := s.ImportReader(r.Context(), body, filename, size, opts)
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					writeErr(w, http.StatusRequestEntityTooLarge, core.Errorf(core.Invalid, "%s is larger than the %s this Tern accepts for uploads.", filename, humanBytes(limit)))
					return
				}
				writeErr(w, status(core.ErrorCode(err)), err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		}),
	}}
}

func status(c core.Code) int {
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

func writeErr(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"code": string(core.ErrorCode(err)), "message": core.ErrorMessage(err)})
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', -1, 64) + " GB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
