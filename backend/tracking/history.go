package tracking

import (
	"math"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/core"
)

// MetricHistory returns every point of one series, ordered by step then
// timestamp.
func (s *Service) MetricHistory(runID, key string) ([]Point, error) {
	pts, _, err := s.MetricHistoryPage(runID, key, 0, nil)
	return pts, err
}

// MetricHistoryPage reads up to limit points (0 = all) starting after the
// point whose key suffix is token (nil = from the start). The next token is
// nil at the end.
func (s *Service) MetricHistoryPage(runID, key string, limit int, token []byte) ([]Point, []byte, error) {
	s.mu.RLock()
	r := s.runs[runID]
	s.mu.RUnlock()
	if r == nil {
		return nil, nil, core.Errorf(core.NotFound, "No run with id %q.", runID)
	}
	p := histPrefix(runID, key)
	var out []Point
	var next []byte
	err := s.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = p
		it := txn.NewIterator(opt)
		defer it.Close()
		start := p
		if len(token) == 24 {
			start = append(append(append([]byte(nil), p...), token...), 0)
		}
		for it.Seek(start); it.ValidForPrefix(p); it.Next() {
			k := it.Item().Key()
			if len(k) != len(p)+24 {
				continue // a longer key with this key as prefix; not possible with 0 separators, but cheap to guard
			}
			if limit > 0 && len(out) == limit {
				// the next page starts after the last point returned
				next = histSuffix(out[len(out)-1])
				return nil
			}
			out = append(out, decodeHistSuffix(k))
		}
		return nil
	})
	if err != nil {
		return nil, nil, core.Wrap(err, core.Internal, "Tern could not read metric %q of run %s.", key, runID)
	}
	return out, next, nil
}

func histSuffix(p Point) []byte {
	k := histKey("", Metric{Step: p.Step, Timestamp: p.Timestamp, Value: p.Value})
	return k[len(k)-24:]
}

// MetricKeys lists the run's metric names.
func (s *Service) MetricKeys(runID string) ([]string, error) {
	r, err := s.GetRun(runID)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys, nil
}

// Downsample reduces pts to at most n points for drawing: the series is
// cut into n/2 buckets by position and each keeps its lowest and highest
// value, in order, so spikes survive (a plain stride would drop them).
// The first and last points are always kept. Non-finite values are kept
// as they are; a bucket's min/max only considers finite ones.
func Downsample(pts []Point, n int) []Point {
	if n <= 0 || len(pts) <= n {
		return pts
	}
	if n < 4 {
		out := make([]Point, n)
		for i := range out {
			out[i] = pts[i*(len(pts)-1)/max(n-1, 1)]
		}
		return out
	}
	buckets := (n - 2) / 2
	out := make([]Point, 0, n)
	out = append(out, pts[0])
	inner := pts[1 : len(pts)-1]
	size := float64(len(inner)) / float64(buckets)
	for b := 0; b < buckets; b++ {
		lo, hi := int(float64(b)*size), int(float64(b+1)*size)
		if hi > len(inner) {
			hi = len(inner)
		}
		if lo >= hi {
			continue
		}
		mi, ma := -1, -1
		for i := lo; i < hi; i++ {
			v := float64(inner[i].Value)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if mi < 0 || v < float64(inner[mi].Value) {
				mi = i
			}
			if ma < 0 || v > float64(inner[ma].Value) {
				ma = i
			}
		}
		switch {
		case mi < 0:
			out = append(out, inner[lo])
		case mi == ma:
			out = append(out, inner[mi])
		case mi < ma:
			out = append(out, inner[mi], inner[ma])
		default:
			out = append(out, inner[ma], inner[mi])
		}
	}
	return append(out, pts[len(pts)-1])
}

// SeriesSample is MetricHistory downsampled to at most n points.
func (s *Service) SeriesSample(runID, key string, n int) ([]Point, error) {
	pts, err := s.MetricHistory(runID, key)
	if err != nil {
		return nil, err
	}
	return Downsample(pts, n), nil
}
