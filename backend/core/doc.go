// Package core holds what every part of Tern shares: domain error codes,
// identifiers, the event bus and the clock services take so tests can move
// time by hand. It imports nothing of Tern's own.
package core
