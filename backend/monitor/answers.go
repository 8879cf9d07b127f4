package monitor

import (
	"time"

	"github.com/tern-studio/tern/backend/predlog"
)

// RealisedByBackend counts, per backend of a deployment, the labelled
// answers logged at or after since and how many of them were wrong: what
// a ramp's watch compares candidate and champion on once labels arrive.
// Shadow copies and failed answers are left out; only classification is
// counted (a predicted class against its label, a 0/1 score cut at 0.5),
// so a regression deployment gives none.
func (s *Service) RealisedByBackend(deployment string, since time.Time) (n, wrong map[string]int, err error) {
	labels, err := s.labelsOf(deployment)
	if err != nil || len(labels) == 0 {
		return nil, nil, err
	}
	ids := make([]string, 0, len(labels))
	for i, l := range labels {
		if i == 0 || l.RequestID != labels[i-1].RequestID {
			ids = append(ids, l.RequestID)
		}
	}
	recs, err := predlog.LookupRequests(s.db, deployment, ids)
	if err != nil {
		return nil, nil, err
	}
	from := since.UnixNano()
	var pairs []joined
	var backends []string
	for _, l := range labels {
		r, ok := recs[l.RequestID]
		if !ok || r.Shadow || r.Time < from {
			continue
		}
		one, _, _ := joinLabels(map[string]predlog.Record{l.RequestID: r}, []Label{l})
		if len(one) == 1 { // answered, and its prediction readable
			pairs = append(pairs, one[0])
			backends = append(backends, r.Backend)
		}
	}
	if len(pairs) == 0 {
		return nil, nil, nil
	}
	task, scores := decideTask(pairs, "")
	if task != TaskClassification {
		return nil, nil, nil
	}
	n, wrong = map[string]int{}, map[string]int{}
	for i, p := range pairs {
		got := p.p.label
		if scores { // a score of class 1, cut at 0.5 as realised performance does
			got = "0"
			if p.p.num >= 0.5 {
				got = "1"
			}
		}
		n[backends[i]]++
		if got != p.y {
			wrong[backends[i]]++
		}
	}
	return n, wrong, nil
}
