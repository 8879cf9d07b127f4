// Package ml holds Tern's built-in models and their file format: the
// preprocessing fitted during training (imputation, categorical encoding,
// scaling), regularised logistic and linear regression, histogram
// gradient-boosted trees, evaluation metrics, and the MLmodel-style model
// directory that the runtime writes and serving loads.
//
// The same code runs inside the tern-runtime container and in-process, so a
// model scores identically wherever it is loaded: the preprocessing is part
// of the model, not of the caller.
package ml
