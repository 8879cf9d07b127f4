package dataset

import (
	"context"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// TrashDataset moves a dataset and all its versions to the trash. Its name
// is free again at once; its bytes stay on disk until the trash is emptied.
func (s *Service) TrashDataset(datasetID string) error {
	err := s.db.DB.Update(func(txn *badger.Txn) error {
		var d Dataset
		if err := store.GetJSON(txn, store.Key(pDataset, []byte(datasetID)), &d); err != nil {
			return err
		}
		if d.Trashed {
			return nil
		}
		d.Trashed, d.TrashedAt = true, s.Now().UTC()
		if err := txn.Delete(store.Key(pName, []byte(d.Name))); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "dataset.trash", Objects: []audit.Object{datasetObj(d)}}); err != nil {
			return err
		}
		return store.SetJSON(txn, store.Key(pDataset, []byte(d.ID)), d)
	})
	if err == nil {
		s.bus.Publish(TopicChanged, map[string]string{"datasetId": datasetID})
	}
	return notFound(err, "There is no dataset with id %s.", datasetID)
}

// RestoreDataset takes a dataset out of the trash, if its name is free.
func (s *Service) RestoreDataset(datasetID string) error {
	err := s.db.DB.Update(func(txn *badger.Txn) error {
		var d Dataset
		if err := store.GetJSON(txn, store.Key(pDataset, []byte(datasetID)), &d); err != nil {
			return err
		}
		if !d.Trashed {
			return nil
		}
		if _, err := txn.Get(store.Key(pName, []byte(d.Name))); err == nil {
			return core.Errorf(core.Conflict, "Another dataset is now called %q; rename or trash it before restoring this one.", d.Name)
		}
		d.Trashed = false
		if err := txn.Set(store.Key(pName, []byte(d.Name)), []byte(d.ID)); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "dataset.restore", Objects: []audit.Object{datasetObj(d)}}); err != nil {
			return err
		}
		return store.SetJSON(txn, store.Key(pDataset, []byte(d.ID)), d)
	})
	if err == nil {
		s.bus.Publish(TopicChanged, map[string]string{"datasetId": datasetID})
	}
	return notFound(err, "There is no dataset with id %s.", datasetID)
}

func (s *Service) setVersionTrashed(versionID string, trashed bool) error {
	var dsID string
	err := s.db.DB.Update(func(txn *badger.Txn) error {
		var v Version
		if err := store.GetJSON(txn, store.Key(pVersion, []byte(versionID)), &v); err != nil {
			return err
		}
		dsID = v.DatasetID
		act := map[bool]string{true: "dataset_version.trash", false: "dataset_version.restore"}[trashed]
		if err := audit.Append(txn, audit.Record{Action: act, Objects: []audit.Object{versionObj(v)}}); err != nil {
			return err
		}
		v.Trashed = trashed
		return store.SetJSON(txn, store.Key(pVersion, []byte(v.ID)), v.stored())
	})
	if err == nil {
		s.bus.Publish(TopicChanged, map[string]string{"datasetId": dsID, "versionId": versionID})
	}
	return notFound(err, "There is no dataset version with id %s.", versionID)
}

// TrashVersion moves one version to the trash.
func (s *Service) TrashVersion(versionID string) error { return s.setVersionTrashed(versionID, true) }

// RestoreVersion takes one version out of the trash.
func (s *Service) RestoreVersion(versionID string) error {
	return s.setVersionTrashed(versionID, false)
}

// TrashInfo is what the trash holds and what emptying it would free.
type TrashInfo struct {
	Datasets []Dataset `json:"datasets"`
	Versions []Version `json:"versions"`
	// FreesBytes is the disk emptying would give back: blobs used only by
	// trashed versions. Blobs a live version, run or model still uses stay.
	FreesBytes int64 `json:"freesBytes"`
	// Kept lists trashed versions whose bytes something else still uses.
	Kept []string `json:"kept"`
}

