// Package audit is Tern's audit trail: one record for every change to
// Tern's state, saying when, through which face (the desktop window, a
// browser session, an MLflow client with the access token, a training
// job's scoped token, a pipeline, or Tern itself), the action, the objects
// and a short before/after.
//
// Records are written in the same Badger transaction as the change they
// describe: a service adds one line inside its existing Update,
// audit.Append(txn, rec), so a change can never land without its record
// nor a record without its change. They are hash-chained and append-only:
// each sealed record holds a sequence number and the hash of the one
// before it, and a head key holds the last sequence and hash, so Verify
// names the first record that was edited, deleted or moved.
//
// Why records are sealed after their transaction: chaining inside the
// change's own transaction would make every audited write read and write
// one head key, and Badger (optimistic, serialisable) would then abort
// every pair of concurrent writers with a conflict — twenty MLflow clients
// logging at once would fail. So Append writes the record under a pending
// key unique to it (a blind write, which never conflicts), in the change's
// transaction; a single sealer per store then moves pending records, in
// the order they were written, into the chain (sequence, previous hash,
// hash) in its own transactions, within about a tenth of a second, and at
// every read, Verify and Close. A pending record is durable with its
// change; only its place in the chain comes later.
//
// Who acted: most service methods take no context, and threading one
// through every mutating method would change every caller, so the face is
// bound to the calling goroutine for the length of a call (Bind), by the
// few places calls enter Tern (the HTTP gate, the job gateway, main.go's
// background loops). Append reads it there; a goroutine with nothing bound
// is the process's default face (the window on the desktop). Work handed
// to another goroutine takes its record's face with it (Entry resolves it
// in the caller, as the tracking group commit does).
package audit
