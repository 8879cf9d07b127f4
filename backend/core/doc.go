// Package core holds what every part of Tern shares: domain error codes,
// identifiers and the event bus. It imports nothing of Tern's own.
package core
