package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelserver"
)

func init() { commands["serve"] = serve }

// serve runs the scoring server for one model directory: MLflow scoring
// (/invocations, /ping, /health, /version), Open Inference V2 and
// Prometheus /metrics. Inside a container it listens on all of the
// container's interfaces and Docker publishes the port on the host's
// 127.0.0.1 only; as a local process it defaults to 127.0.0.1.
//
// With -worker, the model is a pickled scikit-learn model held by a
// Python worker (another container, no network) listening on that Unix
// socket; this process decodes and checks requests and never unpickles.
//
//	tern-runtime serve [-model DIR] [-addr HOST:PORT] [-name NAME] [-model-version V] [-worker SOCKET]
func serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	modelDir := fs.String("model", "/tern/model", "model directory (MLmodel + model file)")
	addr := fs.String("addr", envOr("TERN_SERVE_ADDR", "127.0.0.1:8080"), "listen address")
	name := fs.String("name", envOr("TERN_MODEL_NAME", "model"), "model name used by the V2 protocol")
	ver := fs.String("model-version", envOr("TERN_MODEL_VERSION", "1"), "model version reported by the V2 protocol")
	maxBody := fs.Int64("max-body", 32<<20, "largest request body in bytes (413 above)")
	worker := fs.String("worker", "", "Unix socket of the Python worker that holds a pickled model")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	return finish("serve", runServe(ctx, *modelDir, *addr, *name, *ver, *maxBody, *worker))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func runServe(ctx context.Context, modelDir, addr, name, ver string, maxBody int64, worker string) error {
	var loaded *modelserver.Loaded
	var err error
	if worker != "" {
		loaded, err = modelserver.LoadWorker(ctx, modelDir, name, ver, worker)
	} else {
		loaded, err = modelserver.LoadDir(modelDir, name, ver)
	}
	if err != nil {
		return err
	}
	srv, err := modelserver.NewServer(loaded.Model, modelserver.ServerOptions{MaxBodyBytes: maxBody, Version: "tern-runtime " + version})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return core.Wrap(err, core.Unavailable, "Cannot listen on %s: %v.", addr, err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	out.line(map[string]any{"tern": "status", "message": "serving", "addr": ln.Addr().String(), "model": name, "version": ver, "flavor": loaded.Flavor})
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return core.Wrap(err, core.Unavailable, "The server stopped: %v.", err)
	case <-ctx.Done():
	}
	// Drain in-flight requests before exiting, within Docker's stop grace.
	sctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return core.Wrap(err, core.Internal, "The server did not stop cleanly.")
	}
	return nil
}
