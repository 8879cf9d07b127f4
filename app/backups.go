package app

import (
	"context"

	"github.com/tern-studio/tern/backend/backup"
)

// Backups is the Settings screen's face of the backup service: one-click
// backups with progress and cancel, the schedule, and restoring a backup
// into a new data folder.
type Backups struct {
	life lifetime
	svc  *backup.Service
}

// NewBackups binds the backup service; jobs end when the app closes.
func NewBackups(ctx context.Context, svc *backup.Service) *Backups {
	return &Backups{life: lifetime{ctx}, svc: svc}
}

// Status is the running job (with progress), the last finished one and
// the schedule.
func (b *Backups) Status() (backup.Status, error) { return b.svc.Status() }

// Start begins a backup into folder ("" for the schedule's or the default
// folder) and returns at once; Status follows it.
func (b *Backups) Start(folder string) (backup.Job, error) {
	ctx, done := b.life.call()
	defer done()
	return b.svc.Start(ctx, folder)
}

// Cancel stops the running backup or restore; false if id is not running.
func (b *Backups) Cancel(id string) (bool, error) { return b.svc.Cancel(id), nil }

// SetSchedule stores how often backups run by themselves, how many to keep
// and where they go.
func (b *Backups) SetSchedule(s backup.Schedule) (backup.Schedule, error) {
	return b.svc.SetSchedule(s)
}

// Restore begins restoring a backup file into a new, empty data folder
// and returns at once; Status follows it and says what was restored.
func (b *Backups) Restore(file, dir string) (backup.Job, error) {
	ctx, done := b.life.call()
	defer done()
	return b.svc.StartRestore(ctx, file, dir)
}
