// Package drift holds Tern's statistical drift tests and the engine that
// picks one per column, the way Evidently does by default, and explains its
// verdict.
//
// Tests: two-sample Kolmogorov–Smirnov (exact and asymptotic p-values as
// scipy.stats.ks_2samp(method="auto") computes them), Pearson chi-square
// against the reference proportions, the two-proportion z-test, Wasserstein
// distance normed by the reference standard deviation, Jensen–Shannon
// distance, PSI, KL divergence and Hellinger distance.
//
// Automatic choice (Evidently's defaults): with at most 1,000 present
// reference values, KS (drift when p ≤ 0.05) for numeric columns with more
// than 5 distinct values, chi-square for other columns with more than 2,
// the z-test for binary ones; with more, normed Wasserstein (≥ 0.1) for
// numeric and Jensen–Shannon (≥ 0.1) for the rest. The dataset drifts when
// at least half of the evaluated columns do. Any column's test and
// threshold can be overridden.
//
// Effect-size guard: a p-value test that fires on a change smaller than
// the distance Evidently would require on a large sample (normed
// Wasserstein 0.1, Jensen–Shannon 0.1, Cohen's h 0.2 for binary columns) is
// reported as "significant but small" and, unless Options.NoEffectGuard is
// set, not counted as drift.
//
// Missing values: NaN, +Inf and −Inf in numeric columns and "" in
// categorical ones are counted (RefMissing, CurMissing) and then left out of
// every test, as Evidently does. A side with fewer than MinCount (default 2)
// present values gets the verdict "insufficient data" instead of a test; it
// never panics and never reports a non-finite distance. A constant
// reference is normed by 0.001 rather than its zero standard deviation. A
// category the reference never saw makes the chi-square statistic +Inf with
// p = 0 (JSON: "+Inf") and is listed in the verdict; every distance stays
// finite (PSI and KL fill empty cells as Evidently does).
//
// Cost: a reference is a frozen Profile — distinct values with counts while
// there are at most 10,000 of them, else a 10,000-point equal-mass sketch
// whose own Wasserstein error is stored and reported as a bound — plus a
// 30-bin histogram, or category counts. Comparing a window costs a sort of
// the window (radix) and a merge with the fixed-size profile, so it grows
// with the window, not with the reference; columns run on every core.
//
// Binned distances on numeric columns use 30 equal-width bins over the
// reference range (plus a bin below and one above), so that the reference
// can be frozen; Evidently re-bins over the combined range of each pair.
package drift
