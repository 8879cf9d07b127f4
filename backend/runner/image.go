package runner

import (
	"context"
	"fmt"
	"os"
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

// ImageIdentity names the code a job with this image would run, for a
// pipeline's cache key: the built-in runtime's tag (which carries the
// binary's hash) when image is "", else the local image's ID, so a
// rebuilt image under the same name counts as new code.
func (r *Runner) ImageIdentity(ctx context.Context, image string) (string, error) {
	if image == "" {
		p, err := r.cfg.RuntimeBinary()
		if err != nil {
			return "", err
		}
		return r.runtimeID.of(p, r.cfg.AppVersion)
	}
	if r.docker == nil {
		return "", core.Errorf(core.Unavailable, "Docker is not available to run the image %s.", image)
	}
	img, err := r.docker.api.InspectImage(ctx, image)
	if err != nil {
		if docker.IsNotFound(err) {
			return "", core.Errorf(core.NotFound, "The image %s is not on this machine (Tern uses no registry: build or load it first).", image)
		}
		return "", core.Wrap(err, core.Unavailable, "Docker could not inspect the image %s.", image)
	}
	return img.ID, nil
}

// runtimeID remembers the runtime binary's identity by its path, size and
// modification time, so a cache key costs a stat, not a read of the binary.
type runtimeID struct {
	mu   sync.Mutex
	seen string
	id   string
}

func (c *runtimeID) of(path, appVersion string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "The tern-runtime binary cannot be read.")
	}
	stamp := fmt.Sprintf("%s %d %d", path, st.Size(), st.ModTime().UnixNano())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == stamp {
		return c.id, nil
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "The tern-runtime binary cannot be read.")
	}
	c.seen, c.id = stamp, docker.RuntimeImageTag(appVersion, bin)
	return c.id, nil
}
