package explain

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/tern-studio/tern/backend/core"
)

// Scorer scores a model on rows (one []any per row, values in the order of
// the columns given to Permutation): higher is better (accuracy, R², or a
// negated loss). The labels are the scorer's own, aligned with the rows by
// index, so permuting a column breaks its link to the label and nothing
// else. A served model is scored by a Scorer that sends the rows to its
// endpoint.
type Scorer func(ctx context.Context, rows [][]any) (float64, error)

// Importance is one column's permutation importance: the mean and
// standard deviation over repeats of baseline score minus the score with
// the column shuffled (sklearn.inspection.permutation_importance's
// importances_mean and importances_std).
type Importance struct {
	Column string    `json:"column"`
	Mean   float64   `json:"mean"`
	Std    float64   `json:"std"`
	Drops  []float64 `json:"drops"`
}

// PermutationOptions tune Permutation. Repeats defaults to 5; the same Seed
// gives the same shuffles. Progress, when set, is told after every scored
// shuffle.
type PermutationOptions struct {
	Repeats  int
	Seed     uint64
	Progress func(done, total int)
}

// Permutation computes the permutation importance of each column: the
// baseline score of the rows as given, then for each column and repeat the
// score with that column's values shuffled across rows. It returns the
// baseline and one Importance per column, in column order; cancelling ctx
// stops it between scorings.
func Permutation(ctx context.Context, columns []string, rows [][]any, score Scorer, opt PermutationOptions) (float64, []Importance, error) {
	if len(rows) < 2 {
		return 0, nil, core.Errorf(core.Invalid, "Permutation importance needs at least two rows; there are %d.", len(rows))
	}
	for i, r := range rows {
		if len(r) != len(columns) {
			return 0, nil, core.Errorf(core.Invalid, "Row %d has %d values but there are %d columns.", i+1, len(r), len(columns))
		}
	}
	if opt.Repeats <= 0 {
		opt.Repeats = 5
	}
	base, err := score(ctx, rows)
	if err != nil {
		return 0, nil, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x7e4e))
	// Work on a copy so the caller's rows are never seen shuffled.
	work := make([][]any, len(rows))
	for i, r := range rows {
		work[i] = append([]any(nil), r...)
	}
	perm := make([]int, len(rows))
	total, done := len(columns)*opt.Repeats, 0
	out := make([]Importance, len(columns))
	for j, name := range columns {
		imp := Importance{Column: name, Drops: make([]float64, opt.Repeats)}
		for rep := 0; rep < opt.Repeats; rep++ {
			if err := ctx.Err(); err != nil {
				return 0, nil, err
			}
			for i := range perm {
				perm[i] = i
			}
			rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
			for i := range work {
				work[i][j] = rows[perm[i]][j]
			}
			s, err := score(ctx, work)
			if err != nil {
				return 0, nil, err
			}
			imp.Drops[rep] = base - s
			done++
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		}
		for i := range work {
			work[i][j] = rows[i][j]
		}
		var sum, ss float64
		for _, d := range imp.Drops {
			sum += d
		}
		imp.Mean = sum / float64(opt.Repeats)
		for _, d := range imp.Drops {
			ss += (d - imp.Mean) * (d - imp.Mean)
		}
		imp.Std = math.Sqrt(ss / float64(opt.Repeats))
		out[j] = imp
	}
	return base, out, nil
}
