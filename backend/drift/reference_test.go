package drift

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
)

// The reference values in testdata/reference.json come from scipy via
// testdata/gen_reference.py; see that script for how samples are encoded.

type lcgSpec struct {
	Seed   uint64  `json:"seed"`
	N      int     `json:"n"`
	Shape  string  `json:"shape"`
	Scale  float64 `json:"scale"`
	Shift  float64 `json:"shift"`
	Levels float64 `json:"levels"`
}

type refSample struct {
	LCG     *lcgSpec `json:"lcg"`
	Values  []Num    `json:"values"`
	Strings []string `json:"strings"`
}

type refPair struct {
	Statistic Num `json:"statistic"`
	PValue    Num `json:"pvalue"`
}

type refCase struct {
	Name              string    `json:"name"`
	Kind              Kind      `json:"kind"`
	Ref               refSample `json:"ref"`
	Cur               refSample `json:"cur"`
	Empty             bool      `json:"empty"`
	KS                *refPair  `json:"ks"`
	ChiSquare         *refPair  `json:"chisquare"`
	Z                 *refPair  `json:"z"`
	Wasserstein       *Num      `json:"wasserstein"`
	WassersteinNormed *Num      `json:"wasserstein_normed"`
	JS                *Num      `json:"js"`
	PSI               *Num      `json:"psi"`
	KL                *Num      `json:"kl"`
	Hellinger         *Num      `json:"hellinger"`
}

// lcgSample must match lcg() in gen_reference.py: integer arithmetic and
// exact IEEE operations only, so both produce the same doubles.
func lcgSample(s lcgSpec) []float64 {
	state := s.Seed
	u := func() float64 {
		state = state*6364136223846793005 + 1442695040888963407
		return float64(state>>11) * 0x1p-53
	}
	out := make([]float64, s.N)
	for i := range out {
		var x float64
		switch s.Shape {
		case "grid":
			x = (float64(i) + 0.5) / float64(s.N)
		case "uniform":
			x = u()
		case "tri3":
			x = (u() + u() + u()) - 1.5
		case "levels":
			x = math.Floor(u() * s.Levels)
		default:
			panic("unknown shape " + s.Shape)
		}
		out[i] = s.Shift + s.Scale*x
	}
	return out
}

func (s refSample) column(name string, kind Kind) Column {
	if kind == Categorical {
		return Column{Name: name, Kind: Categorical, Cat: s.Strings}
	}
	if s.LCG != nil {
		return Column{Name: name, Kind: Numeric, Num: lcgSample(*s.LCG)}
	}
	v := make([]float64, len(s.Values))
	for i, x := range s.Values {
		v[i] = float64(x)
	}
	return Column{Name: name, Kind: Numeric, Num: v}
}

func loadReference(t *testing.T) []refCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reference.json"))
	require.NoError(t, err)
	var doc struct {
		Cases []refCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.NotEmpty(t, doc.Cases)
	return doc.Cases
}

// near asserts |got − want| ≤ tol, treating NaN = NaN and equal infinities
// as equal.
func near(t *testing.T, want, got Num, tol float64, what string) {
	t.Helper()
	w, g := float64(want), float64(got)
	if math.IsNaN(w) || math.IsInf(w, 0) {
		assert.Equal(t, want, got, what)
		return
	}
	assert.InDelta(t, w, g, tol, "%s: scipy %.17g, tern %.17g", what, w, g)
}

// nearRel allows tol relative to the magnitude for values above 1
// (chi-square statistics grow with the sample).
func nearRel(t *testing.T, want, got Num, tol float64, what string) {
	t.Helper()
	near(t, want, got, tol*math.Max(1, math.Abs(float64(want))), what)
}

func runOverride(t *testing.T, ref, cur Column, test Test) Verdict {
	t.Helper()
	res, err := CompareColumns([]Column{ref}, []Column{cur}, Options{
		Columns: map[string]ColumnOptions{ref.Name: {Test: test}}, MinCount: 1,
	})
	require.NoError(t, err)
	require.Len(t, res.Columns, 1)
	v := res.Columns[0]
	require.Equal(t, StatusOK, v.Status, v.Reason)
	return v
}

