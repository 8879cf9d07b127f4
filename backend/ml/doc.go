// Package ml holds Tern's built-in models: the preprocessing fitted during
// training (imputation, categorical encoding, scaling), regularised
// logistic and linear regression, histogram gradient-boosted trees,
// evaluation metrics (one ROCAUC, also the monitor's), and model.json's
// encoding. The model directory around model.json (MLmodel, signature,
// input example) is backend/modelfmt's. Frame is the in-memory table they
// train on; ReadFrame fills it through backend/table, the dataset import's
// own reader, with a version's read settings.
//
// The same code runs inside the tern-runtime container and in-process, so a
// model scores identically wherever it is loaded: the preprocessing is part
// of the model, not of the caller.
package ml
