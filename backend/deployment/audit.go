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
	rec := audit.Record{Objects: deploymentObjects(d)}
	switch {
	case old == nil:
		rec.Action, rec.After = "deployment.create", backendsText(d)+"; "+trafficText(d.Traffic)
	case old.State != d.State:
		rec.Action, rec.Before, rec.After = "deployment.state", old.State, d.State
		if d.Reason != "" {
			rec.After += ": " + d.Reason
		}
	case followText(old.Follow) != followText(d.Follow):
		rec.Action, rec.Before, rec.After = "deployment.follow", followText(old.Follow), followText(d.Follow)
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

func deploymentObjects(d Deployment) []audit.Object {
	return []audit.Object{{Kind: "deployment", ID: d.ID, Name: d.Name}, {Kind: "model", ID: d.Model, Name: d.Model}}
}

// followText is a follow setting in words; the follower's bookkeeping
// (what it last acted on, its note) is left out, as it is not a setting.
func followText(f *Follow) string {
	if f == nil {
		return "follows no alias"
	}
	if f.Strategy == StrategySwitch {
		return fmt.Sprintf("follows @%s, switching all traffic at once", f.Alias)
	}
	return fmt.Sprintf("follows @%s through a ramp (%s)", f.Alias, describePlan(f.Plan))
}
