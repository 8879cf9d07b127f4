package gbdt

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUBJSONToJSON(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want string
	}{
		"scalars":        {"[Zi\xffU\xffI\x01\x00l\xff\xff\xff\xfeL\x00\x00\x00\x01\x00\x00\x00\x00TFCa]", `[null,-1,255,256,-2,4294967296,true,false,"a"]`},
		"float32":        {"[d\x3f\x80\x00\x00d\x3d\xcc\xcc\xcd]", `[1,0.1]`},
		"float64":        {"[D\x3f\xb9\x99\x99\x99\x99\x99\x9a]", `[0.1]`},
		"high precision": {"[Hi\x0512.50]", `[12.50]`},
		"string":         {"[Si\x03h\"i]", `["h\"i"]`},
		"object":         {"{i\x01aU\x07i\x01b[]}", `{"a":7,"b":[]}`},
		"typed array":    {"[$d#i\x02\x3f\x80\x00\x00\x40\x00\x00\x00", `[1,2]`},
		"counted":        {"[#U\x02TZ", `[true,null]`},
		"typed object":   {"{$U#i\x02i\x01x\x01i\x01y\x02", `{"x":1,"y":2}`},
		"noop":           {"[NTNN]", `[true]`},
		"empty":          {"{}", `{}`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ubjsonToJSON([]byte(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestUBJSONRefusesDamage(t *testing.T) {
	good, err := os.ReadFile("testdata/xgb_binary.ubj")
	require.NoError(t, err)
	for name, in := range map[string][]byte{
		"truncated":       good[:len(good)/2],
		"trailing":        append(append([]byte(nil), good...), 'Z'),
		"huge count":      []byte("[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff"),
		"count past end":  []byte("[$d#l\x00\x00\x10\x00\x00\x00"),
		"negative length": []byte("[Si\xff]"),
		"unknown marker":  []byte("[X]"),
		"nan":             []byte("[d\x7f\xc0\x00\x00]"),
		"bad utf8":        []byte("[Si\x01\xff]"),
		"typed no count":  []byte("[$d\x3f\x80\x00\x00]"),
		"bad hp number":   []byte("[Hi\x03abc]"),
		"deep":            []byte(strings.Repeat("[", 100) + strings.Repeat("]", 100)),
		"hex hp number":   []byte("[Hi\x060x1p-2]"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ubjsonToJSON(in)
			assert.Error(t, err)
		})
	}
	_, err = Read(good[:len(good)-3])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Unsupported model format/version")
	assert.Contains(t, err.Error(), "UBJSON")
}

// The UBJSON and JSON files of one booster read to the same model.
func TestUBJSONMatchesJSON(t *testing.T) {
	for _, name := range []string{"xgb_regression", "xgb_multi", "xgb_dart"} {
		j, err := os.ReadFile("testdata/" + name + ".json")
		require.NoError(t, err)
		u, err := os.ReadFile("testdata/" + name + ".ubj")
		require.NoError(t, err)
		mj, err := Read(j)
		require.NoError(t, err)
		mu, err := Read(u)
		require.NoError(t, err)
		assert.Equal(t, mj.Trees, mu.Trees, name)
		assert.Equal(t, mj.Objective, mu.Objective, name)
		x := []float64{0.3, -1.2, 0.7, 2.1, -0.4, 0}
		a, b := make([]float64, mj.Outputs), make([]float64, mu.Outputs)
		mj.PredictRow(x, a)
		mu.PredictRow(x, b)
		assert.Equal(t, a, b, name)
	}
}

func FuzzUBJSON(f *testing.F) {
	good, err := os.ReadFile("testdata/xgb_regression.ubj")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:min(len(good), 3000)])
	f.Add([]byte("{i\x01aU\x07i\x01b[$d#i\x02\x3f\x80\x00\x00\x40\x00\x00\x00}"))
	f.Add([]byte("[#U\x02TZ"))
	f.Add([]byte("{$U#i\x02i\x01x\x01i\x01y\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := ubjsonToJSON(data)
		if err != nil {
			return
		}
		// Whatever transcodes is valid JSON, so the JSON reader sees only
		// well-formed text.
		var v any
		require.NoError(t, json.Unmarshal(out, &v), "%q -> %q", data, out)
	})
}
