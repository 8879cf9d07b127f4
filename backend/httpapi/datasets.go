package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/httpjson"
)

// DefaultUploadLimit caps a browser upload; the body is streamed, so the
// cap bounds disk, not memory.
const DefaultUploadLimit int64 = 20 << 30

// UploadPath is the browser-mode upload route.
const UploadPath = "/api/datasets/upload"

// Importer is what the upload route needs of the dataset service.
type Importer interface {
	ImportReader(ctx context.Context, r io.Reader, sourceName string, size int64, opts dataset.Options) (dataset.Version, error)
}

// datasetRoutes serve browser uploads, streamed into the same one-pass
// import as a dropped file.
//
//	POST /api/datasets/upload?filename=people.csv&importId=…&name=…
//	body: the file's bytes; optional header X-Tern-Import-Options: Options as JSON
//
// The answer is the Version as JSON, or {code, message} with 400/413/….
// A client that aborts the request cancels the import.
func datasetRoutes(d Importer, limit int64) []Route {
	if limit <= 0 {
		limit = DefaultUploadLimit
	}
	return []Route{{
		Pattern:  "POST " + UploadPath,
		RawBody:  true,
		MaxBytes: -1, // streamed; capped below with a 413
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			var opts dataset.Options
			if h := r.Header.Get("X-Tern-Import-Options"); h != "" {
				if err := json.Unmarshal([]byte(h), &opts); err != nil {
					WriteError(w, core.Errorf(core.Invalid, "The import options are not valid JSON."))
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
				tooLarge(w, filename, limit)
				return
			}
			body := http.MaxBytesReader(w, r.Body, limit)
			size := r.ContentLength
			if size < 0 {
				size = 0
			}
			v, err := d.ImportReader(r.Context(), body, filename, size, opts)
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					tooLarge(w, filename, limit)
					return
				}
				WriteError(w, err)
				return
			}
			httpjson.Write(w, http.StatusOK, v)
		}),
	}}
}

// tooLarge answers 413 with the shared error body: the code is invalid,
// but the status must say the body was too large.
func tooLarge(w http.ResponseWriter, filename string, limit int64) {
	msg := fmt.Sprintf("%s is larger than the %s this Tern accepts for uploads.", filename, humanBytes(limit))
	writeError(w, http.StatusRequestEntityTooLarge, string(core.Invalid), msg)
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
