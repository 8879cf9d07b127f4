package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpjson"
)

// PipelineHooks is what the pipeline webhook route needs of the engine
// (pipeline.Engine); plain values keep this face from importing the
// engine's dependencies.
type PipelineHooks interface {
	// HookRun fires a pipeline's webhook trigger and names the run that
	// will serve it, with the number of firings it holds.
	HookRun(id, detail string) (runID string, number, firings int, err error)
}

// webhookBodyLimit bounds the webhook's optional JSON body.
const webhookBodyLimit = 16 << 10

// pipelineRoutes serve POST /api/pipelines/{id}/webhook: a pipeline with
// a webhook trigger starts (or, coalescing, joins its queued run). It sits
// behind the same token as every route, so a CI system calls it with
// "Authorization: Bearer <token>" and a JSON body, optionally
// {"detail": "why"}, shown in the run's firings.
func pipelineRoutes(p PipelineHooks) []Route {
	return []Route{{Pattern: "POST /api/pipelines/{id}/webhook", MaxBytes: webhookBodyLimit, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Detail string `json:"detail"`
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			WriteError(w, core.Errorf(core.Invalid, "The request body could not be read."))
			return
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				WriteError(w, core.Errorf(core.Invalid, "The body must be a JSON object such as {\"detail\": \"nightly build 412\"}."))
				return
			}
		}
		detail := "webhook"
		if d := strings.TrimSpace(body.Detail); d != "" {
			if len(d) > 200 {
				d = d[:200]
			}
			detail = "webhook: " + d
		}
		id, number, firings, err := p.HookRun(r.PathValue("id"), detail)
		if err != nil {
			WriteError(w, err)
			return
		}
		httpjson.Write(w, http.StatusAccepted, map[string]any{"runId": id, "number": number, "firings": firings})
	})}}
}
