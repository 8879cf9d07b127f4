package app

import (
	"strconv"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/registry"
)

// Models is the model registry screen: models, versions, lineage,
// aliases, registration and import/export.
type Models struct {
	reg  *registry.Service
	deps *deployment.Service
}

// NewModels binds the registry; deployments supply the lineage's last step.
func NewModels(r *registry.Service, d *deployment.Service) *Models { return &Models{reg: r, deps: d} }

func (m *Models) ready() error {
	if m.reg == nil {
		return core.Errorf(core.Unavailable, "The model registry is not available.")
	}
	return nil
}

// ModelDetail is one model with its versions, newest first.
type ModelDetail struct {
	Model    registry.Model     `json:"model"`
	Versions []registry.Version `json:"versions"`
}

// List returns every model.
func (m *Models) List() ([]registry.Model, error) {
	if err := m.ready(); err != nil {
		return nil, err
	}
	return listed(m.reg.List())
}

// Get returns a model and its versions.
func (m *Models) Get(name string) (ModelDetail, error) {
	if err := m.ready(); err != nil {
		return ModelDetail{}, err
	}
	md, err := m.reg.Get(name)
	if err != nil {
		return ModelDetail{}, err
	}
	vs, err := m.reg.Versions(name)
	if vs == nil {
		vs = []registry.Version{} // a model with no versions yet: an empty list, not null
	}
	return ModelDetail{Model: md, Versions: vs}, err
}

// Archive archives a model (archived true: hidden from the default list,
// kept whole) or brings it back. Refused, in words naming the deployment,
// while a deployment serves one of its versions or follows one of its
// aliases.
func (m *Models) Archive(name string, archived bool) (registry.Model, error) {
	if err := m.ready(); err != nil {
		return registry.Model{}, err
	}
	return m.reg.ArchiveModel(name, archived)
}

// ArchiveVersion archives one version or brings it back; refused like
// Archive, and while an alias names it.
func (m *Models) ArchiveVersion(name string, version int, archived bool) (registry.Version, error) {
	if err := m.ready(); err != nil {
		return registry.Version{}, err
	}
	return m.reg.ArchiveVersion(name, version, archived)
}

// Delete removes a model, its versions and their files for good; refused
// while a deployment uses any of them.
func (m *Models) Delete(name string) error {
	if err := m.ready(); err != nil {
		return err
	}
	return m.reg.DeleteModel(name)
}

// DeleteVersion removes one version and its files for good (its number is
// never reused); refused while a deployment serves it or follows an alias
// that names it.
func (m *Models) DeleteVersion(name string, version int) error {
	if err := m.ready(); err != nil {
		return err
	}
	return m.reg.DeleteVersion(name, version)
}

// Create makes an empty named model.
func (m *Models) Create(name, description string) (registry.Model, error) {
	if err := m.ready(); err != nil {
		return registry.Model{}, err
	}
	return m.reg.CreateModel(name, description)
}

// RegisterRun registers a run's model (artifact "model" unless given).
func (m *Models) RegisterRun(name, runID, artifactPath string) (registry.Version, error) {
	if err := m.ready(); err != nil {
		return registry.Version{}, err
	}
	return m.reg.RegisterRun(name, runID, artifactPath)
}

// ImportPath registers a model from this computer: an MLmodel folder, or
// an XGBoost JSON / LightGBM text file.
func (m *Models) ImportPath(name, path string) (registry.Version, error) {
	if err := m.ready(); err != nil {
		return registry.Version{}, err
	}
	return m.reg.ImportPath(name, path)
}

// SetAlias points @alias at a version (0 removes it), atomically.
func (m *Models) SetAlias(name, alias string, version int) (registry.Model, error) {
	if err := m.ready(); err != nil {
		return registry.Model{}, err
	}
	return m.reg.SetAliases(name, map[string]int{alias: version})
}

// Promote makes @challenger the @champion.
func (m *Models) Promote(name string) (registry.Model, error) {
	if err := m.ready(); err != nil {
		return registry.Model{}, err
	}
	return m.reg.Promote(name)
}

// Lineage is dataset version -> run -> version -> deployments.
func (m *Models) Lineage(name string, version int) (registry.Lineage, error) {
	if err := m.ready(); err != nil {
		return registry.Lineage{}, err
	}
	var deps func(string, int) []string
	if m.deps != nil {
		deps = m.deps.DeploymentsOf
	}
	return m.reg.Lineage(name, strconv.Itoa(version), deps)
}

// Export writes the version's MLmodel folder to dest (a new folder).
func (m *Models) Export(name string, version int, dest string) error {
	if err := m.ready(); err != nil {
		return err
	}
	return m.reg.Export(name, strconv.Itoa(version), dest)
}
