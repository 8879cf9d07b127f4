package router

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// observed collects a router's observations per backend.
type observed struct {
	mu     sync.Mutex
	n      map[string]int
	failed map[string]int
}

func (o *observed) add(ob Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n, o.failed = map[string]int{}, map[string]int{}
	}
	o.n[ob.Backend]++
	if ob.Failed {
		o.failed[ob.Backend]++
	}
}

func (o *observed) get(id string) (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[id], o.failed[id]
}

// A guarded candidate that answers 500, answers too late, or refuses
// connections never costs a client request: each is answered by the
// fallback, and each failure is observed against the candidate.
func TestFallbackHidesCandidateFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fakeBackend)
	}{
		{"5xx", func(f *fakeBackend) { f.code = 500 }},
		{"slow", func(f *fakeBackend) { f.delay = 300 * time.Millisecond }},
		{"refused", func(f *fakeBackend) { f.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			champ, cand := newFake(t, "1"), newFake(t, "2")
			tc.setup(cand)
			var obs observed
			_, ts := newTestRouter(t, map[string]*fakeBackend{"v1": champ, "v2": cand},
				Traffic{Split: []Split{{"v1", 50}, {"v2", 50}}, Fallback: "v1", FallbackAfterMs: 100},
				Options{Observe: obs.add})
			for range 40 {
				code, by, body := invoke(t, ts.URL, nil)
				require.Equal(t, 200, code, body)
				require.Equal(t, "v1", by)
				assert.Contains(t, body, "[1]")
			}
			n, failed := obs.get("v2")
			assert.Greater(t, n, 0, "the candidate was tried")
			assert.Equal(t, n, failed, "every candidate attempt counts as failed")
			_, champFailed := obs.get("v1")
			assert.Zero(t, champFailed)
		})
	}
}

// Without a fallback a 5xx is the answer the caller gets (the router does
// not hide a backend's own errors), and the fallback's own 5xx is final.
func TestNoFallbackPassesErrorsThrough(t *testing.T) {
	a := newFake(t, "1")
	a.code = 503
	var obs observed
	_, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a}, Traffic{Split: []Split{{"v1", 100}}, Fallback: "v1"}, Options{Observe: obs.add})
	code, _, _ := invoke(t, ts.URL, nil)
	assert.Equal(t, 503, code)
	n, failed := obs.get("v1")
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, failed)
}

func TestFallbackMustBeKnown(t *testing.T) {
	a := newFake(t, "1")
	_, err := New("d", []Backend{{ID: "v1", URL: a.URL}}, Traffic{Split: []Split{{"v1", 100}}, Fallback: "v9"}, Options{HealthInterval: -1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Fallback backend "v9"`)
}
