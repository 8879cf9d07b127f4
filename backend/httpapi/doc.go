// Package httpapi is Tern's HTTP face: browser mode (`tern serve`), the
// routes domain packages contribute (uploads, the MLflow-compatible API),
// and server-sent events. It exposes the very objects the Wails window
// binds, at POST /api/call/<Struct>.<Method> with a JSON array of
// arguments, so the UI has one API reached two ways.
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
// No CORS header is ever sent. To add routes, a domain package returns
// []Route and main.go passes them in Config.Routes.
package httpapi
