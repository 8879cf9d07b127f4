package app

import (
	"context"

	"github.com/tern-studio/tern/backend/atrest"
)

// Encryption is Settings → Data's face of encryption at rest: status,
// "Encrypt this data folder" (progress on the encryption.job event,
// cancel), and key rotation.
type Encryption struct {
	life lifetime
	svc  *atrest.Service
}

// NewEncryption binds the service; a running encryption stops when the
// app closes (its copy is removed, the data folder stays as it was).
func NewEncryption(ctx context.Context, svc *atrest.Service) *Encryption {
	return &Encryption{life: lifetime{ctx}, svc: svc}
}

// Status says whether the data folder is encrypted, how its key is kept,
// and the progress of an encryption under way or waiting for a restart.
func (e *Encryption) Status() (atrest.Status, error) { return e.svc.Status() }

// Encrypt starts encrypting the data folder with a new key kept in the
// system keyring or derived from a passphrase, and returns at once.
func (e *Encryption) Encrypt(secret atrest.Secret) (atrest.Job, error) {
	ctx, done := e.life.call()
	defer done()
	return e.svc.Encrypt(ctx, secret)
}

// Cancel stops an encryption under way or discards one waiting for the
// restart; false when there was none.
func (e *Encryption) Cancel() (bool, error) { return e.svc.Cancel() }

// Rotate re-wraps the data key under a new passphrase or keyring secret.
func (e *Encryption) Rotate(current, next atrest.Secret) (atrest.Status, error) {
	return e.svc.Rotate(current, next)
}
