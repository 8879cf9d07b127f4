package app

import (
	"context"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/dataset"
)

// Datasets is the Datasets screen's face of the dataset service. Imports
// report progress as dataset.TopicProgress events and can be stopped with
// Cancel(importID); the UI picks the import ID so it can cancel at once.
type Datasets struct {
	life lifetime
	svc  *dataset.Service
}

// NewDatasets binds the dataset service; calls live within ctx.
func NewDatasets(ctx context.Context, svc *dataset.Service) *Datasets {
	return &Datasets{life: lifetime{ctx}, svc: svc}
}

// List returns the datasets not in the trash, each with its newest version.
func (d *Datasets) List() ([]dataset.Summary, error) { return d.svc.List() }

// Versions lists a dataset's versions, newest first.
func (d *Datasets) Versions(datasetID string) ([]dataset.Version, error) {
	return d.svc.Versions(datasetID)
}

// Version returns one version.
func (d *Datasets) Version(versionID string) (dataset.Version, error) {
	return d.svc.Version(versionID)
}

// Profile returns a version's stored profile.
func (d *Datasets) Profile(versionID string) (dataset.Profile, error) {
	return d.svc.Profile(versionID)
}

// Diff compares a version with the one before it.
func (d *Datasets) Diff(versionID string) (dataset.Diff, error) { return d.svc.Diff(versionID) }

// Detect previews how a file on disk would be imported (desktop: dropped
// paths and the file dialog); it writes nothing.
func (d *Datasets) Detect(path string, opts dataset.Options) (dataset.Detected, error) {
	return d.svc.Detect(path, opts)
}

// ImportPath imports a file on disk: a path dropped on the window (event
// "files.dropped") or chosen in the file dialog.
func (d *Datasets) ImportPath(path string, opts dataset.Options) (dataset.Version, error) {
	ctx, done := d.life.call()
	defer done()
	return d.svc.ImportPath(ctx, path, opts)
}

// Cancel stops a running import; false if none has that ID.
func (d *Datasets) Cancel(importID string) (bool, error) { return d.svc.Cancel(importID), nil }

// EditSchema corrects column types and marks the target, ID columns and
// protected attributes.
func (d *Datasets) EditSchema(versionID string, edits []dataset.ColumnEdit) (dataset.Version, error) {
	ctx, done := d.life.call()
	defer done()
	return d.svc.EditSchema(ctx, versionID, edits)
}

// ColumnChart is one column's distribution as SVG text.
func (d *Datasets) ColumnChart(versionID, column string, width, height int) (string, error) {
	b, err := d.svc.ColumnChart(versionID, column, width, height)
	return string(b), err
}

// TrashDataset moves a dataset to the trash and returns the trash.
func (d *Datasets) TrashDataset(datasetID string) (dataset.TrashInfo, error) {
	return d.thenTrash(d.svc.TrashDataset(datasetID))
}

// TrashVersion moves one version to the trash and returns the trash.
func (d *Datasets) TrashVersion(versionID string) (dataset.TrashInfo, error) {
	return d.thenTrash(d.svc.TrashVersion(versionID))
}

// RestoreDataset takes a dataset out of the trash.
func (d *Datasets) RestoreDataset(datasetID string) (dataset.TrashInfo, error) {
	return d.thenTrash(d.svc.RestoreDataset(datasetID))
}

// RestoreVersion takes a version out of the trash.
func (d *Datasets) RestoreVersion(versionID string) (dataset.TrashInfo, error) {
	return d.thenTrash(d.svc.RestoreVersion(versionID))
}

// thenTrash answers a trash move with the trash as it is now, which the
// page shows next.
func (d *Datasets) thenTrash(err error) (dataset.TrashInfo, error) {
	if err != nil {
		return dataset.TrashInfo{}, err
	}
	return d.svc.Trash()
}

// Trash lists the trash and the disk emptying it frees.
func (d *Datasets) Trash() (dataset.TrashInfo, error) { return d.svc.Trash() }

// EmptyTrash deletes what is in the trash and frees its disk.
func (d *Datasets) EmptyTrash() (blob.GCResult, error) {
	ctx, done := d.life.call()
	defer done()
	return d.svc.EmptyTrash(ctx)
}

// Reimport reads a version's stored bytes again with corrected settings
// (delimiter, header, encoding, types) as the dataset's next version.
func (d *Datasets) Reimport(versionID string, opts dataset.Options) (dataset.Version, error) {
	ctx, done := d.life.call()
	defer done()
	return d.svc.Reimport(ctx, versionID, opts)
}

// Rules lists a dataset's validation rules.
func (d *Datasets) Rules(datasetID string) ([]dataset.Rule, error) { return d.svc.Rules(datasetID) }

// SetRules replaces a dataset's rules; every new version is checked
// against them on import.
func (d *Datasets) SetRules(datasetID string, rules []dataset.Rule) ([]dataset.Rule, error) {
	return d.svc.SetRules(datasetID, rules)
}

// SuggestRules proposes rules from a version's profile, to accept and edit.
func (d *Datasets) SuggestRules(versionID string) ([]dataset.Rule, error) {
	return d.svc.SuggestRules(versionID)
}

// Validation is a version's stored check against the rules; null when the
// version was never checked.
func (d *Datasets) Validation(versionID string) (*dataset.Validation, error) {
	v, ok, err := d.svc.Validation(versionID)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

// Check evaluates a version against its dataset's current rules now.
func (d *Datasets) Check(versionID string) (dataset.Validation, error) {
	ctx, done := d.life.call()
	defer done()
	return d.svc.Check(ctx, versionID)
}
