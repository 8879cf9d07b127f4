package sweep

import (
	"math"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testSpace = Space{
	{Name: "x", Kind: Float, Low: -5, High: 5},
	{Name: "lr", Kind: Float, Low: 1e-4, High: 1, Log: true},
	{Name: "leaves", Kind: Int, Low: 2, High: 64, Log: true},
	{Name: "mode", Kind: Categorical, Choices: []string{"a", "b", "c"}},
}

// objective has its minimum 0 at x=1, lr=0.01, leaves=16, mode=b.
func objective(a Assignment) float64 {
	x := a["x"].(float64)
	lr := math.Log10(a["lr"].(float64))
	leaves := math.Log2(a["leaves"].(float64))
	s := (x-1)*(x-1) + (lr+2)*(lr+2) + 0.5*(leaves-4)*(leaves-4)
	if a["mode"].(string) != "b" {
		s += 2
	}
	return s
}

func runSampler(s Sampler, space Space, n int) (best float64, trials []Assignment) {
	var done []Observation
	best = math.Inf(1)
	for i := 0; i < n; i++ {
		a := s.Sample(space, done, i)
		v := objective(a)
		done = append(done, Observation{Number: i, Values: a, Score: v})
		best = math.Min(best, v)
		trials = append(trials, a)
	}
	return best, trials
}

func TestSamplersStayInsideTheSpace(t *testing.T) {
	for _, name := range []string{SamplerGrid, SamplerRandom, SamplerTPE} {
		s, err := NewSampler(name, 7)
		require.NoError(t, err)
		_, trials := runSampler(s, testSpace, 40)
		for _, a := range trials {
			require.Len(t, a, len(testSpace), name)
			x := a["x"].(float64)
			assert.True(t, x >= -5 && x <= 5, "%s x=%v", name, x)
			lr := a["lr"].(float64)
			assert.True(t, lr >= 1e-4 && lr <= 1, "%s lr=%v", name, lr)
			l := a["leaves"].(float64)
			assert.True(t, l >= 2 && l <= 64 && l == math.Trunc(l), "%s leaves=%v", name, l)
			assert.Contains(t, []string{"a", "b", "c"}, a["mode"], name)
		}
	}
}

func TestSamplersAreDeterministicWithASeed(t *testing.T) {
	for _, name := range []string{SamplerGrid, SamplerRandom, SamplerTPE} {
		s1, _ := NewSampler(name, 11)
		s2, _ := NewSampler(name, 11)
		s3, _ := NewSampler(name, 12)
		_, a := runSampler(s1, testSpace, 30)
		_, b := runSampler(s2, testSpace, 30)
		_, c := runSampler(s3, testSpace, 30)
		assert.Equal(t, a, b, "%s: same seed, same trials", name)
		assert.NotEqual(t, a, c, "%s: another seed, other trials", name)
	}
}

// A resumed sweep must propose what the uninterrupted one would: trial n
// depends on the finished trials, not on earlier calls.
func TestSampleDependsOnlyOnHistory(t *testing.T) {
	s := NewTPE(3)
	var done []Observation
	for i := 0; i < 15; i++ {
		a := s.Sample(testSpace, done, i)
		done = append(done, Observation{Number: i, Values: a, Score: objective(a)})
	}
	first := s.Sample(testSpace, done, 15)
	// The same history in another finishing order proposes the same.
	shuffled := append([]Observation(nil), done...)
	sort.Slice(shuffled, func(i, j int) bool { return shuffled[i].Number > shuffled[j].Number })
	assert.Equal(t, first, NewTPE(3).Sample(testSpace, shuffled, 15))
}

func TestGridCoversEveryPointOnce(t *testing.T) {
	space := Space{
		{Name: "a", Kind: Int, Low: 1, High: 3},
		{Name: "b", Kind: Float, Low: 0.001, High: 0.1, Log: true},
		{Name: "c", Kind: Categorical, Choices: []string{"x", "y"}},
	}
	g := Grid{Seed: 1, Points: 3}
	require.Equal(t, 3*3*2, g.Size(space))
	seen := map[string]bool{}
	for i := 0; i < g.Size(space); i++ {
		k := g.Sample(space, nil, i).Key()
		assert.False(t, seen[k], "point %s twice", k)
		seen[k] = true
	}
	assert.True(t, seen["a=1;b=0.01;c=y;"], "log-spaced middle point: %v", seen)
}

// TPE must do better than random search on a smooth objective, over seeds:
// the median best of 20 seeds, 60 trials each.
func TestTPEBeatsRandom(t *testing.T) {
	var tpe, rnd []float64
	for seed := uint64(1); seed <= 20; seed++ {
		b1, _ := runSampler(NewTPE(seed), testSpace, 60)
		b2, _ := runSampler(Random{Seed: seed}, testSpace, 60)
		tpe, rnd = append(tpe, b1), append(rnd, b2)
	}
	mt, mr := median(tpe), median(rnd)
	t.Logf("median best of 20 seeds × 60 trials: TPE %.4f, random %.4f", mt, mr)
	assert.Less(t, mt, mr*0.7, "TPE's median best should be clearly below random's")
	wins := 0
	for i := range tpe {
		if tpe[i] < rnd[i] {
			wins++
		}
	}
	assert.GreaterOrEqual(t, wins, 14, "TPE should win on most seeds")
}

func TestTPEWeightsAndGammaFollowOptuna(t *testing.T) {
	assert.Equal(t, 1, tpeGamma(10))
	assert.Equal(t, 2, tpeGamma(11))
	assert.Equal(t, 25, tpeGamma(1000))
	w := tpeWeights(30)
	assert.InDelta(t, 1.0/30, w[0], 1e-12)
	assert.InDelta(t, 1, w[4], 1e-12)
	assert.Equal(t, 1.0, w[29])
	assert.Equal(t, []float64{1, 1, 1}, tpeWeights(3))
}

func TestSpaceValidation(t *testing.T) {
	bad := []Space{
		{},
		{{Name: "a", Kind: Float, Low: 2, High: 1}},
		{{Name: "a", Kind: Float, Low: 0, High: 1, Log: true}},
		{{Name: "a", Kind: Int, Low: 0.5, High: 3}},
		{{Name: "a", Kind: Categorical}},
		{{Name: "a", Kind: "bool"}},
		{{Name: "a", Kind: Float, Low: 0, High: 1}, {Name: "a", Kind: Float, Low: 0, High: 1}},
		{{Name: "a", Kind: Float, Low: math.NaN(), High: 1}},
	}
	for _, s := range bad {
		assert.Error(t, s.Validate(), "%v", s)
	}
	assert.NoError(t, testSpace.Validate())
}
