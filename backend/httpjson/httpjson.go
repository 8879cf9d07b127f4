// Package httpjson writes JSON answers: the one JSON writer of every HTTP
// surface in Tern (the HTTP face and its MLflow API, the router, the model
// server inside containers, the runner's tracking gateways) and MLflow's
// error body, which most of them speak. It imports only the standard
// library, so tern-runtime links it without the host's HTTP face.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers status with v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// MLflowError is the error body of the MLflow REST and scoring protocols:
// {"error_code": "INVALID_PARAMETER_VALUE", "message": "..."}.
type MLflowError struct {
	Code    string `json:"error_code"`
	Message string `json:"message"`
}

// WriteMLflowError answers status with an MLflow error body.
func WriteMLflowError(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, MLflowError{Code: code, Message: msg})
}
