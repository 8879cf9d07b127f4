package registry

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Archiving is the soft end of a model's or version's life: the record,
// its files, lineage and audit history stay, the default lists hide it,
// and unarchiving brings it back as it was. Like a delete, archiving is
// refused while a deployment serves the version or follows an alias it
// holds (a follower could move traffic onto it), and an archived version
// takes no alias.

// ArchiveModel archives (archived true) or unarchives a model. Its
// versions keep their own state, so unarchiving the model restores the
// list as it was.
func (s *Service) ArchiveModel(name string, archived bool) (Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if archived {
		vs, err := s.Versions(name)
		if err != nil {
			return Model{}, err
		}
		if err := s.inUse(name, vs, fmt.Sprintf("archive model %q", name)); err != nil {
			return Model{}, err
		}
	}
	var m Model
	err := s.st.DB.Update(func(txn *badger.Txn) error {
		if err := getModel(txn, name, &m); err != nil {
			return err
		}
		rec := audit.Record{Action: "model.archive", Objects: []audit.Object{modelObj(name)}, Before: archivedText(m.Archived), After: "archived"}
		if !archived {
			rec.Action, rec.After = "model.unarchive", "active"
		}
		if (m.Archived != 0) == archived {
			return nil // already so: no change, no record
		}
		m.Archived = 0
		if archived {
			m.Archived = time.Now().UnixMilli()
		}
		m.Updated = time.Now().UnixMilli()
		if err := audit.Append(txn, rec); err != nil {
			return err
		}
		return store.SetJSON(txn, modelKey(name), m)
	})
	if err == nil && s.bus != nil {
		s.bus.Publish("registry.aliases", m)
	}
	return m, wrap(err, "archive model %q", name)
}

// ArchiveVersion archives (archived true) or unarchives one version.
func (s *Service) ArchiveVersion(name string, n int, archived bool) (Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.Version(name, strconv.Itoa(n))
	if err != nil {
		return Version{}, err
	}
	if archived {
		if err := s.inUse(name, []Version{v}, fmt.Sprintf("archive version %d of %q", n, name)); err != nil {
			return Version{}, err
		}
	}
	var m Model
	err = s.st.DB.Update(func(txn *badger.Txn) error {
		if err := getModel(txn, name, &m); err != nil {
			return err
		}
		if err := getVersion(txn, name, n, &v); err != nil {
			return err
		}
		if (v.Archived != 0) == archived {
			return nil
		}
		if archived {
			// An alias names a version to use; an archived one is not to be used.
			for a, to := range m.Aliases {
				if to == n {
					return fmt.Errorf("alias @%s: %w", a, errAliasOnArchive)
				}
			}
		}
		rec := audit.Record{Action: "model_version.archive", Objects: []audit.Object{versionObj(name, n)}, Before: archivedText(v.Archived), After: "archived"}
		if !archived {
			rec.Action, rec.After = "model_version.unarchive", "active"
		}
		v.Archived = 0
		if archived {
			v.Archived = time.Now().UnixMilli()
		}
		v.Updated = time.Now().UnixMilli()
		if err := audit.Append(txn, rec); err != nil {
			return err
		}
		return store.SetJSON(txn, versionKey(name, n), v)
	})
	if err != nil {
		return Version{}, aliasRefusal(err, name, n)
	}
	if s.bus != nil {
		s.bus.Publish("registry.aliases", m)
	}
	return withAliases(v, m), nil
}

func archivedText(at int64) string {
	if at == 0 {
		return "active"
	}
	return "archived"
}

var errAliasOnArchive = errors.New("an alias names the version")

// aliasRefusal turns the in-transaction alias check into words.
func aliasRefusal(err error, name string, n int) error {
	if errors.Is(err, errAliasOnArchive) {
		alias, _, _ := strings.Cut(strings.TrimPrefix(err.Error(), "alias @"), ":")
		return core.Errorf(core.Conflict, "Cannot archive version %d of %q: @%s names it; move @%s to another version first.", n, name, alias, alias)
	}
	return wrap(err, "archive version %d of %q", n, name)
}
