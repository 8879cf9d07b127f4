package chart

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.Golden(t, filepath.Join("testdata", name+".svg"), got)
}

func TestHistogramGolden(t *testing.T) {
	edges := []float64{0, 10, 20, 30, 40, 50}
	counts := []float64{3, 12, 30, 9, 1}
	svg, err := Histogram(edges, counts, Options{Title: "age", Width: 480, Height: 240})
	require.NoError(t, err)
	s := string(svg)
	assert.Contains(t, s, `width="480" height="240" viewBox=`)
	assert.Contains(t, s, "sans-serif")
	assert.Contains(t, s, "fill:#12998B")
	assert.NotContains(t, s, "@font-face", "fonts are not embedded")
	golden(t, "histogram", svg)
}

func TestBarGolden(t *testing.T) {
	svg, err := Bar([]string{"Oslo", "Lima", "a very long city name that goes on"}, []float64{1200, 800, 45}, Options{Title: "city", Width: 400, Height: 200})
	require.NoError(t, err)
	s := string(svg)
	assert.Contains(t, s, "Oslo")
	assert.Contains(t, s, "a very long city name t…")
	golden(t, "bar", svg)
}

func TestEmptyAndOddInputs(t *testing.T) {
	for _, tc := range []struct {
		edges, counts []float64
	}{{nil, nil}, {[]float64{1}, nil}, {[]float64{5, 5}, []float64{10}}, {[]float64{0, 1, 2}, []float64{0, 0}}} {
		svg, err := Histogram(tc.edges, tc.counts, Options{})
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(strings.TrimSpace(string(svg)), "<?xml") || strings.Contains(string(svg), "<svg"))
	}
	_, err := Bar(nil, nil, Options{})
	require.NoError(t, err)
}

func TestCompact(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.1 + 0.2: "0.3", 1234: "1234", 12345: "12.3k", 2.5e6: "2.5M", -3e9: "-3B", 0.0001234: "1.2e-04", 999: "999"} {
		assert.Equal(t, want, Compact(v), "%v", v)
	}
}
