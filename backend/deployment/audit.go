package deployment

import (
	"fmt"
	"strings"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/router"
)

// What the audit trail says about deployment changes (see backend/audit).
// Every change goes through save, so the record is worked out there from
// the stored deployment and the new one, instead of at each caller.
func saveRecord(old *Deployment, d Deployment) audit.Record {
	rec := audit.Record{Objects: []audit.Object{{Kind: "deployment", ID: d.ID, Name: d.Name}, {Kind: "model", ID: d.Model, Name: d.Model}}}
	switch {
	case old == nil:
		rec.Action, rec.After = "deployment.create", backendsText(d)+"; "+trafficText(d.Traffic)
	case old.State != d.State:
		rec.Action, rec.Before, rec.After = "deployment.state", old.State, d.State
		if d.Reason != "" {
			rec.After += ": " + d.Reason
		}
	case len(old.Backends) != len(d.Backends):
		rec.Action, rec.Before, rec.After = "deployment.versions", backendsText(*old), backendsText(d)
	default:
		rec.Action, rec.Before, rec.After = "deployment.traffic", trafficText(old.Traffic), trafficText(d.Traffic)
	}
	return rec
}

func backendsText(d Deployment) string {
	var vs []string
	for _, b := range d.Backends {
		vs = append(vs, fmt.Sprintf("v%d", b.Version))
	}
	return "versions " + strings.Join(vs, ", ")
}

func trafficText(t router.Traffic) string {
	var parts []string
	for _, s := range t.Split {
		parts = append(parts, fmt.Sprintf("%s %g%%", s.Backend, s.Weight))
	}
	out := strings.Join(parts, ", ")
	if t.Shadow != "" {
		out += ", shadow " + t.Shadow
	}
	return out
}
