package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/store"
)

// face is the real server over cfg, with the test token.
func face(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Token = token
	s, err := New(cfg)
	require.NoError(t, err)
	return s
}

// send makes an authorised request (no deadline: imports and reports take
// what they take).
func send(s *Server, method, path string, body io.Reader, contentLength int64) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	req.Host = "127.0.0.1:7733"
	req.Header.Set("Authorization", "Bearer "+token)
	if contentLength != 0 {
		req.ContentLength = contentLength
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestUploadRoute(t *testing.T) {
	st := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(st.Dir, "blobs"), st)
	require.NoError(t, err)
	svc := dataset.NewService(st, blobs, core.NewBus(), st.Dir)
	s := face(t, Config{Datasets: svc, UploadLimit: 1 << 20})

	rec := send(s, "POST", UploadPath+"?filename=../../etc/people.csv&importId=u1", strings.NewReader("a,b\n1,2\n"), 0)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var v dataset.Version
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	assert.Equal(t, "people", v.Dataset, "the path part of a filename is dropped")
	assert.EqualValues(t, 1, v.Rows)

	rec = send(s, "POST", UploadPath+"?filename=bad.csv", strings.NewReader("a,b\n1,2,3\n"), 0)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "Line 2 has 3 fields")

	req := httptest.NewRequest("POST", UploadPath, strings.NewReader("a\n1\n"))
	req.Host = "127.0.0.1:7733"
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Tern-Import-Options", "{not json")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.JSONEq(t, `{"code":"invalid","message":"The import options are not valid JSON."}`, rec.Body.String())

	// Over the cap: refused up front when the length is known, cut off
	// mid-stream when it is not; either way 413 and nothing kept (that the
	// data dir is untouched is the dataset package's own test).
	big := append([]byte("a,b\n"), bytes.Repeat([]byte("1,2\n"), 1<<19)...)
	for _, length := range []int64{int64(len(big)), -1} {
		rec = send(s, "POST", UploadPath+"?filename=big.csv", bytes.NewReader(big), length)
		assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
		assert.JSONEq(t, `{"code":"invalid","message":"big.csv is larger than the 1 MB this Tern accepts for uploads."}`, rec.Body.String())
	}
	list, err := svc.List()
	require.NoError(t, err)
	assert.Len(t, list, 1, "only people.csv was kept")
}

func TestHumanBytes(t *testing.T) {
	assert.Equal(t, "20 GB", humanBytes(DefaultUploadLimit))
	assert.Equal(t, "1.5 MB", humanBytes(3<<19))
	assert.Equal(t, "512 bytes", humanBytes(512))
}
