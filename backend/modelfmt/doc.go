// Package modelfmt is the model directory format: the MLmodel descriptor
// (read and written as YAML in the shape MLflow writes), the signature, the
// input example, the flavors Tern loads (tern, xgboost, lightgbm; pickles
// are refused) and the one bounded reader of a directory's files.
//
// Load decodes a directory of any of those flavors; LoadML and SaveML read
// and write Tern's built-in models; WriteImported describes an imported
// XGBoost or LightGBM file. The runtime (train, predict), the model server
// and the registry all go through it, so a model written by one is read
// the same way by the others.
//
// Every directory it writes also carries MLflow's python_function flavor
// (pyfunc.go): built-in models with the numpy loader in pyfunc/, shipped
// inside the directory; imported ones with MLflow's own xgboost or
// lightgbm loader. AddPyfunc gives older directories the same when they
// are exported or registered.
package modelfmt
