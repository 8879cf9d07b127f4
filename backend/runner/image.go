package runner

import (
	"context"
	"sync"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
)

// runtimeImage builds the built-in runtime image once per binary content
// (docker.RuntimeBuild tags it by the binary's hash). It asks the engine
// each time rather than remembering a tag: another Tern's start may have
// reaped the image since (see dockerEngine.reapImages), and one look-up
// per job costs nothing next to a container start.
type runtimeImage struct {
	binary     func() ([]byte, error)
	appVersion string
	mu         sync.Mutex
	// built counts actual builds (tests check that a second ensure does not
	// build again).
	built int
}

func (r *runtimeImage) ensure(ctx context.Context, api DockerAPI) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.binary == nil {
		return "", core.Errorf(core.Unavailable, "The tern-runtime binary is not available to build the runtime image.")
	}
	bin, err := r.binary()
	if err != nil {
		return "", err
	}
	b := docker.RuntimeBuild(r.appVersion, bin)
	built, err := api.EnsureImage(ctx, b)
	if err != nil {
		return "", err
	}
	if built {
		r.built++
	}
	return b.Tag, nil
}
