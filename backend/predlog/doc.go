// Package predlog is the prediction log: every exchange a router sees,
// written to Badger in batches off the request path (a full queue drops and
// counts, never blocks), in a compact binary record, with a key-only index
// by request ID so labels that arrive later find their prediction.
// backend/router writes it; backend/deployment, backend/monitor and the
// app read it.
package predlog
