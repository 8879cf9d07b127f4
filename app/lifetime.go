package app

import "context"

// lifetime hands each bound call a context derived from the app's: it
// ends when the call returns, or sooner when the app closes (main.go
// cancels the base context before closing the services), so work a call
// started does not outlive the store it writes to.
type lifetime struct{ base context.Context }

// call is one bound call's context; the caller defers done.
func (l lifetime) call() (ctx context.Context, done context.CancelFunc) {
	if l.base == nil { // a struct built without one (tests)
		return context.WithCancel(context.Background())
	}
	return context.WithCancel(l.base)
}
