package drift

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

func normal(seed uint64, n int, mean, sd float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float64, n)
	for i := range v {
		v[i] = mean + sd*r.NormFloat64()
	}
	return v
}

func cats(seed uint64, n int, probs map[string]float64) []string {
	r := rand.New(rand.NewPCG(seed, 9))
	keys := make([]string, 0, len(probs))
	for k := range probs {
		keys = append(keys, k)
	}
	// Deterministic order.
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	out := make([]string, n)
	for i := range out {
		u, acc := r.Float64(), 0.0
		out[i] = keys[len(keys)-1]
		for _, k := range keys {
			acc += probs[k]
			if u < acc {
				out[i] = k
				break
			}
		}
	}
	return out
}

func num(name string, v []float64) Column { return Column{Name: name, Kind: Numeric, Num: v} }
func cat(name string, v []string) Column  { return Column{Name: name, Kind: Categorical, Cat: v} }
func one(t *testing.T, ref, cur Column, opt Options) Verdict {
	t.Helper()
	res, err := CompareColumns([]Column{ref}, []Column{cur}, opt)
	require.NoError(t, err)
	return res.Columns[0]
}

func TestAutoChoiceFollowsEvidently(t *testing.T) {
	levels := func(n, k int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i % k)
		}
		return v
	}
	tests := []struct {
		name     string
		ref, cur Column
		want     Test
	}{
		{"small numeric", num("x", normal(1, 1000, 0, 1)), num("x", normal(2, 500, 0, 1)), TestKS},
		{"large numeric", num("x", normal(1, 1001, 0, 1)), num("x", normal(2, 500, 0, 1)), TestWasserstein},
		{"small numeric with 5 values is categorical", num("x", levels(500, 5)), num("x", levels(300, 5)), TestChiSquare},
		{"small numeric with 6 values", num("x", levels(500, 6)), num("x", levels(300, 6)), TestKS},
		{"small binary numeric", num("x", levels(500, 2)), num("x", levels(300, 2)), TestZ},
		{"small categorical", cat("c", cats(1, 400, map[string]float64{"a": .5, "b": .3, "c": .2})), cat("c", cats(2, 300, map[string]float64{"a": .5, "b": .3, "c": .2})), TestChiSquare},
		{"small binary categorical", cat("c", cats(1, 400, map[string]float64{"a": .5, "b": .5})), cat("c", cats(2, 300, map[string]float64{"a": .5, "b": .5})), TestZ},
		{"binary becomes 3 values with the current", cat("c", cats(1, 400, map[string]float64{"a": .5, "b": .5})), cat("c", cats(2, 300, map[string]float64{"a": .4, "b": .4, "z": .2})), TestChiSquare},
		{"large categorical", cat("c", cats(1, 5000, map[string]float64{"a": .5, "b": .5})), cat("c", cats(2, 300, map[string]float64{"a": .5, "b": .5})), TestJensenShannon},
		{"large numeric with 5 values", num("x", levels(5000, 5)), num("x", levels(300, 5)), TestJensenShannon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := one(t, tt.ref, tt.cur, Options{})
			require.Equal(t, StatusOK, v.Status, v.Reason)
			assert.Equal(t, tt.want, v.Test, v.Reason)
			assert.NotEmpty(t, v.Reason)
			assert.NotEmpty(t, v.Rule)
			assert.Equal(t, tt.want.DefaultThreshold(), float64(v.Threshold))
		})
	}
}

