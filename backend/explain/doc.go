// Package explain computes exact explanations of Tern's models: path-
// dependent TreeSHAP for tree ensembles (the built-in GBDT and imported
// XGBoost and LightGBM models), linear SHAP for linear models, and
// permutation importance for any model that can be scored through a
// function.
//
// Every attribution is in margin (raw score) space: base value plus the
// contributions of a row equals the model's margin for that row, and the
// Link field names the function that maps the margin to the model's output
// (logit for binary classifiers, softmax for multi-class, log for count
// models, identity for regression). Additivity holds to rounding (1e-9).
//
// The package is pure Go and depends on no store, so the in-container
// runtime can link it. Model packages (backend/ml, backend/gbdt) turn their
// own trees and weights into an Ensemble or a Linear here; this package
// knows no model format.
package explain
