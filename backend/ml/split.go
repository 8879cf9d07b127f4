package ml

import "math/rand/v2"

type rng struct{ r *rand.Rand }

func newRand(seed uint64) *rng { return &rng{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *rng) shuffle(x []int) { g.r.Shuffle(len(x), func(i, j int) { x[i], x[j] = x[j], x[i] }) }

// splitRows splits row indices into a kept and a held-out part of about
// fraction·n rows. With strata (class per row) every class is split in the
// same proportion, so a rare class is present on both sides.
func splitRows(rows []int32, fraction float64, strata []int, seed uint64) (kept, held []int32) {
	g := newRand(seed)
	groups := map[int][]int32{}
	var order []int
	for _, r := range rows {
		s := 0
		if strata != nil {
			s = strata[r]
		}
		if _, ok := groups[s]; !ok {
			order = append(order, s)
		}
		groups[s] = append(groups[s], r)
	}
	for _, s := range order {
		grp := groups[s]
		g.r.Shuffle(len(grp), func(i, j int) { grp[i], grp[j] = grp[j], grp[i] })
		h := int(float64(len(grp))*fraction + 0.5)
		if h >= len(grp) {
			h = len(grp) - 1
		}
		held = append(held, grp[:h]...)
		kept = append(kept, grp[h:]...)
	}
	return kept, held
}
