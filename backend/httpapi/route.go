package httpapi

import "net/http"

// Route is one entry of the HTTP face's route table: this package's own
// routes and those of other faces (Config.Routes). The server wraps every
// one with the same Host, token and Origin checks, so a route never
// implements security itself and the sweep test covers all of them.
type Route struct {
	// Pattern is a net/http ServeMux pattern with method, e.g.
	// "POST /api/2.0/mlflow/runs/create" or "GET /api/datasets/{id}/chart".
	Pattern string
	Handler http.Handler
	// Public routes skip the token check (only a bare health check is).
	Public bool
	// RawBody routes take non-JSON bodies (uploads); others must send
	// Content-Type: application/json on writes.
	RawBody bool
	// MaxBytes caps the request body; 0 means the server default (32 MiB).
	// Negative means unlimited (streamed uploads that enforce their own cap).
	MaxBytes int64
}
