package deployment

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
)

// Deleting a deployment removes what only it needs and keeps its
// prediction log. What goes: its endpoint, every serving container behind
// it, a ramp in progress (aborted, without promoting), and the serving
// images of its versions that no other deployment of this Tern serves
// (an image is rebuilt from the registry whenever a version is deployed
// again). What stays: the model versions, and the prediction log — its
// monitors' reports, labels joined to it and drift windows keep reading
// it, and it is not something a person can make again; retention and the
// monitor's own delete remove it.

// DeletePlan says, before a deletion, what it removes and what it keeps.
type DeletePlan struct {
	Deployment string `json:"deployment"`
	Name       string `json:"name"`
	State      string `json:"state"`
	// Versions whose serving endpoints (containers, or in-process servers)
	// stop and are removed.
	Versions []string `json:"versions"`
	// Target is "docker" or "process": only Docker endpoints have images.
	Target string `json:"target"`
	// Images: versions whose serving images go; ImagesKept: versions
	// another deployment still serves, with its name.
	Images     []string `json:"images"`
	ImagesKept []string `json:"imagesKept"`
	// LoggedPredictions stay in the prediction log.
	LoggedPredictions int `json:"loggedPredictions"`
	// Ramp is set when a ramp in progress will be aborted.
	Ramp string `json:"ramp,omitempty"`
}

// DeleteResult is what a deletion removed.
type DeleteResult struct {
	Endpoints         int      `json:"endpoints"`
	ImagesRemoved     int      `json:"imagesRemoved"`
	ImagesKept        []string `json:"imagesKept"`
	LoggedPredictions int      `json:"loggedPredictions"`
	// Warning names what could not be removed (Docker away, say); the
	// deployment itself is gone.
	Warning string `json:"warning,omitempty"`
}

// imageRemover is the part of a launcher that owns images (Docker).
type imageRemover interface {
	RemoveServingImage(ctx context.Context, model string, version int, modelDir string) (bool, error)
}

// DeletePreview is the plan of Delete, changing nothing.
func (s *Service) DeletePreview(id string) (DeletePlan, error) {
	d, err := s.Get(id)
	if err != nil {
		return DeletePlan{}, err
	}
	p := DeletePlan{Deployment: d.ID, Name: d.Name, State: d.State, Target: d.Target}
	if _, err := s.get(id); err != nil {
		p.State = StateStopped
	}
	all, err := s.List()
	if err != nil {
		return DeletePlan{}, err
	}
	for _, b := range d.Backends {
		v := fmt.Sprintf("v%d", b.Version)
		p.Versions = append(p.Versions, v)
		if d.Target != "docker" {
			continue
		}
		if other := otherUser(all, d, b.Version); other != "" {
			p.ImagesKept = append(p.ImagesKept, v+" (served by "+other+")")
		} else {
			p.Images = append(p.Images, v)
		}
	}
	if r, ok := s.ActiveRamp(id); ok {
		p.Ramp = fmt.Sprintf("v%d at %g %%", r.Candidate, r.Share)
	}
	p.LoggedPredictions, _ = predlog.Count(s.cfg.Store, id)
	return p, nil
}

// otherUser names another deployment serving model version v of d's model.
func otherUser(all []Deployment, d Deployment, v int) string {
	for _, o := range all {
		if o.ID == d.ID || o.Model != d.Model {
			continue
		}
		for _, b := range o.Backends {
			if b.Version == v {
				return o.Name
			}
		}
	}
	return ""
}

// Delete aborts a ramp in progress, stops the endpoint and every version
// behind it, removes the serving images no other deployment uses, and
// forgets the deployment, keeping its prediction log. One audit record
// says all of it.
func (s *Service) Delete(ctx context.Context, id string) (DeleteResult, error) {
	plan, err := s.DeletePreview(id)
	if err != nil {
		return DeleteResult{}, err
	}
	d, err := s.Get(id)
	if err != nil {
		return DeleteResult{}, err
	}
	res := DeleteResult{LoggedPredictions: plan.LoggedPredictions, ImagesKept: plan.ImagesKept}
	s.endRampFor(id, "The deployment was deleted.")
	if ld, err := s.get(id); err == nil {
		s.shutdown(ld, true)
		res.Endpoints = len(ld.d.Backends)
	}
	var warnings []string
	if rm, ok := s.cfg.Launcher.(imageRemover); ok && d.Target == "docker" {
		all, _ := s.List()
		for _, b := range d.Backends {
			if otherUser(all, d, b.Version) != "" {
				continue
			}
			v, err := s.cfg.Registry.Version(d.Model, itoa(b.Version))
			if err != nil {
				warnings = append(warnings, core.ErrorMessage(err))
				continue
			}
			gone, err := rm.RemoveServingImage(ctx, d.Model, b.Version, s.cfg.Registry.Dir(v))
			if gone {
				res.ImagesRemoved++
			}
			if err != nil {
				warnings = append(warnings, core.ErrorMessage(err))
			}
		}
	}
	res.Warning = strings.Join(warnings, " ")
	after := fmt.Sprintf("%d endpoints stopped (%s); %d serving images removed", res.Endpoints, strings.Join(plan.Versions, ", "), res.ImagesRemoved)
	if len(res.ImagesKept) > 0 {
		sort.Strings(res.ImagesKept)
		after += "; images kept: " + strings.Join(res.ImagesKept, ", ")
	}
	after += fmt.Sprintf("; prediction log kept (%d records)", res.LoggedPredictions)
	err = s.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		var stored Deployment
		if err := store.GetJSON(txn, key(id), &stored); err != nil {
			if errors.Is(err, badger.ErrKeyNotFound) {
				return core.Errorf(core.NotFound, "There is no deployment %q.", id)
			}
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "deployment.delete", Objects: deploymentObjects(stored), Before: stored.State + ", " + backendsText(stored), After: after}); err != nil {
			return err
		}
		return txn.Delete(key(id))
	})
	if err != nil {
		return res, err
	}
	s.cfg.Bus.Publish("deployment.deleted", id)
	return res, nil
}