func TestVerdictsAndThresholds(t *testing.T) {
	ref := normal(1, 5000, 10, 2)
	t.Run("no drift", func(t *testing.T) {
		v := one(t, num("x", ref), num("x", normal(2, 5000, 10, 2)), Options{})
		assert.False(t, v.Drift)
		assert.Less(t, float64(v.Distance), 0.1)
		assert.True(t, math.IsNaN(float64(v.PValue)), "a distance test has no p-value")
	})
	t.Run("mean shift of half a sd drifts", func(t *testing.T) {
		v := one(t, num("x", ref), num("x", normal(2, 5000, 11, 2)), Options{})
		assert.True(t, v.Drift)
		assert.InDelta(t, 0.5, float64(v.Distance), 0.05)
	})
	t.Run("override threshold", func(t *testing.T) {
		v := one(t, num("x", ref), num("x", normal(2, 5000, 11, 2)), Options{Columns: map[string]ColumnOptions{"x": {Threshold: 0.9}}})
		assert.False(t, v.Drift)
		assert.Equal(t, 0.9, float64(v.Threshold))
	})
	t.Run("override test", func(t *testing.T) {
		v := one(t, num("x", ref), num("x", normal(2, 5000, 11, 2)), Options{Columns: map[string]ColumnOptions{"x": {Test: TestPSI}}})
		assert.Equal(t, TestPSI, v.Test)
		assert.Equal(t, "chosen by a per-column override", v.Reason)
		assert.True(t, v.Drift)
	})
	t.Run("unknown test is an invalid error", func(t *testing.T) {
		_, err := CompareColumns([]Column{num("x", ref)}, []Column{num("x", ref)}, Options{Columns: map[string]ColumnOptions{"x": {Test: "anova"}}})
		require.Error(t, err)
		assert.Equal(t, core.Invalid, core.ErrorCode(err))
		assert.Contains(t, err.Error(), `"x"`)
	})
	t.Run("skip", func(t *testing.T) {
		v := one(t, num("x", ref), num("x", ref), Options{Columns: map[string]ColumnOptions{"x": {Skip: true}}})
		assert.Equal(t, StatusSkipped, v.Status)
	})
}

func TestEffectSizeGuard(t *testing.T) {
	// KS forced on big samples and a shift of 0.03 sd: the p-value is tiny,
	// the change is far below what matters.
	ref := normal(3, 200000, 0, 1)
	cur := normal(4, 200000, 0.03, 1)
	ks := Options{Columns: map[string]ColumnOptions{"x": {Test: TestKS}}}
	v := one(t, num("x", ref), num("x", cur), ks)
	require.Equal(t, TestKS, v.Test)
	require.NotNil(t, v.Effect)
	t.Logf("p=%g effect=%g", float64(v.PValue), float64(v.Effect.Value))
	assert.True(t, v.Significant)
	assert.True(t, v.SmallEffect)
	assert.False(t, v.Drift)
	assert.Contains(t, v.Note, "significant but small")

	ks.NoEffectGuard = true
	v = one(t, num("x", ref), num("x", cur), ks)
	assert.True(t, v.Drift, "with the guard off the p-value decides alone")

	big := one(t, num("x", ref[:1000]), num("x", normal(4, 2000, 1, 1)), Options{})
	require.Equal(t, TestKS, big.Test)
	assert.True(t, big.Drift)
	assert.False(t, big.SmallEffect)
}

func TestDatasetDriftShare(t *testing.T) {
	mk := func(shifted int) ([]Column, []Column) {
		var ref, cur []Column
		for i := 0; i < 4; i++ {
			name := fmt.Sprintf("c%d", i)
			ref = append(ref, num(name, normal(uint64(i), 3000, 0, 1)))
			shift := 0.0
			if i < shifted {
				shift = 2
			}
			cur = append(cur, num(name, normal(uint64(100+i), 3000, shift, 1)))
		}
		return ref, cur
	}
	for shifted, want := range map[int]bool{0: false, 1: false, 2: true, 3: true} {
		ref, cur := mk(shifted)
		res, err := CompareColumns(ref, cur, Options{})
		require.NoError(t, err)
		assert.Equal(t, shifted, res.Drifted)
		assert.Equal(t, 4, res.Evaluated)
		assert.Equal(t, want, res.Drift, "%d of 4 drifted", shifted)
	}
}

// TestSketchedReference checks a sketched reference stays within its own
// stated error bound of the exact Wasserstein figure.
func TestSketchedReference(t *testing.T) {
	ref := normal(5, 300000, 3, 2)
	cur := []Column{num("x", normal(6, 20000, 3.3, 2.2))}
	exact, err := CompareColumns([]Column{num("x", ref)}, cur, Options{})
	require.NoError(t, err)
	prof := BuildProfile([]Column{num("x", ref)}, ProfileOptions{})
	require.False(t, prof.Columns[0].Exact)
	assert.LessOrEqual(t, len(prof.Columns[0].Values), DefaultSketchSize)
	approx, err := CompareWindow(prof, cur, Options{})
	require.NoError(t, err)
	e, a := exact.Columns[0], approx.Columns[0]
	assert.True(t, a.Approximate)
	assert.Greater(t, float64(a.ErrorBound), 0.0)
	assert.Less(t, float64(a.ErrorBound), 0.01)
	assert.InDelta(t, float64(e.Distance), float64(a.Distance), float64(a.ErrorBound))
	assert.Equal(t, e.Drift, a.Drift)
	// And the profile really is small: it does not hold the rows.
	b, err := json.Marshal(prof)
	require.NoError(t, err)
	assert.Less(t, len(b), 600_000)
}

