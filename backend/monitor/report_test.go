package monitor

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/testenv"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.Golden(t, filepath.Join("testdata", name), got)
}

// sampleColumns makes a sample with the kinds of columns a real model sees: two
// numeric features, a city, a binary flag and a per-row ID.
func sampleColumns(seed uint64, n int, shift float64) []drift.Column {
	r := rand.New(rand.NewPCG(seed, 3))
	age, income := make([]float64, n), make([]float64, n)
	city, flag, id := make([]string, n), make([]string, n), make([]string, n)
	cities := []string{"Oslo", "Lima", "Pune", "Kyiv"}
	for i := 0; i < n; i++ {
		age[i] = 40 + 12*r.NormFloat64() + 8*shift
		income[i] = math.Exp(10 + 0.5*r.NormFloat64())
		k := r.IntN(4)
		if shift > 0 && r.Float64() < 0.4 {
			k = 3
		}
		city[i] = cities[k]
		flag[i] = strconv.FormatBool(r.Float64() < 0.3+0.2*shift)
		id[i] = fmt.Sprintf("cust#%d-%07d", seed, r.IntN(10_000_000))
	}
	return []drift.Column{
		{Name: "age", Kind: drift.Numeric, Num: age},
		{Name: "income", Kind: drift.Numeric, Num: income},
		{Name: "city", Kind: drift.Categorical, Cat: city},
		{Name: "flag", Kind: drift.Categorical, Cat: flag},
		{Name: "id", Kind: drift.Categorical, Cat: id},
	}
}

func fixedReport(t *testing.T) (*Report, []drift.Column, []drift.Column) {
	t.Helper()
	ref, cur := sampleColumns(1, 3000, 0), sampleColumns(2, 1500, 1)
	src := Static{Name: "uploaded file current.csv against dataset credit v1", Ref: drift.BuildProfile(ref, drift.ProfileOptions{}), Cur: cur}
	rep, err := Build(t.Context(), src, BuildOptions{
		Title: "Credit model — weekly drift", Window: Window{LastN: 1500},
		Clock: core.NewManualClock(time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)),
		NewID: func() string { return "rep-1" },
	})
	require.NoError(t, err)
	rep.Ops = &Ops{Requests: 1500, Errors: 12, ErrorRate: 0.008, LatencyP50Ms: 3.2, LatencyP95Ms: 11.7}
	return rep, ref, cur
}

func TestReportHTMLGolden(t *testing.T) {
	rep, _, _ := fixedReport(t)
	html, err := HTML(rep)
	require.NoError(t, err)
	s := string(html)
	assert.Contains(t, s, "Dataset drift detected")
	assert.Contains(t, s, "Wasserstein (normed)")
	assert.Contains(t, s, "Jensen–Shannon")
	assert.Contains(t, s, "<svg", "charts are inline")
	golden(t, "report.html", html)
}

// TestReportIsSelfContained: one file, nothing fetched from anywhere.
func TestReportIsSelfContained(t *testing.T) {
	rep, _, _ := fixedReport(t)
	html, err := HTML(rep)
	require.NoError(t, err)
	s := string(html)
	for _, bad := range []string{"<link", "src=", "@import", "url(", "<iframe", "fetch(", "XMLHttpRequest"} {
		assert.NotContains(t, s, bad)
	}
	// The only absolute URLs are SVG namespace names, which are never loaded.
	rest := strings.NewReplacer(`xmlns="http://www.w3.org/2000/svg"`, "", `xmlns:xlink="http://www.w3.org/1999/xlink"`, "").Replace(s)
	assert.NotContains(t, rest, "http://")
	assert.NotContains(t, rest, "https://")
}

// TestReportHoldsNoRawRow: no cell of either sample appears in the report
// at full precision, no per-row ID at all, no row as a whole.
func TestReportHoldsNoRawRow(t *testing.T) {
	rep, ref, cur := fixedReport(t)
	html, err := HTML(rep)
	require.NoError(t, err)
	s := string(html)
	checked := 0
	for _, sample := range [][]drift.Column{ref, cur} {
		for _, c := range sample {
			for i := range max(len(c.Num), len(c.Cat)) {
				var cell string
				if c.Kind == drift.Numeric {
					cell = strconv.FormatFloat(c.Num[i], 'g', -1, 64)
				} else if c.Name == "id" {
					cell = c.Cat[i]
				} else {
					continue // a category shared by hundreds of rows is an aggregate
				}
				if !strings.Contains(s, cell) {
					checked++
					continue
				}
				t.Errorf("column %s row %d: raw value %q is in the report", c.Name, i, cell)
				return
			}
		}
	}
	assert.Equal(t, 13500, checked)
	assert.False(t, strings.Contains(s, "cust#"), "an ID is in the report")
	// The JSON the UI gets holds the same aggregates.
	assert.NotContains(t, fmt.Sprint(rep.Drift.Columns[4].Overlay.Labels), "cust#")
}

func TestOverlaySVGGolden(t *testing.T) {
	rep, _, _ := fixedReport(t)
	for _, i := range []int{0, 2} {
		v := rep.Drift.Columns[i]
		svg, err := OverlaySVG(v, 480, 220)
		require.NoError(t, err)
		golden(t, "overlay-"+v.Column+".svg", svg)
	}
}

func TestBuildFailsPlainly(t *testing.T) {
	_, err := Build(t.Context(), Static{Name: "x", Ref: &drift.Profile{}}, BuildOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no columns")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Build(ctx, Static{Name: "x", Ref: drift.BuildProfile(sampleColumns(1, 10, 0), drift.ProfileOptions{})}, BuildOptions{})
	require.Error(t, err)
}

func TestReportPDF(t *testing.T) {
	rep, _, _ := fixedReport(t)
	pdf, err := PDF(rep)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(pdf), "%PDF-"))
	assert.Contains(t, string(pdf[len(pdf)-64:]), "%%EOF")
	_, err = PDF(nil)
	require.Error(t, err)
}
