package deployment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"github.com/tern-studio/tern/backend/router"
)

// Verdicts of a ramp stage's comparison.
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"
	VerdictPending = "pending" // not enough evidence yet
)

// Side is what one version did during a stage.
type Side struct {
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	ErrorRate float64 `json:"errorRate"`
	P95Ms     float64 `json:"p95Ms"`
}

// ErrorTest compares failure rates: Fisher's exact test (is the
// candidate's rate higher?) and the Newcombe interval of the difference
// (is it at most the margin higher?).
type ErrorTest struct {
	// Diff is candidate rate minus champion rate; Low and High bound it
	// (each one-sided at the plan's alpha).
	Diff float64 `json:"diff"`
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// PValue of Fisher's exact test, one-sided (candidate worse).
	PValue  float64 `json:"pValue"`
	Margin  float64 `json:"margin"`
	Verdict string  `json:"verdict"`
	Reason  string  `json:"reason"`
}

// LatencyTest compares p95 latencies with a bootstrap interval of their
// difference.
type LatencyTest struct {
	DiffMs    float64 `json:"diffMs"`
	LowMs     float64 `json:"lowMs"`
	HighMs    float64 `json:"highMs"`
	AllowedMs float64 `json:"allowedMs"`
	Verdict   string  `json:"verdict"`
	Reason    string  `json:"reason"`
}

// evidence gathers one stage's observations of the candidate and the
// champion. Latencies are kept in a reservoir (a uniform sample of every
// request seen) so memory and the bootstrap's cost stay bounded however
// long a stage runs.
type evidence struct {
	mu        sync.Mutex
	candidate string
	champion  string
	// shadow: the candidate's answers are copies (a shadow stage).
	shadow bool
	c, b   sideSamples
	rng    *rand.Rand
}

// reservoirSize bounds the latencies kept per side; 2000 puts the p95
// between the 1900th and 1901st of them.
const reservoirSize = 2000

type sideSamples struct {
	N      int       `json:"n"`
	Errors int       `json:"errors"`
	Lat    []float64 `json:"lat"` // milliseconds, a uniform sample of N
}

func (s *sideSamples) add(ms float64, failed bool, rng *rand.Rand) {
	s.N++
	if failed {
		s.Errors++
	}
	if len(s.Lat) < reservoirSize {
		s.Lat = append(s.Lat, ms)
		return
	}
	if j := rng.IntN(s.N); j < reservoirSize {
		s.Lat[j] = ms
	}
}

func newEvidence(candidate, champion string, shadow bool) *evidence {
	return &evidence{candidate: candidate, champion: champion, shadow: shadow, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// observe takes one router observation. The champion counts on live
// requests only; the candidate counts on what the stage gives it (copies
// in a shadow stage, live requests otherwise).
func (e *evidence) observe(o router.Observation) {
	ms := float64(o.Latency.Microseconds()) / 1000
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case o.Backend == e.candidate && o.Shadow == e.shadow:
		e.c.add(ms, o.Failed, e.rng)
	case o.Backend == e.champion && !o.Shadow:
		e.b.add(ms, o.Failed, e.rng)
	}
}

// snapshot copies the samples so the tests run without the lock.
func (e *evidence) snapshot() (c, b sideSamples) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, b = e.c, e.b
	c.Lat = append([]float64(nil), e.c.Lat...)
	b.Lat = append([]float64(nil), e.b.Lat...)
	return c, b
}

// restore puts back a checkpoint (after a restart).
func (e *evidence) restore(c, b sideSamples) {
	e.mu.Lock()
	e.c, e.b = c, b
	e.mu.Unlock()
}

// Smallest samples the tests speak on: below them a stage is pending
// whatever the figures say (a p95 of fewer than 20 requests is their
// maximum).
const (
	minErrorSample   = 10
	minLatencySample = 20
	bootstrapRounds  = 1000
)

// judgement is one look at a stage's evidence.
type judgement struct {
	Candidate, Champion Side
	Errors              ErrorTest
	Latency             LatencyTest
	Verdict             string
	Reason              string
}

