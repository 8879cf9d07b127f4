// Command faultserve is a serving binary for tests of ramps with the real
// Docker engine: tern-runtime's scoring server with a fault in front of
// it, chosen at build time (-ldflags "-X main.mode=errors" or "=slow"),
// so a candidate that answers errors or slowly runs in a real container
// built and started exactly as a real candidate is. It takes the same
// arguments as `tern-runtime serve`.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/tern-studio/tern/backend/modelserver"
)

// mode is set at build time: "errors" answers 500 to every scoring
// request, "slow" answers correctly after 150 ms. /ping stays healthy in
// both, as a broken model's server's would.
var mode = ""

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: faultserve serve -model DIR -addr HOST:PORT")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("model", "/tern/model", "model directory")
	addr := fs.String("addr", "0.0.0.0:8080", "listen address")
	fs.Parse(os.Args[2:])
	loaded, err := modelserver.LoadDir(*dir, "model", "1")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := modelserver.NewServer(loaded.Model, modelserver.ServerOptions{Version: "faultserve-" + mode})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping" {
			switch mode {
			case "errors":
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(500)
				w.Write([]byte(`{"error_code":"INTERNAL_ERROR","message":"faultserve answers errors"}`))
				return
			case "slow":
				time.Sleep(150 * time.Millisecond)
			}
		}
		srv.ServeHTTP(w, r)
	})
	if err := http.ListenAndServe(*addr, h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
