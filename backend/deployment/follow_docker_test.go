package deployment

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/docker"
)

// Following @champion with the real Docker engine: each version in its
// own container, the alias moved by hand, a ramp to promotion, the alias
// moved back during a second ramp (aborted cleanly), no client request
// failed. Then deleting the deployment removes its containers and the
// serving image no other deployment uses, keeps the one another
// deployment serves, and keeps the prediction log.
func TestDockerFollowAndDelete(t *testing.T) {
	dl, cli := dockerLauncher(t)
	f := newFixture(t)
	svc := followService(t, f, dl)
	t.Cleanup(svc.Close)
	ctx := t.Context()
	d := followAndRamp(t, f, svc)
	d, err := svc.Get(d.ID)
	require.NoError(t, err)
	require.Len(t, d.Backends, 2)
	assert.Equal(t, "docker", d.Backends[1].Target)

	images := map[int]string{}
	for _, b := range d.Backends {
		c, err := cli.Inspect(ctx, b.ContainerID)
		require.NoError(t, err)
		images[b.Version] = c.Image
	}
	other, err := svc.Deploy(ctx, "fraud", "1", Options{Name: "other"})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Delete(context.Background(), other.ID) })

	plan, err := svc.DeletePreview(d.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"v1", "v2"}, plan.Versions)
	assert.Equal(t, []string{"v2"}, plan.Images)
	assert.Equal(t, []string{"v1 (served by other)"}, plan.ImagesKept)
	assert.Greater(t, plan.LoggedPredictions, 100)

	res, err := svc.Delete(ctx, d.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Endpoints)
	assert.Equal(t, 1, res.ImagesRemoved)
	assert.Empty(t, res.Warning)
	left, err := cli.List(ctx, true, map[string]string{docker.LabelDeployment: d.ID})
	require.NoError(t, err)
	assert.Empty(t, left, "no container of the deployment is left")
	_, err = cli.InspectImage(ctx, images[2])
	assert.True(t, docker.IsNotFound(err), "v2's image is gone: %v", err)
	_, err = cli.InspectImage(ctx, images[1])
	assert.NoError(t, err, "v1's image is kept: another deployment serves it")
	_, err = svc.Get(d.ID)
	assert.Error(t, err)
	assert.Equal(t, 40, servedBy(t, other.Endpoint, "v1", 40))

	recs := auditRecords(t, f)
	var del []string
	for _, r := range recs {
		if r.Action == "deployment.delete" {
			del = append(del, r.After)
		}
	}
	require.Len(t, del, 1)
	assert.Contains(t, del[0], "1 serving images removed")
	assert.Contains(t, del[0], "prediction log kept")

	res, err = svc.Delete(ctx, other.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, res.ImagesRemoved)
	_, err = cli.InspectImage(ctx, images[1])
	assert.True(t, docker.IsNotFound(err))
}
