package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Bounds on tags, as MLflow's registry sets them.
const (
	maxTagKey   = 250
	maxTagValue = 5000
)

func checkTag(key, value string) error {
	if key == "" || len(key) > maxTagKey {
		return core.Errorf(core.Invalid, "A tag key must be 1–%d characters; got %d.", maxTagKey, len(key))
	}
	if len(value) > maxTagValue {
		return core.Errorf(core.Invalid, "Tag %q's value is %d characters; the limit is %d.", key, len(value), maxTagValue)
	}
	return nil
}

// UpdateModel changes a model's description.
func (s *Service) UpdateModel(name, description string) (Model, error) {
	return s.editModel(name, func(m *Model) error {
		m.Description = description
		return nil
	})
}

// SetModelTag sets (value != nil) or removes (nil) one tag of a model.
func (s *Service) SetModelTag(name, key string, value *string) (Model, error) {
	return s.editModel(name, func(m *Model) error {
		if value == nil {
			if _, ok := m.Tags[key]; !ok {
				return core.Errorf(core.NotFound, "Model %q has no tag %q.", name, key)
			}
			delete(m.Tags, key)
			return nil
		}
		if err := checkTag(key, *value); err != nil {
			return err
		}
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		m.Tags[key] = *value
		return nil
	})
}

func (s *Service) editModel(name string, edit func(*Model) error) (Model, error) {
	var m Model
	err := s.st.DB.Update(func(txn *badger.Txn) error {
		if err := getModel(txn, name, &m); err != nil {
			return err
		}
		before := editText(m.Description, m.Tags)
		if err := edit(&m); err != nil {
			return err
		}
		m.Updated = time.Now().UnixMilli()
		if err := audit.Append(txn, audit.Record{Action: "model.update", Objects: []audit.Object{modelObj(name)}, Before: before, After: editText(m.Description, m.Tags)}); err != nil {
			return err
		}
		return store.SetJSON(txn, modelKey(name), m)
	})
	return m, wrap(err, "change model %q", name)
}

// UpdateVersion changes a version's description.
func (s *Service) UpdateVersion(name string, version int, description string) (Version, error) {
	return s.editVersion(name, version, func(v *Version) error {
		v.Description = description
		return nil
	})
}

// SetVersionTag sets (value != nil) or removes (nil) one tag of a version.
func (s *Service) SetVersionTag(name string, version int, key string, value *string) (Version, error) {
	return s.editVersion(name, version, func(v *Version) error {
		if value == nil {
			if _, ok := v.Tags[key]; !ok {
				return core.Errorf(core.NotFound, "Version %d of %q has no tag %q.", version, name, key)
			}
			delete(v.Tags, key)
			return nil
		}
		if err := checkTag(key, *value); err != nil {
			return err
		}
		if v.Tags == nil {
			v.Tags = map[string]string{}
		}
		v.Tags[key] = *value
		return nil
	})
}

func (s *Service) editVersion(name string, n int, edit func(*Version) error) (Version, error) {
	var m Model
	var v Version
	err := s.st.DB.Update(func(txn *badger.Txn) error {
		if err := getModel(txn, name, &m); err != nil {
			return err
		}
		if err := getVersion(txn, name, n, &v); err != nil {
			return err
		}
		before := editText(v.Description, v.Tags)
		if err := edit(&v); err != nil {
			return err
		}
		v.Updated = time.Now().UnixMilli()
		if err := audit.Append(txn, audit.Record{Action: "model_version.update", Objects: []audit.Object{versionObj(name, n)}, Before: before, After: editText(v.Description, v.Tags)}); err != nil {
			return err
		}
		return store.SetJSON(txn, versionKey(name, n), v)
	})
	return withAliases(v, m), wrap(err, "change version %d of %q", n, name)
}

func getVersion(txn *badger.Txn, name string, n int, v *Version) error {
	err := store.GetJSON(txn, versionKey(name, n), v)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return core.Errorf(core.NotFound, "Model %q has no version %d.", name, n)
	}
	return err
}

