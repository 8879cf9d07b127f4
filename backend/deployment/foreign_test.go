package deployment

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/docker"
)

// fakeDocker answers the calls Running makes.
type fakeDocker struct {
	DockerAPI
	list []docker.Container
}

func (f *fakeDocker) List(context.Context, bool, map[string]string) ([]docker.Container, error) {
	return f.list, nil
}

func (f *fakeDocker) Inspect(_ context.Context, id string) (docker.Container, error) {
	return docker.Container{ID: id, Running: true, LoopbackPorts: map[string]string{servePort: "40001"}}, nil
}

// A container wearing Tern's labels is adopted only when it runs a Tern
// serving image and names a real version; anything else is left alone.
func TestForeignContainersAreNotAdopted(t *testing.T) {
	labels := func(v string) map[string]string {
		return map[string]string{docker.LabelKind: docker.KindServing, docker.LabelServingInstance: "me", docker.LabelDeployment: "d1",
			docker.LabelBackend: "v" + v, docker.LabelModel: "m", docker.LabelModelVersion: v}
	}
	f := &fakeDocker{list: []docker.Container{
		{ID: "ours", Image: "tern-serve-m:v1-abc", State: "running", Running: true, Labels: labels("1")},
		{ID: "foreign-image", Image: "evil/miner:latest", State: "running", Running: true, Labels: labels("2")},
		{ID: "bad-version", Image: "tern-serve-m:v3-abc", State: "running", Running: true, Labels: labels("3; rm -rf")},
		{ID: "exited", Image: "tern-serve-m:v4-abc", State: "exited", Labels: labels("4")},
	}}
	dl := &DockerLauncher{API: f, Instance: "me"}
	got, err := dl.Running(t.Context(), "d1")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "ours", got[0].ContainerID)
	assert.Equal(t, "http://127.0.0.1:40001", got[0].URL)
	assert.Equal(t, 1, got[0].Version)
}
