package dataset

import (
	"math"
	"sort"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/core"
)

// Diff compares a version with the one before it.
type Diff struct {
	From        *Version      `json:"from,omitempty"` // nil for a first version
	To          Version       `json:"to"`
	RowsDelta   int64         `json:"rowsDelta"`
	Added       []Column      `json:"added"`
	Removed     []Column      `json:"removed"`
	TypeChanged []TypeChange  `json:"typeChanged"`
	Columns     []ColumnShift `json:"columns"`
}

// TypeChange is a column whose type differs between versions.
type TypeChange struct {
	Name string     `json:"name"`
	From ColumnType `json:"from"`
	To   ColumnType `json:"to"`
}

// ColumnShift is how much one column's distribution moved. Distance is in
// [0, 1]: the Kolmogorov–Smirnov statistic (largest gap between the two
// CDFs, read from the quantile sketches) for numeric columns, the total
// variation distance between category frequencies otherwise. It is a
// profile-level stand-in until the drift engine supplies its tests.
type ColumnShift struct {
	Name        string  `json:"name"`
	Method      string  `json:"method"` // ks, tvd
	Distance    float64 `json:"distance"`
	MissingFrom float64 `json:"missingFrom"` // fraction of rows
	MissingTo   float64 `json:"missingTo"`
	MeanFrom    float64 `json:"meanFrom,omitempty"`
	MeanTo      float64 `json:"meanTo,omitempty"`
}

// Diff compares versionID with the previous live version of its dataset.
func (s *Service) Diff(versionID string) (Diff, error) {
	to, err := s.Version(versionID)
	if err != nil {
		return Diff{}, err
	}
	var from *Version
	err = s.db.DB.View(func(txn *badger.Txn) error {
		vs, err := s.versions(txn, to.DatasetID, false)
		if err != nil {
			return err
		}
		for i := range vs {
			if vs[i].Number < to.Number {
				from = &vs[i]
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return Diff{}, core.Wrap(err, core.Internal, "Tern could not read the versions of %s.", to.Dataset)
	}
	d := Diff{To: to, From: from, Added: []Column{}, Removed: []Column{}, TypeChanged: []TypeChange{}, Columns: []ColumnShift{}}
	if from == nil {
		return d, nil
	}
	return s.DiffVersions(from.ID, to.ID)
}

// DiffVersions compares any two versions (from older to newer).
func (s *Service) DiffVersions(fromID, toID string) (Diff, error) {
	from, err := s.Version(fromID)
	if err != nil {
		return Diff{}, err
	}
	to, err := s.Version(toID)
	if err != nil {
		return Diff{}, err
	}
	pf, err := s.Profile(fromID)
	if err != nil {
		return Diff{}, err
	}
	pt, err := s.Profile(toID)
	if err != nil {
		return Diff{}, err
	}
	d := Diff{From: &from, To: to, RowsDelta: to.Rows - from.Rows,
		Added: []Column{}, Removed: []Column{}, TypeChanged: []TypeChange{}, Columns: []ColumnShift{}}
	old := map[string]int{}
	for i, c := range from.Schema {
		old[c.Name] = i
	}
	seen := map[string]bool{}
	for i, c := range to.Schema {
		j, ok := old[c.Name]
		if !ok {
			d.Added = append(d.Added, c)
			continue
		}
		seen[c.Name] = true
		if from.Schema[j].Type != c.Type {
			d.TypeChanged = append(d.TypeChanged, TypeChange{c.Name, from.Schema[j].Type, c.Type})
		}
		if i < len(pt.Columns) && j < len(pf.Columns) {
			d.Columns = append(d.Columns, shift(pf.Columns[j], pt.Columns[i], from.Rows, to.Rows))
		}
	}
	for _, c := range from.Schema {
		if !seen[c.Name] {
			d.Removed = append(d.Removed, c)
		}
	}
	sort.SliceStable(d.Columns, func(i, j int) bool { return d.Columns[i].Distance > d.Columns[j].Distance })
	return d, nil
}

func frac(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func shift(a, b ColumnProfile, rowsA, rowsB int64) ColumnShift {
	cs := ColumnShift{Name: b.Name, MissingFrom: frac(a.Missing, rowsA), MissingTo: frac(b.Missing, rowsB)}
	if a.Numeric != nil && b.Numeric != nil && a.Numeric.Sketch != nil && b.Numeric.Sketch != nil {
		cs.Method = "ks"
		cs.MeanFrom, cs.MeanTo = a.Numeric.Mean, b.Numeric.Mean
		cs.Distance = KS(a.Numeric.Sketch, b.Numeric.Sketch)
		return cs
	}
	cs.Method = "tvd"
	if a.Categories != nil && b.Categories != nil {
		cs.Distance = TVD(a.Categories, b.Categories, a.Count, b.Count)
	}
	return cs
}

// KS is the largest gap between two sketches' CDFs, checked at every value
// either sketch holds; 0 when either is empty.
func KS(a, b *KLL) float64 {
	if a.N == 0 || b.N == 0 {
		return 0
	}
	worst := 0.0
	for _, s := range []*KLL{a, b} {
		for _, l := range s.Levels {
			for _, x := range l {
				if g := math.Abs(a.CDF(x) - b.CDF(x)); g > worst {
					worst = g
				}
			}
		}
	}
	return worst
}

// TVD is half the L1 distance between two category distributions; values
// outside either top list are pooled as "other".
func TVD(a, b *CategoryStats, na, nb int64) float64 {
	if na == 0 || nb == 0 {
		return 0
	}
	pa := map[string]float64{}
	pb := map[string]float64{}
	for _, c := range a.Top {
		pa[c.Value] = float64(c.Count) / float64(na)
	}
	for _, c := range b.Top {
		pb[c.Value] = float64(c.Count) / float64(nb)
	}
	sum, ina, inb := 0.0, 0.0, 0.0
	for k, v := range pa {
		sum += math.Abs(v - pb[k])
		ina += v
	}
	for k, v := range pb {
		if _, ok := pa[k]; !ok {
			sum += v
		}
		inb += v
	}
	sum += math.Abs((1 - ina) - (1 - inb))
	return math.Min(1, sum/2)
}
