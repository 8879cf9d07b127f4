package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/table"
	"github.com/tern-studio/tern/backend/testenv"
)

// windows1252CSV is a French export: Windows-1252 text, ';' between
// fields, "NA" and "manquant" for missing values, and a code column of
// digits with leading zeros that only the user knows is a category.
func windows1252CSV(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("ville;prix;surface;code;classe\n")
	// "Null" is a town here: not one of this file's missing-value tokens.
	villes := []string{"Orléans", "Besançon", "Périgueux", "Nîmes", "Sète", "Null"}
	for i := 0; i < n; i++ {
		prix := fmt.Sprintf("%.2f", 100+float64(i%37)*7.25)
		if i%11 == 0 {
			prix = "NA"
		}
		surface := fmt.Sprint(20 + i%53)
		switch {
		case i%13 == 0:
			surface = "manquant"
		case i%17 == 0:
			surface = ""
		}
		classe := "non"
		if i%37 > 18 {
			classe = "oui"
		}
		fmt.Fprintf(&b, "%s;%s;%s;%03d;%s\n", villes[i%len(villes)], prix, surface, i%9*7, classe)
	}
	enc, err := charmap.Windows1252.NewEncoder().Bytes(b.Bytes())
	require.NoError(t, err)
	return enc
}

// TestTrainingReadsWhatTheProfileShows imports a Windows-1252, ';'-separated
// file with its own missing-value tokens, retypes a column as the user
// would, and checks that the runtime's view of the data (loadData, what
// train trains on) has exactly the rows, missing counts and values the
// version's profile reports; then trains on it.
func TestTrainingReadsWhatTheProfileShows(t *testing.T) {
	ctx := t.Context()
	svc := datasets(t)

	const n = 600
	v, err := svc.ImportReader(ctx, bytes.NewReader(windows1252CSV(t, n)), "ventes.csv", 0,
		dataset.Options{Options: table.Options{NullTokens: []string{"", "NA", "manquant"}}})
	require.NoError(t, err)
	require.Equal(t, "windows-1252", v.Encoding)
	require.Equal(t, ";", v.Delimiter)
	require.Equal(t, dataset.Integer, v.Schema[3].Type, "code detected as a number")
	v, err = svc.EditSchema(ctx, v.ID, []dataset.ColumnEdit{{Name: "code", Type: dataset.Categorical}, {Name: "classe", Role: dataset.Target}})
	require.NoError(t, err)
	prof, path, reading := jobInputs(t, svc, v)
	frame, err := loadData(ctx, path, reading)
	require.NoError(t, err)
	require.Equal(t, prof.Rows, int64(frame.Len()), "rows")
	require.Equal(t, len(prof.Columns), len(frame.Columns))
	assert.Equal(t, []string{ml.Categorical, ml.Numeric, ml.Numeric, ml.Categorical, ml.Categorical}, frame.Kinds)
	for j, cp := range prof.Columns {
		require.Equal(t, cp.Name, frame.Columns[j])
		var missing, count int64
		var nums []float64
		cats := map[string]int64{}
		for _, row := range frame.Rows {
			switch x := row[j].(type) {
			case nil:
				missing++
			case float64:
				count++
				nums = append(nums, x)
			case string:
				count++
				cats[x]++
			default:
				t.Fatalf("column %s holds a %T", cp.Name, x)
			}
		}
		assert.Equal(t, cp.Missing, missing, "%s: missing", cp.Name)
		assert.Equal(t, cp.Count, count, "%s: present", cp.Name)
		if cp.Numeric != nil && cp.Type != dataset.Boolean {
			require.Len(t, nums, int(count), "%s is numeric in the profile and in the frame", cp.Name)
			lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
			for _, x := range nums {
				lo, hi, sum = math.Min(lo, x), math.Max(hi, x), sum+x
			}
			assert.Equal(t, cp.Numeric.Min, lo, "%s: min", cp.Name)
			assert.Equal(t, cp.Numeric.Max, hi, "%s: max", cp.Name)
			assert.InDelta(t, cp.Numeric.Mean, sum/float64(len(nums)), 1e-9*math.Abs(cp.Numeric.Mean), "%s: mean", cp.Name)
			continue
		}
		require.NotNil(t, cp.Categories, cp.Name)
		assert.Equal(t, cp.Distinct, int64(len(cats)), "%s: distinct", cp.Name)
		var inTop int64
		for _, c := range cp.Categories.Top {
			assert.Equal(t, c.Count, cats[c.Value], "%s: count of %q", cp.Name, c.Value)
			inTop += c.Count
		}
		assert.Equal(t, cp.Categories.Other, count-inTop, "%s: other", cp.Name)
	}
	assert.Contains(t, frame.Rows[0][0], "Orléans", "decoded from Windows-1252")
	assert.Equal(t, "000", frame.Rows[0][3], "the retyped code keeps its leading zeros")
	assert.Equal(t, int64(n/11+1), prof.Columns[1].Missing, "NA read as missing")

	// The same file read without the version's settings is not what the
	// profile shows: "manquant" is not a default token, so surface reads
	// as words, and code as a number.
	plain, err := loadData(ctx, path, "")
	require.NoError(t, err)
	assert.Equal(t, []string{ml.Categorical, ml.Numeric, ml.Categorical, ml.Numeric, ml.Categorical}, plain.Kinds)

	// And training runs on the version's view: code is a category.
	params := testenv.File(t, "params.json", []byte(`{"target":"classe","features":["ville","prix","surface","code"]}`))
	t.Setenv("TERN_PARAMS", "")
	out := filepath.Join(t.TempDir(), "out")
	require.NoError(t, runTrain(ctx, path, reading, "", params, out))
	m, err := modelfmt.LoadML(filepath.Join(out, "model"))
	require.NoError(t, err)
	kinds := map[string]string{}
	for _, f := range m.Prep.Features {
		kinds[f.Name] = f.Kind
		if f.Name == "ville" {
			assert.Contains(t, f.Categories, "Null", "a category the profile counts is one the model learns")
		}
	}
	assert.Equal(t, map[string]string{"ville": ml.Categorical, "prix": ml.Numeric, "surface": ml.Numeric, "code": ml.Categorical}, kinds)
}

