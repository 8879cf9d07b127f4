package monitor

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/predlog"
)

// RetentionNeeds is what prediction-log retention must keep for
// monitoring (predlog.Retention.Needs): each deployment monitor's window,
// as PredictionLog.Current reads it, and every labelled request of every
// deployment — realised performance and traffic datasets join labels to
// the log by request ID, so a labelled prediction deleted is a label lost.
func (s *Service) RetentionNeeds() ([]predlog.Need, error) {
	ms, err := s.Monitors()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var out []predlog.Need
	for _, m := range ms {
		if m.Kind != KindDeployment || m.Deployment == "" {
			continue
		}
		n := predlog.Need{Deployment: m.Deployment, What: fmt.Sprintf("monitor %q (%s)", m.Name, m.Window), LastN: m.Window.LastN}
		if n.LastN <= 0 {
			n.LastN = defaultMaxWindow
		}
		if m.Window.Last > 0 {
			n.Since = now.Add(-m.Window.Last).UnixNano()
		}
		out = append(out, n)
	}
	labelled, err := s.labelledRequests()
	if err != nil {
		return nil, err
	}
	for _, dep := range sortedDeployments(labelled) {
		ids := labelled[dep]
		out = append(out, predlog.Need{Deployment: dep, RequestIDs: ids,
			What: fmt.Sprintf("labels (%d labelled requests, for realised performance and datasets from traffic)", len(ids))})
	}
	return out, nil
}

// labelledRequests lists every deployment's labelled request IDs, once
// each, from the label keys alone.
func (s *Service) labelledRequests() (map[string][]string, error) {
	out := map[string][]string{}
	err := s.db.DB.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte{prefixLabel}
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			// prefixLabel deployment 0x00 request id 0x00 U64(row)
			k := it.Item().Key()[1:]
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k) < i+1+9 || k[len(k)-9] != 0 {
				continue // not a label key of this layout
			}
			dep, id := string(k[:i]), string(k[i+1:len(k)-9])
			if ids := out[dep]; len(ids) == 0 || ids[len(ids)-1] != id { // keys are sorted: one ID's rows are adjacent
				out[dep] = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The labels could not be read.")
	}
	return out, nil
}

func sortedDeployments(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