// trashed collects trashed versions (directly, or through their dataset).
func (s *Service) trashed(txn *badger.Txn) ([]Dataset, []Version, error) {
	var dss []Dataset
	var vs []Version
	err := eachDataset(txn, func(d Dataset) error {
		all, err := s.versions(txn, d.ID, true)
		if err != nil {
			return err
		}
		if d.Trashed {
			dss = append(dss, d)
			vs = append(vs, all...)
			return nil
		}
		for _, v := range all {
			if v.Trashed {
				vs = append(vs, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return dss, vs, nil
}

// Trash lists the trash and what emptying it frees.
func (s *Service) Trash() (TrashInfo, error) {
	var info TrashInfo
	err := s.db.DB.View(func(txn *badger.Txn) error {
		var err error
		info.Datasets, info.Versions, err = s.trashed(txn)
		return err
	})
	if err != nil {
		return info, core.Wrap(err, core.Internal, "Tern could not read its trash.")
	}
	free, kept, err := s.freeable(info.Versions)
	if err != nil {
		return info, err
	}
	info.Kept = kept
	for _, size := range free {
		info.FreesBytes += size
	}
	return info, nil
}

// freeable maps each blob that only trashed versions hold to its size, and
// lists trashed versions whose blob something else holds.
func (s *Service) freeable(vs []Version) (map[string]int64, []string, error) {
	trashedHolders := map[string]bool{}
	for _, v := range vs {
		trashedHolders[holder(v.ID)] = true
	}
	free := map[string]int64{}
	var kept []string
	for _, v := range vs {
		hs, err := s.blobs.Holders(blob.Digest(v.Digest))
		if err != nil {
			return nil, nil, core.Wrap(err, core.Internal, "Tern could not read its blob records.")
		}
		only := true
		external := false
		for _, h := range hs {
			if !trashedHolders[h] {
				only = false
				if !strings.HasPrefix(h, "dataset-version:") {
					external = true
				}
			}
		}
		if only {
			free[v.Digest] = v.Size
		}
		if external {
			kept = append(kept, v.ID)
		}
	}
	return free, kept, nil
}

// EmptyTrash deletes the trashed versions' records and frees their bytes.
// A version whose bytes a run or model still uses stays in the trash, so
// lineage never points at nothing.
func (s *Service) EmptyTrash(ctx context.Context) (blob.GCResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, err := s.Trash()
	if err != nil {
		return blob.GCResult{}, err
	}
	keep := map[string]bool{}
	for _, id := range info.Kept {
		keep[id] = true
	}
	keptByDataset := map[string]bool{}
	for _, v := range info.Versions {
		if keep[v.ID] {
			keptByDataset[v.DatasetID] = true
		}
	}
	err = s.db.DB.Update(func(txn *badger.Txn) error {
		if err := audit.Append(txn, audit.Record{Action: "trash.empty", Objects: []audit.Object{{Kind: "trash", ID: "datasets"}},
			Before: fmt.Sprintf("%d datasets, %d versions (%d kept: still used)", len(info.Datasets), len(info.Versions), len(info.Kept))}); err != nil {
			return err
		}
		for _, v := range info.Versions {
			if keep[v.ID] {
				continue
			}
			for _, k := range [][]byte{
				store.Key(pVersion, []byte(v.ID)),
				store.Key(pProfile, []byte(v.ID)),
				store.Key(pVerIdx, []byte(v.DatasetID), store.U64(uint64(v.Number))),
			} {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			if err := s.blobs.Release(txn, blob.Digest(v.Digest), holder(v.ID)); err != nil {
				return err
			}
		}
		for _, d := range info.Datasets {
			if !keptByDataset[d.ID] {
				if err := txn.Delete(store.Key(pDataset, []byte(d.ID))); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return blob.GCResult{}, core.Wrap(err, core.Internal, "Tern could not empty its trash.")
	}
	res, err := s.blobs.GC(ctx)
	s.bus.Publish(TopicChanged, map[string]string{})
	return res, err
}