// TestParquetAndJSONLinesVersionsTrain: versions of the other formats reach
// training the same way, with the rows their profiles count.
func TestParquetAndJSONLinesVersionsTrain(t *testing.T) {
	ctx := t.Context()
	svc := datasets(t)
	var jl bytes.Buffer
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&jl, "{\"score\":%d,\"name\":\"n%d\",\"note\":null}\n", i, i%3)
	}
	for name, data := range map[string][]byte{"scores.parquet": testenv.ScoresParquet(t, 300), "scores.jsonl": jl.Bytes()} {
		v, err := svc.ImportReader(ctx, bytes.NewReader(data), name, 0, dataset.Options{})
		require.NoError(t, err, name)
		prof, path, reading := jobInputs(t, svc, v)
		frame, err := loadData(ctx, path, reading)
		require.NoError(t, err, name)
		assert.Equal(t, prof.Rows, int64(frame.Len()), name)

		params := testenv.File(t, "params.json", []byte(`{"target":"name","features":["score"]}`))
		t.Setenv("TERN_PARAMS", "")
		require.NoError(t, runTrain(ctx, path, reading, "", params, filepath.Join(t.TempDir(), "out")), name)
	}
}

// datasets is a dataset service on a fresh store, as the desktop app has.
func datasets(t *testing.T) *dataset.Service {
	t.Helper()
	db := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(db.Dir, "blobs"), db)
	require.NoError(t, err)
	return dataset.NewService(db, blobs, core.NewBus(), db.Dir)
}

// jobInputs returns what the runner hands a training job for version v:
// its file and its settings file (written as the runner writes it), with
// the profile the user saw, to compare the job's view of the data with.
func jobInputs(t *testing.T, svc *dataset.Service, v dataset.Version) (prof dataset.Profile, path, reading string) {
	t.Helper()
	prof, err := svc.Profile(v.ID)
	require.NoError(t, err)
	path, err = svc.VersionFile(v.ID)
	require.NoError(t, err)
	b, err := json.Marshal(v.Reading())
	require.NoError(t, err)
	return prof, path, testenv.File(t, "dataset.json", b)
}