func TestExactnessAgainstScipy(t *testing.T) {
	for _, c := range loadReference(t) {
		t.Run(c.Name, func(t *testing.T) {
			ref, cur := c.Ref.column("x", c.Kind), c.Cur.column("x", c.Kind)
			if c.Empty {
				return
			}
			if c.KS != nil {
				// The raw function, and the engine through a profile.
				r := KS(ref.Num, cur.Num)
				near(t, c.KS.Statistic, Num(r.Statistic), 1e-12, "KS statistic")
				near(t, c.KS.PValue, Num(r.PValue), 1e-6, "KS p-value")
				v := runOverride(t, ref, cur, TestKS)
				near(t, c.KS.Statistic, v.Statistic, 1e-12, "engine KS statistic")
				near(t, c.KS.PValue, v.PValue, 1e-6, "engine KS p-value")
			}
			if c.Wasserstein != nil {
				near(t, *c.Wasserstein, Num(Wasserstein(ref.Num, cur.Num)), 1e-9, "Wasserstein")
				v := runOverride(t, ref, cur, TestWasserstein)
				near(t, *c.WassersteinNormed, v.Distance, 1e-9, "normed Wasserstein")
			}
			if c.ChiSquare != nil {
				v := runOverride(t, ref, cur, TestChiSquare)
				nearRel(t, c.ChiSquare.Statistic, v.Statistic, 1e-9, "chi-square statistic")
				if !math.IsNaN(float64(c.ChiSquare.PValue)) {
					near(t, c.ChiSquare.PValue, v.PValue, 1e-9, "chi-square p-value")
				}
			}
			if c.Z != nil {
				v := runOverride(t, ref, cur, TestZ)
				near(t, Num(math.Abs(float64(c.Z.Statistic))), Num(math.Abs(float64(v.Statistic))), 1e-9, "z statistic (sign depends on which category is counted)")
				near(t, c.Z.PValue, v.PValue, 1e-9, "z p-value")
			}
			if c.JS != nil {
				near(t, *c.JS, runOverride(t, ref, cur, TestJensenShannon).Distance, 1e-9, "Jensen–Shannon")
				nearRel(t, *c.PSI, runOverride(t, ref, cur, TestPSI).Distance, 1e-9, "PSI")
				nearRel(t, *c.KL, runOverride(t, ref, cur, TestKL).Distance, 1e-9, "KL")
				near(t, *c.Hellinger, runOverride(t, ref, cur, TestHellinger).Distance, 1e-9, "Hellinger")
			}
		})
	}
}

// TestReferenceIsCurrent re-runs the generator and checks the stored file
// is what it produces today, so nobody edits reference.json by hand.
func TestReferenceIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs scipy")
	}
	py := testenv.Python(t, "scipy", "numpy")
	out, err := exec.Command(py, filepath.Join("testdata", "gen_reference.py"), "--stdout").Output()
	require.NoError(t, err)
	stored, err := os.ReadFile(filepath.Join("testdata", "reference.json"))
	require.NoError(t, err)
	if bytes.Equal(stored, out) {
		return
	}
	// Another CPU may round a last bit differently inside numpy; anything
	// beyond that means the stored file is stale.
	var a, b any
	require.NoError(t, json.Unmarshal(stored, &a))
	require.NoError(t, json.Unmarshal(out, &b))
	sameJSON(t, "reference.json", a, b)
}

func sameJSON(t *testing.T, path string, a, b any) {
	t.Helper()
	const stale = "testdata/reference.json is stale: run python3 backend/drift/testdata/gen_reference.py"
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		require.True(t, ok, "%s: %s", path, stale)
		require.Equal(t, len(x), len(y), "%s: %s", path, stale)
		for k, v := range x {
			if k == "scipy" || k == "numpy" {
				continue // versions are pinned in .ci/python-test.txt
			}
			sameJSON(t, path+"."+k, v, y[k])
		}
	case []any:
		y, ok := b.([]any)
		require.True(t, ok, "%s: %s", path, stale)
		require.Equal(t, len(x), len(y), "%s: %s", path, stale)
		for i := range x {
			sameJSON(t, fmt.Sprintf("%s[%d]", path, i), x[i], y[i])
		}
	case float64:
		y, ok := b.(float64)
		require.True(t, ok, "%s: %s", path, stale)
		require.InDelta(t, x, y, 1e-12*math.Max(1, math.Abs(x)), "%s: %s", path, stale)
	default:
		require.Equal(t, a, b, "%s: %s", path, stale)
	}
}
