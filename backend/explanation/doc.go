// Package explanation keeps the global explanation of each registered
// model version: SHAP values (backend/explain) computed once on a sample of
// the validation rows of the version's training data, summarised as the
// mean |SHAP| per column, and drawn (backend/chart, gonum/plot) as a bar
// chart of that importance, a beeswarm summary and one dependence plot per
// column. The numbers are a Badger record per version; the SVGs are blobs
// the record holds, released when the explanation is computed again.
//
// backend/explain stays pure (the in-container runtime links it); this
// package is its host-side user with a store, next to the registry whose
// versions it explains.
package explanation
