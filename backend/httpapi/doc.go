// Package httpapi is Tern's HTTP face: browser mode (`tern serve`), the
// raw routes that are not bound calls (dataset uploads in datasets.go,
// drift report files, charts and label uploads in monitor.go) and
// server-sent events. It exposes the very objects the Wails window binds,
// at POST /api/call/<Struct>.<Method> with a JSON array of arguments, so
// the UI has one API reached two ways.
//
// Dependencies point inward: this package imports the domain packages and
// calls their services through small interfaces declared here (Importer,
// Monitoring); no domain package imports it. Other HTTP faces (mlflowapi)
// hand their []Route to Config.Routes and share its gate; JSON answers go
// through httpjson.Write, errors in this face's {code, message} body
// through WriteError.
//
// Every route in the table passes the same gate, in this order:
//  1. Host must be a loopback name (or one configured): 403 otherwise,
//     before routing — the defence against DNS rebinding.
//  2. A token (Authorization: Bearer, or the session cookie set by
//     POST /api/session) unless the route is Public: 401 otherwise.
//     Tokens in query strings are never accepted, never logged.
//  3. Writes: a browser Origin must be this origin (403), and non-raw
//     routes require Content-Type: application/json (415).
//
// Under MLflow's paths (/api/2.0/mlflow/, /api/2.0/mlflow-artifacts/,
// /ajax-api/) the gate's refusals use MLflow's {error_code, message} body
// (UNAUTHENTICATED, PERMISSION_DENIED, ...), and a path no route serves is
// 404 ENDPOINT_NOT_FOUND (405 with Allow when another method serves it),
// never the UI page (mlflow.go).
//
// No CORS header is ever sent. To add routes for a domain service, give
// Config a field for it and register its routes in New, as Datasets and
// Monitor are.
package httpapi
