package app

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
)

// Audit is the audit trail's viewer in Settings: filter, verify, export.
type Audit struct {
	log *audit.Log
}

// NewAudit binds the trail; a nil log answers Unavailable.
func NewAudit(l *audit.Log) *Audit { return &Audit{log: l} }

func (a *Audit) ready() error {
	if a.log == nil {
		return core.Errorf(core.Unavailable, "The audit trail is not available.")
	}
	return nil
}

// List returns the records that match q, newest first.
func (a *Audit) List(q audit.Query) ([]audit.Record, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	return listed(a.log.List(q))
}

// Verify recomputes the chain and says in words whether it is intact or
// which record is the first broken one.
func (a *Audit) Verify() (audit.Result, error) {
	if err := a.ready(); err != nil {
		return audit.Result{}, err
	}
	return a.log.Verify()
}

// ExportResult says what Export wrote.
type ExportResult struct {
	Path    string `json:"path"`
	Records int    `json:"records"`
}

// Export writes the records that match q, oldest first, as JSON lines to
// dest, a new file: written beside it first and renamed into place, so a
// failure leaves nothing half-written.
func (a *Audit) Export(q audit.Query, dest string) (ExportResult, error) {
	if err := a.ready(); err != nil {
		return ExportResult{}, err
	}
	dest = strings.TrimSpace(dest)
	if dest == "" {
		return ExportResult{}, core.Errorf(core.Invalid, "Name the file to write, e.g. /home/me/audit.jsonl.")
	}
	dest, err := filepath.Abs(dest)
	if err != nil {
		return ExportResult{}, core.Errorf(core.Invalid, "%q is not a usable path.", dest)
	}
	if _, err := os.Lstat(dest); err == nil {
		return ExportResult{}, core.Errorf(core.Conflict, "%s already exists; choose a new file name.", dest)
	}
	f, err := os.CreateTemp(filepath.Dir(dest), ".tern-audit-*")
	if err != nil {
		return ExportResult{}, core.Wrap(err, core.Unavailable, "Tern cannot write in %s: does the folder exist, and may Tern write there?", filepath.Dir(dest))
	}
	n, err := a.log.Export(f, q)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dest)
	}
	if err != nil {
		os.Remove(f.Name())
		return ExportResult{}, core.Wrap(err, core.Unavailable, "The export to %s failed; nothing was written.", dest)
	}
	return ExportResult{Path: dest, Records: n}, nil
}
