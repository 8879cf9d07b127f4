package deployment

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDocker answers the calls Running makes.
type fakeDocker struct {
	DockerAPI
	list []container.Summary
}

func (f *fakeDocker) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return f.list, nil
}

func (f *fakeDocker) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	var r container.InspectResponse
	r.NetworkSettings = &container.NetworkSettings{}
	r.NetworkSettings.Ports = nat.PortMap{servePort: {{HostIP: "127.0.0.1", HostPort: "40001"}}}
	return r, nil
}

// A container wearing Tern's labels is adopted only when it runs a Tern
// serving image and names a real version; anything else is left alone.
func TestForeignContainersAreNotAdopted(t *testing.T) {
	labels := func(v string) map[string]string {
		return map[string]string{LabelKind: "serving", LabelInstance: "me", LabelDeployment: "d1", LabelBackend: "v" + v, LabelModel: "m", LabelVersion: v}
	}
	f := &fakeDocker{list: []container.Summary{
		{ID: "ours", Image: "tern-serve-m:v1-abc", State: "running", Labels: labels("1")},
		{ID: "foreign-image", Image: "evil/miner:latest", State: "running", Labels: labels("2")},
		{ID: "bad-version", Image: "tern-serve-m:v3-abc", State: "running", Labels: labels("3; rm -rf")},
		{ID: "exited", Image: "tern-serve-m:v4-abc", State: "exited", Labels: labels("4")},
	}}
	dl := &DockerLauncher{API: f, Instance: "me"}
	got, err := dl.Running(context.Background(), "d1")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "ours", got[0].ContainerID)
	assert.Equal(t, "http://127.0.0.1:40001", got[0].URL)
	assert.Equal(t, 1, got[0].Version)
}