// FAULTS.md "Drift": empty sample, a single value, constant column,
// NaN/Inf, unseen categories, huge cardinality → no panic, explicit
// "insufficient data" or documented handling, finite distances.
func TestFaults(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	huge := func(n, seed int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprintf("id-%d-%d", seed, i)
		}
		return v
	}
	tests := []struct {
		name      string
		ref, cur  Column
		opt       Options
		status    Status
		test      Test
		drift     bool
		reasonHas string
	}{
		{"empty current", num("x", normal(1, 100, 0, 1)), num("x", nil), Options{}, StatusInsufficient, "", false, "insufficient data"},
		{"empty reference", num("x", nil), num("x", normal(1, 100, 0, 1)), Options{}, StatusInsufficient, "", false, "insufficient data"},
		{"both empty", num("x", []float64{}), num("x", []float64{}), Options{}, StatusInsufficient, "", false, "insufficient data"},
		{"only NaN", num("x", []float64{nan, nan}), num("x", normal(1, 100, 0, 1)), Options{}, StatusInsufficient, "", false, "NaN"},
		{"only infinities", num("x", normal(1, 100, 0, 1)), num("x", []float64{inf, -inf, inf}), Options{}, StatusInsufficient, "", false, "insufficient data"},
		{"single value each", num("x", []float64{1}), num("x", []float64{2}), Options{}, StatusInsufficient, "", false, "at least 2"},
		{"single value allowed by MinCount 1", num("x", []float64{1}), num("x", []float64{2}), Options{MinCount: 1}, StatusOK, TestZ, false, "binary"},
		{"constant same", num("x", make([]float64, 2000)), num("x", make([]float64, 300)), Options{}, StatusOK, TestJensenShannon, false, ""},
		{"constant reference, moved current", num("x", make([]float64, 2000)), num("x", normal(1, 300, 5, 1)), Options{}, StatusOK, TestWasserstein, true, ""},
		{"constant reference small, KS", num("x", make([]float64, 500)), num("x", normal(1, 300, 0, 1)), Options{}, StatusOK, TestKS, true, ""},
		{"NaN mixed in", num("x", append(normal(1, 2000, 0, 1), nan, inf, -inf)), num("x", append(normal(2, 500, 0, 1), nan, nan)), Options{}, StatusOK, TestWasserstein, false, ""},
		{"unseen categories", cat("c", cats(1, 3000, map[string]float64{"a": .5, "b": .5})), cat("c", cats(2, 500, map[string]float64{"a": .3, "b": .3, "new": .4})), Options{}, StatusOK, TestJensenShannon, true, ""},
		{"unseen categories, chi-square", cat("c", cats(1, 300, map[string]float64{"a": .5, "b": .5})), cat("c", cats(2, 500, map[string]float64{"a": .45, "b": .45, "new": .1})), Options{}, StatusOK, TestChiSquare, true, ""},
		{"empty strings are missing", cat("c", []string{"", "", ""}), cat("c", []string{"a", "b"}), Options{}, StatusInsufficient, "", false, "insufficient data"},
		{"huge cardinality", cat("c", huge(50000, 1)), cat("c", huge(20000, 2)), Options{}, StatusOK, TestJensenShannon, true, ""},
		{"kind mismatch", num("x", normal(1, 10, 0, 1)), cat("x", []string{"a"}), Options{}, StatusInsufficient, "", false, "numeric in the reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v Verdict
			require.NotPanics(t, func() { v = one(t, tt.ref, tt.cur, tt.opt) })
			assert.Equal(t, tt.status, v.Status, v.Reason)
			assert.Equal(t, tt.test, v.Test)
			assert.Equal(t, tt.drift, v.Drift, "%s / %s", v.Reason, v.Note)
			if tt.reasonHas != "" {
				assert.Contains(t, v.Reason, tt.reasonHas)
			}
			if v.Status == StatusOK && !v.Test.PValued() {
				assert.False(t, math.IsNaN(float64(v.Distance)) || math.IsInf(float64(v.Distance), 0), "distance %v", v.Distance)
			}
			for _, o := range []float64{float64(v.ErrorBound)} {
				assert.False(t, math.IsNaN(o) || math.IsInf(o, 0))
			}
			_, err := json.Marshal(v)
			assert.NoError(t, err, "every verdict must encode as JSON")
		})
	}
	t.Run("unseen categories listed", func(t *testing.T) {
		cur := []string{"a", "q", "r", "r", "r", "r", "r"}
		v := one(t, cat("c", []string{"a", "b", "a", "b"}), cat("c", cur), Options{Columns: map[string]ColumnOptions{"c": {Test: TestChiSquare}}})
		assert.Equal(t, []string{"r"}, v.Unseen, "q is seen once: counted, never named")
		assert.Equal(t, 2, v.UnseenCount)
		assert.Contains(t, v.Overlay.Labels, "rare, < 5 rows each (3)")
		assert.NotContains(t, v.Overlay.Labels, "q")
		assert.True(t, math.IsInf(float64(v.Statistic), 1))
		assert.Equal(t, 0.0, float64(v.PValue))
		b, err := json.Marshal(v)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"statistic":"+Inf"`)
	})
	t.Run("every distance finite on every fault", func(t *testing.T) {
		for _, tt := range tests {
			for _, test := range []Test{TestWasserstein, TestJensenShannon, TestPSI, TestKL, TestHellinger} {
				if tt.ref.Kind == Categorical && test == TestWasserstein {
					continue
				}
				v := one(t, tt.ref, tt.cur, Options{MinCount: 1, Columns: map[string]ColumnOptions{tt.ref.Name: {Test: test}}})
				if v.Status != StatusOK {
					continue
				}
				d := float64(v.Distance)
				assert.False(t, math.IsNaN(d) || math.IsInf(d, 0), "%s %s: %v", tt.name, test, d)
			}
		}
	})
	t.Run("missing column", func(t *testing.T) {
		res, err := CompareColumns([]Column{num("x", normal(1, 10, 0, 1))}, []Column{num("y", normal(1, 10, 0, 1))}, Options{})
		require.NoError(t, err)
		assert.Equal(t, StatusInsufficient, res.Columns[0].Status)
		assert.Equal(t, 0, res.Evaluated)
		assert.False(t, res.Drift)
	})
}

func TestNumJSON(t *testing.T) {
	for _, f := range []float64{0, 1.5, -2e-300, math.Inf(1), math.Inf(-1)} {
		b, err := json.Marshal(Num(f))
		require.NoError(t, err)
		var back Num
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, f, float64(back))
	}
	b, _ := json.Marshal(Num(math.NaN()))
	assert.Equal(t, "null", string(b))
}

func TestRadixSortMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float64, 5000)
	for i := range v {
		switch i % 5 {
		case 0:
			v[i] = r.NormFloat64() * 1e300
		case 1:
			v[i] = -r.Float64()
		case 2:
			v[i] = float64(r.IntN(10))
		default:
			v[i] = r.NormFloat64()
		}
	}
	v[7] = math.Copysign(0, -1)
	got := sortedCopy(v)
	for i := 1; i < len(got); i++ {
		require.LessOrEqual(t, got[i-1], got[i], "at %d", i)
	}
	assert.Len(t, got, len(v))
}

// FuzzCompare feeds arbitrary bytes as numeric and categorical columns:
// never a panic, every verdict encodes, every distance is finite.
func FuzzCompare(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, uint8(3))
	f.Add([]byte{0xff, 0xf8, 0, 0, 0, 0, 0, 1, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}, uint8(0))
	f.Add([]byte(strings.Repeat("a", 64)), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var vals []float64
		for i := 0; i+8 <= len(data); i += 8 {
			vals = append(vals, math.Float64frombits(binary.LittleEndian.Uint64(data[i:])))
		}
		var strs []string
		for _, b := range data {
			strs = append(strs, string(rune('a'+b%7)))
		}
		cut := int(split) % (len(vals) + 1)
		ccut := int(split) % (len(strs) + 1)
		for _, test := range append([]Test{""}, Tests...) {
			opt := Options{MinCount: 1, Columns: map[string]ColumnOptions{"n": {Test: test}, "c": {Test: test}}}
			res, err := CompareColumns(
				[]Column{num("n", vals[:cut]), cat("c", strs[:ccut])},
				[]Column{num("n", vals[cut:]), cat("c", strs[ccut:])}, opt)
			require.NoError(t, err)
			for _, v := range res.Columns {
				if v.Status == StatusOK && !v.Test.PValued() {
					d := float64(v.Distance)
					require.False(t, math.IsNaN(d) || math.IsInf(d, 0), "%s %s: %v", v.Column, v.Test, d)
				}
			}
			_, err = json.Marshal(res)
			require.NoError(t, err)
		}
	})
}