// inUse refuses to remove, archive or rename what a deployment uses: a
// version it serves, or one holding an alias it follows. The refusal names
// the deployment and what to do. versions carry their aliases (as
// Versions and Version return them).
func (s *Service) inUse(name string, versions []Version, doing string) error {
	for _, v := range versions {
		if s.DeploymentsOf != nil {
			if deps := s.DeploymentsOf(name, v.Version); len(deps) > 0 {
				return core.Errorf(core.Conflict, "Cannot %s: %s %s %s %s v%d; move %s to another version or delete %s first.",
					doing, plural(len(deps), "deployment"), strings.Join(deps, ", "), verb(len(deps), "serves", "serve"), name, v.Version, them(len(deps)), them(len(deps)))
			}
		}
		if s.FollowersOf == nil {
			continue
		}
		for _, a := range v.Aliases {
			if deps := s.FollowersOf(name, a); len(deps) > 0 {
				return core.Errorf(core.Conflict, "Cannot %s: %s v%d holds @%s, which %s %s %s; move @%s to another version or stop %s following it first.",
					doing, name, v.Version, a, plural(len(deps), "deployment"), strings.Join(deps, ", "), verb(len(deps), "follows", "follow"), a, them(len(deps)))
			}
		}
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// DeleteVersion removes one version and its files; aliases pointing at it
// go with it. Version numbers are never reused.
func (s *Service) DeleteVersion(name string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.Version(name, strconv.Itoa(n))
	if err != nil {
		return err
	}
	if err := s.inUse(name, []Version{v}, fmt.Sprintf("delete version %d of %q", n, name)); err != nil {
		return err
	}
	var m Model
	err = s.st.DB.Update(func(txn *badger.Txn) error {
		if err := getModel(txn, name, &m); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "model_version.delete", Objects: []audit.Object{versionObj(name, n)}, Before: aliasText(m.Aliases)}); err != nil {
			return err
		}
		for a, to := range m.Aliases {
			if to == n {
				delete(m.Aliases, a)
			}
		}
		m.Updated = time.Now().UnixMilli()
		if err := txn.Delete(versionKey(name, n)); err != nil {
			return err
		}
		return store.SetJSON(txn, modelKey(name), m)
	})
	if err != nil {
		return wrap(err, "delete version %d of %q", n, name)
	}
	// The record is gone first: a failure here leaves only unreferenced files.
	_ = os.RemoveAll(s.storedDir(v))
	if s.bus != nil {
		s.bus.Publish("registry.aliases", m)
	}
	return nil
}

// DeleteModel removes a model, all its versions and their files.
func (s *Service) DeleteModel(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, err := s.Versions(name)
	if err != nil {
		return err
	}
	if err := s.inUse(name, vs, fmt.Sprintf("delete model %q", name)); err != nil {
		return err
	}
	err = s.st.DB.Update(func(txn *badger.Txn) error {
		for _, v := range vs {
			if err := txn.Delete(versionKey(name, v.Version)); err != nil {
				return err
			}
		}
		if err := audit.Append(txn, audit.Record{Action: "model.delete", Objects: []audit.Object{modelObj(name)}, Before: strconv.Itoa(len(vs)) + " versions"}); err != nil {
			return err
		}
		return txn.Delete(modelKey(name))
	})
	if err != nil {
		return wrap(err, "delete model %q", name)
	}
	_ = os.RemoveAll(filepath.Join(s.root, name))
	return nil
}

// RenameModel gives a model and its versions a new name; their folders
// move with them.
func (s *Service) RenameModel(name, newName string) (Model, error) {
	if err := checkName(newName); err != nil {
		return Model{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.Get(name)
	if err != nil {
		return Model{}, err
	}
	if _, err := s.Get(newName); err == nil {
		return Model{}, core.Errorf(core.Conflict, "A model named %q already exists.", newName)
	}
	vs, err := s.Versions(name)
	if err != nil {
		return Model{}, err
	}
	if err := s.inUse(name, vs, fmt.Sprintf("rename %q", name)); err != nil {
		return Model{}, err
	}
	from, to := filepath.Join(s.root, name), filepath.Join(s.root, newName)
	moved := false
	if _, err := os.Stat(from); err == nil {
		if err := os.Rename(from, to); err != nil {
			return Model{}, core.Wrap(err, core.Unavailable, "Cannot move the folder of %q.", name)
		}
		moved = true
	}
	m.Name, m.Updated = newName, time.Now().UnixMilli()
	err = s.st.DB.Update(func(txn *badger.Txn) error {
		for _, v := range vs {
			if err := txn.Delete(versionKey(name, v.Version)); err != nil {
				return err
			}
			v.Model, v.Aliases = newName, nil
			v.Dir = filepath.ToSlash(filepath.Join(newName, strconv.Itoa(v.Version)))
			if err := store.SetJSON(txn, versionKey(newName, v.Version), v); err != nil {
				return err
			}
		}
		if err := txn.Delete(modelKey(name)); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "model.rename", Objects: []audit.Object{modelObj(newName)}, Before: name, After: newName}); err != nil {
			return err
		}
		return store.SetJSON(txn, modelKey(newName), m)
	})
	if err != nil {
		if moved {
			_ = os.Rename(to, from)
		}
		return Model{}, wrap(err, "rename %q", name)
	}
	return m, nil
}