// judge compares candidate and champion at level alpha. A stage fails
// when either test shows the candidate worse beyond its margin; it
// passes only when both show it is not (non-inferiority, with evidence),
// so a quiet stage never passes for want of data.
func judge(c, b sideSamples, p Plan, alpha float64, seed uint64, shadow bool) judgement {
	var j judgement
	j.Candidate, j.Champion = side(c), side(b)
	j.Errors = errorTest(c, b, p.ErrorMarginPct/100, alpha)
	j.Latency = latencyTest(c, b, p, alpha, seed)
	if shadow && j.Latency.Verdict != VerdictPending {
		// Copies go out after the live answer, in the background, on
		// another connection pool: their timings are shown, not judged.
		// Slowness is judged at the first live stage, where the fallback
		// deadline keeps clients safe from it.
		j.Latency.Verdict = VerdictPass
		j.Latency.Reason = "Latency (shadow copies, shown but not judged: they travel another path): " + strings.TrimPrefix(j.Latency.Reason, "Latency: ")
	}
	switch {
	case j.Errors.Verdict == VerdictFail:
		j.Verdict, j.Reason = VerdictFail, j.Errors.Reason
	case j.Latency.Verdict == VerdictFail:
		j.Verdict, j.Reason = VerdictFail, j.Latency.Reason
	case j.Errors.Verdict == VerdictPass && j.Latency.Verdict == VerdictPass:
		j.Verdict, j.Reason = VerdictPass, j.Errors.Reason+" "+j.Latency.Reason
	default:
		j.Verdict = VerdictPending
		if j.Errors.Verdict == VerdictPending {
			j.Reason = j.Errors.Reason
		} else {
			j.Reason = j.Latency.Reason
		}
	}
	return j
}

func side(s sideSamples) Side {
	out := Side{Requests: s.N, Errors: s.Errors}
	if s.N > 0 {
		out.ErrorRate = float64(s.Errors) / float64(s.N)
	}
	if len(s.Lat) > 0 {
		l := append([]float64(nil), s.Lat...)
		sort.Float64s(l)
		out.P95Ms = Quantile(l, 0.95)
	}
	return out
}

func pct(x float64) string { return fmt.Sprintf("%.2f %%", 100*x) }

func errorTest(c, b sideSamples, margin, alpha float64) ErrorTest {
	t := ErrorTest{Margin: margin}
	t.Diff, t.Low, t.High = NewcombeDiff(c.Errors, c.N, b.Errors, b.N, zOneSided(alpha))
	t.PValue = FisherGreater(c.Errors, c.N, b.Errors, b.N)
	rates := fmt.Sprintf("candidate %d of %d failed (%s), champion %d of %d (%s)", c.Errors, c.N, pct(float64(c.Errors)/math.Max(1, float64(c.N))), b.Errors, b.N, pct(float64(b.Errors)/math.Max(1, float64(b.N))))
	switch {
	case c.N < minErrorSample || b.N < minErrorSample:
		t.Verdict = VerdictPending
		t.Reason = fmt.Sprintf("Errors: %s; at least %d requests on each side are needed.", rates, minErrorSample)
	case t.PValue < alpha && t.Low > margin:
		t.Verdict = VerdictFail
		t.Reason = fmt.Sprintf("Errors: %s; the candidate fails more often (Fisher's exact test p = %.2g) and by more than the %s margin (at least %s more).", rates, t.PValue, pct(margin), pct(t.Low))
	case t.High <= margin:
		t.Verdict = VerdictPass
		t.Reason = fmt.Sprintf("Errors: %s; the candidate's rate is at most %s above the champion's, within the %s margin.", rates, pct(math.Max(0, t.High)), pct(margin))
	default:
		t.Verdict = VerdictPending
		t.Reason = fmt.Sprintf("Errors: %s; the difference could still be up to %s, above the %s margin: more requests are needed.", rates, pct(t.High), pct(margin))
	}
	return t
}

func latencyTest(c, b sideSamples, p Plan, alpha float64, seed uint64) LatencyTest {
	var t LatencyTest
	if len(c.Lat) < minLatencySample || len(b.Lat) < minLatencySample {
		t.Verdict = VerdictPending
		t.Reason = fmt.Sprintf("Latency: %d and %d timed requests; a p95 needs at least %d on each side.", len(c.Lat), len(b.Lat), minLatencySample)
		return t
	}
	t.DiffMs, t.LowMs, t.HighMs = QuantileDiffCI(c.Lat, b.Lat, 0.95, alpha, bootstrapRounds, seed)
	bl := append([]float64(nil), b.Lat...)
	sort.Float64s(bl)
	t.AllowedMs = math.Max(p.LatencyMarginPct/100*Quantile(bl, 0.95), p.LatencyMarginMs)
	what := fmt.Sprintf("p95 of the candidate minus the champion's is %.1f ms (%.1f to %.1f ms)", t.DiffMs, t.LowMs, t.HighMs)
	switch {
	case t.LowMs > t.AllowedMs:
		t.Verdict = VerdictFail
		t.Reason = fmt.Sprintf("Latency: %s; the candidate is slower by more than the %.1f ms allowed.", what, t.AllowedMs)
	case t.HighMs <= t.AllowedMs:
		t.Verdict = VerdictPass
		t.Reason = fmt.Sprintf("Latency: %s, within the %.1f ms allowed.", what, t.AllowedMs)
	default:
		t.Verdict = VerdictPending
		t.Reason = fmt.Sprintf("Latency: %s; it could still exceed the %.1f ms allowed: more requests are needed.", what, t.AllowedMs)
	}
	return t
}
