package deployment

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/testenv"
)

// staticRuntime is the tern-runtime binary the serving images hold.
func staticRuntime(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.RuntimeBinary(t))
	require.NoError(t, err)
	return b
}

func dockerLauncher(t *testing.T) (*DockerLauncher, *docker.Client) {
	t.Helper()
	testenv.Docker(t)
	cli, err := docker.Connect("")
	require.NoError(t, err)
	bin := staticRuntime(t)
	inst := "test-" + core.NewID()
	t.Cleanup(func() {
		// Remove whatever this test left, by label.
		_, _ = cli.Reap(context.Background(), map[string]string{docker.LabelServingInstance: inst}, func(docker.Container) bool { return false })
		cli.Close()
	})
	return &DockerLauncher{API: cli, Binary: func() ([]byte, error) { return bin, nil }, Instance: inst}, cli
}

func TestDockerDeploymentEndToEnd(t *testing.T) {
	dl, cli := dockerLauncher(t)
	f := newFixture(t)
	svc := f.service(dl)
	ctx := t.Context()
	d, err := svc.Deploy(ctx, "fraud", "1", Options{})
	require.NoError(t, err)
	require.Equal(t, "docker", d.Backends[0].Target)
	t.Cleanup(func() { svc.Delete(context.Background(), d.ID) })

	// The container is locked down and published on loopback only.
	info := testenv.LockedDown(t, d.Backends[0].ContainerID)
	assert.NotEmpty(t, info.HostConfig.PortBindings[servePort])
	assert.Equal(t, "65532:65532", info.Config.User)

	for _, p := range payloads {
		code, by, body := call(t, d.Endpoint, p.path, p.ct, p.body)
		require.Equal(t, 200, code, "%s: %s", p.name, body)
		assert.Equal(t, "v1", by)
	}
	code, _, body := call(t, d.Endpoint, "/invocations", "application/json", `{"instances":[[1,2,3]]}`)
	assert.Equal(t, 400, code, body)
	code, _, body = call(t, d.Endpoint, "/invocations", "application/xml", `<x/>`)
	assert.Equal(t, 415, code, body)

	d, err = svc.AddVersion(ctx, d.ID, "2")
	require.NoError(t, err)
	_, err = svc.SetCanary(d.ID, "v2", 10)
	require.NoError(t, err)
	assert.InDelta(t, 200, servedBy(t, d.Endpoint, "v2", 2000), 60, "canary share")

	_, err = svc.SetTraffic(d.ID, router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 100}}, Shadow: "v2"})
	require.NoError(t, err)
	for range 10 {
		call(t, d.Endpoint, "/invocations", "application/json", payloads[2].body)
	}
	require.Eventually(t, func() bool { st, _ := svc.Stats(d.ID); return st.Shadow.Agree+st.Shadow.Disagree == 10 }, 10*time.Second, 50*time.Millisecond)
	switchAndRollBack(t, svc, d)

	// App restart: containers keep running and are reattached by label.
	ids := map[string]bool{}
	for _, b := range d.Backends {
		ids[b.ContainerID] = true
	}
	svc.Close()
	svc2 := f.service(dl)
	t.Cleanup(svc2.Close)
	require.NoError(t, svc2.Start(ctx))
	d2, err := svc2.Get(d.ID)
	require.NoError(t, err)
	require.Equal(t, StateRunning, d2.State)
	for _, b := range d2.Backends {
		assert.True(t, ids[b.ContainerID], "backend %s was relaunched instead of reattached", b.Backend)
	}
	code, by, body := call(t, d2.Endpoint, "/invocations", "application/json", payloads[2].body)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "v1", by)

	// A serving container killed from outside is taken out of rotation.
	_, err = svc2.SetCanary(d.ID, "v2", 50)
	require.NoError(t, err)
	for _, b := range d2.Backends {
		if b.Backend == "v2" {
			require.NoError(t, cli.Remove(ctx, b.ContainerID))
		}
	}
	for range 40 {
		code, by, _ := call(t, d2.Endpoint, "/invocations", "application/json", payloads[2].body)
		require.Equal(t, 200, code)
		require.Equal(t, "v1", by)
	}

	_, err = svc2.Stop(ctx, d.ID)
	require.NoError(t, err)
	list, err := cli.List(ctx, true, map[string]string{docker.LabelDeployment: d.ID})
	require.NoError(t, err)
	assert.Empty(t, list, "stop removes the containers")
}

func TestPackaging(t *testing.T) {
	dl, cli := dockerLauncher(t)
	f := newFixture(t)
	v, err := f.reg.Version("fraud", "2")
	require.NoError(t, err)
	out := t.TempDir()
	dest := filepath.Join(out, "image.tar")
	tag, err := dl.SaveImage(t.Context(), "fraud", 2, f.reg.Dir(v), dest)
	require.NoError(t, err)
	st, err := os.Stat(dest)
	require.NoError(t, err)
	assert.Greater(t, st.Size(), int64(1<<20))

	// The tarball loads and runs on a Docker host without Tern: remove the
	// image, load the tarball, run it.
	require.NoError(t, cli.RemoveImage(t.Context(), tag))
	load := exec.Command("docker", "load", "-i", dest)
	b, err := load.CombinedOutput()
	require.NoError(t, err, string(b))
	inst, err := dl.Launch(t.Context(), Spec{Deployment: "pkg", Backend: "v2", Model: "fraud", Version: 2, Dir: f.reg.Dir(v)})
	require.NoError(t, err)
	defer dl.Stop(t.Context(), inst)
	require.NoError(t, waitHealthy(t.Context(), inst.URL, 30*time.Second))
	code, _, body := call(t, inst.URL, "/invocations", "application/json", payloads[2].body)
	assert.Equal(t, 200, code, body)

	ctxDir := filepath.Join(out, "context")
	require.NoError(t, dl.WriteBuildContext(f.reg.Dir(v), ctxDir))
	for _, p := range []string{"Dockerfile", "tern-runtime", "model/MLmodel", "model/model.lgb"} {
		assert.FileExists(t, filepath.Join(ctxDir, p))
	}
	assert.Error(t, dl.WriteBuildContext(f.reg.Dir(v), ctxDir), "never overwrites")
}

// A serving image whose binary cannot run: Deploy fails with a sentence
// and leaves no container behind.
func TestDockerBrokenServerIsAClearError(t *testing.T) {
	dl, cli := dockerLauncher(t)
	dl.Binary = func() ([]byte, error) { return []byte("#!/bin/false\nnot a program\n"), nil }
	f := newFixture(t)
	svc := NewService(Config{Store: f.st, Registry: f.reg, Launcher: dl, HealthTimeout: 8 * time.Second})
	t.Cleanup(svc.Close)
	_, err := svc.Deploy(t.Context(), "fraud", "1", Options{})
	require.Error(t, err)
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	t.Log(core.ErrorMessage(err))
	list, err := cli.List(t.Context(), true, map[string]string{docker.LabelServingInstance: dl.Instance})
	require.NoError(t, err)
	assert.Empty(t, list)
	all, err := svc.List()
	require.NoError(t, err)
	assert.Empty(t, all, "a failed deploy records nothing")
}
