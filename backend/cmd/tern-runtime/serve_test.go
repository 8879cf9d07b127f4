package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServeScoresAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	model, err := os.ReadFile(filepath.Join("..", "..", "gbdt", "testdata", "lgb_binary.txt"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.lgb"), model, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "MLmodel"), []byte("flavors:\n  lightgbm:\n    data: model.lgb\n"), 0o644))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, dir, addr, "fraud", "3", 1<<20, "") }()

	url := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond)
	resp, err := http.Post(url+"/v2/models/fraud/versions/3/infer", "application/json", strings.NewReader(`{"inputs":[{"name":"x","shape":[1,6],"datatype":"FP64","data":[1,2,3,4,5,6]}]}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, string(b))
	assert.Contains(t, string(b), `"model_version":"3"`)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}

	// A folder that is not a model fails with the model's sentence.
	err = runServe(t.Context(), t.TempDir(), "127.0.0.1:0", "m", "1", 1<<20, "")
	assert.ErrorContains(t, err, "no file MLmodel")
}
