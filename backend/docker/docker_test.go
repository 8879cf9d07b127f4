package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/testenv"
)

func engine(t *testing.T) *Client {
	t.Helper()
	testenv.Docker(t)
	c, err := Connect("")
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// tinyImage builds a FROM scratch image holding one file: enough to create
// containers from, without a runtime binary.
func tinyImage(t *testing.T, c *Client) string {
	t.Helper()
	b := Build{Tag: "tern-test/tiny:" + core.NewID()[:12], Files: map[string]File{
		"Dockerfile": {Data: []byte("FROM scratch\nCOPY hello /hello\nUSER 65532:65532\n"), Mode: 0o644},
		"hello":      {Data: []byte("hello\n"), Mode: 0o644},
	}, Labels: map[string]string{LabelKind: "test"}}
	t.Cleanup(func() { _ = c.RemoveImage(context.Background(), b.Tag) })
	built, err := c.EnsureImage(t.Context(), b)
	require.NoError(t, err)
	assert.True(t, built)
	built, err = c.EnsureImage(t.Context(), b)
	require.NoError(t, err)
	assert.False(t, built, "an image already here is not built again")
	img, err := c.InspectImage(t.Context(), b.Tag)
	require.NoError(t, err)
	assert.Equal(t, "tern", img.Labels[LabelApp], "everything Tern builds is labelled")
	assert.Equal(t, "65532:65532", img.User)
	return b.Tag
}

// TestCreateLocksDown: whatever a Spec says, the container is locked down,
// labelled, and its port published on 127.0.0.1 only.
func TestCreateLocksDown(t *testing.T) {
	c := engine(t)
	tag := tinyImage(t, c)
	inst := core.NewID()
	id, err := c.Create(t.Context(), Spec{Image: tag, Cmd: []string{"/hello"}, User: "65532:65532",
		Labels: map[string]string{LabelServingInstance: inst}, Publish: "8080/tcp", Memory: 64 << 20, Pids: 16, NanoCPUs: 5e8, RestartOnFailure: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(context.Background(), id) })
	info := testenv.LockedDown(t, id)
	assert.Equal(t, "tern", info.Config.Labels[LabelApp])
	assert.Equal(t, int64(64<<20), info.HostConfig.Memory)
	require.Contains(t, info.HostConfig.PortBindings, "8080/tcp")

	got, err := c.Inspect(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "created", got.State)
	assert.False(t, got.Running)
	assert.Equal(t, inst, got.Labels[LabelServingInstance])
	list, err := c.List(t.Context(), true, map[string]string{LabelServingInstance: inst})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, id, list[0].ID)
	assert.Equal(t, tag, list[0].Image)

	none, err := c.Create(t.Context(), Spec{Image: tag, Cmd: []string{"/hello"}, User: "65532:65532", Network: "none", Memory: 64 << 20, Pids: 16})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(context.Background(), none) })
	assert.Equal(t, "none", testenv.LockedDown(t, none).HostConfig.NetworkMode)

	require.NoError(t, c.Remove(t.Context(), id))
	require.NoError(t, c.Remove(t.Context(), id), "removing what is gone is not an error")
	_, err = c.Inspect(t.Context(), id)
	assert.True(t, IsNotFound(err))
}

// TestReap removes what carries the labels and is not kept, and nothing
// else.
func TestReap(t *testing.T) {
	c := engine(t)
	tag := tinyImage(t, c)
	inst := core.NewID()
	mk := func(job string) string {
		id, err := c.Create(t.Context(), Spec{Image: tag, Cmd: []string{"/hello"}, Network: "none",
			Labels: map[string]string{LabelInstance: inst, LabelJob: job, LabelKind: KindTrain}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Remove(context.Background(), id) })
		return id
	}
	kept, orphan := mk("live"), mk("gone")
	n, err := c.Reap(t.Context(), map[string]string{LabelInstance: inst, LabelKind: KindTrain},
		func(ct Container) bool { return ct.Labels[LabelJob] == "live" })
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = c.Inspect(t.Context(), orphan)
	assert.True(t, IsNotFound(err), "the orphan is reaped")
	_, err = c.Inspect(t.Context(), kept)
	assert.NoError(t, err, "what is kept stays")
}

// TestReapImages removes the labelled images not kept, but not one a
// container still uses, nor any without the labels.
func TestReapImages(t *testing.T) {
	c := engine(t)
	kind := "test-reap-" + core.NewID()[:8]
	mk := func(name string, labels map[string]string) string {
		tag := "tern-test/" + name + ":" + core.NewID()[:12]
		_, err := c.EnsureImage(t.Context(), Build{Tag: tag, Files: map[string]File{
			"Dockerfile": {Data: []byte("FROM scratch\nCOPY " + name + " /" + name + "\n"), Mode: 0o644},
			name:         {Data: []byte(name), Mode: 0o644},
		}, Labels: labels})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.RemoveImage(context.Background(), tag) })
		return tag
	}
	keep, old, used := mk("keep", map[string]string{LabelKind: kind}), mk("old", map[string]string{LabelKind: kind}), mk("used", map[string]string{LabelKind: kind})
	other := mk("other", map[string]string{LabelKind: kind + "-not"})
	id, err := c.Create(t.Context(), Spec{Image: used, Cmd: []string{"/used"}, Network: "none"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Remove(context.Background(), id) })

	n, err := c.ReapImages(t.Context(), map[string]string{LabelKind: kind}, func(img Image) bool { return slices.Contains(img.Tags, keep) })
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = c.InspectImage(t.Context(), old)
	assert.True(t, IsNotFound(err), "the unclaimed image is reaped")
	for _, tag := range []string{keep, used, other} {
		_, err = c.InspectImage(t.Context(), tag)
		assert.NoError(t, err, "%s stays", tag)
	}
}

// TestNoEngine: a nil client and an engine that is not there both answer
// with errors, never a panic or a hang.
func TestNoEngine(t *testing.T) {
	var nilClient *Client
	assert.ErrorIs(t, nilClient.Ping(t.Context()), ErrNoEngine)
	_, err := nilClient.Version(t.Context())
	assert.ErrorIs(t, err, ErrNoEngine)
	assert.NoError(t, nilClient.Close())

	dead, err := Connect("unix://" + filepath.Join(t.TempDir(), "no-docker.sock"))
	require.NoError(t, err)
	start := time.Now()
	assert.Error(t, dead.Ping(t.Context()))
	_, err = dead.Version(t.Context())
	assert.Error(t, err)
	_, err = dead.List(t.Context(), true, nil)
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestDirBuildRefusesLinks: a build folder with a symlink is refused
// before anything reaches an engine.
func TestDirBuildRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")))
	_, err := DirBuild(dir, nil, "test")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "links are not allowed")

	_, err = DirBuild(t.TempDir(), nil, "test")
	assert.Contains(t, core.ErrorMessage(err), "has no Dockerfile")
}

// TestDirBuildTagFollowsContent: the same folder and args give the same
// tag; a changed file or arg gives another.
func TestDirBuildTagFollowsContent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My Model")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	a, err := DirBuild(dir, map[string]string{"X": "1"}, "test")
	require.NoError(t, err)
	assert.Regexp(t, `^tern-user/my-model:[0-9a-f]{12}$`, a.Tag)
	b, err := DirBuild(dir, map[string]string{"X": "1"}, "test")
	require.NoError(t, err)
	assert.Equal(t, a.Tag, b.Tag)
	c, err := DirBuild(dir, map[string]string{"X": "2"}, "test")
	require.NoError(t, err)
	assert.NotEqual(t, a.Tag, c.Tag)
	assert.Equal(t, KindUserImage, a.Labels[LabelKind])
}

// TestMissingBaseFailsFast: a Dockerfile whose base image is not on this
// machine fails with words, without hanging on a registry.
func TestMissingBaseFailsFast(t *testing.T) {
	c := engine(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM tern-test/no-such-base:1\nCMD [\"true\"]\n"), 0o644))
	b, err := DirBuild(dir, nil, "test")
	require.NoError(t, err)
	start := time.Now()
	_, err = c.EnsureImage(t.Context(), b)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Contains(t, err.Error(), "never pulls")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

// TestBuildFailureInWords: a build that fails inside the engine (its
// error arrives in the progress stream) is an error with the engine's
// words, not a silent success.
func TestBuildFailureInWords(t *testing.T) {
	c := engine(t)
	tag := "tern-test/broken:" + core.NewID()[:12]
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	_, err := c.EnsureImage(t.Context(), Build{Tag: tag, Files: map[string]File{
		"Dockerfile": {Data: []byte("FROM scratch\nCOPY missing-file /x\n"), Mode: 0o644},
	}})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "Building image "+tag+" failed")
	_, err = c.InspectImage(t.Context(), tag)
	assert.True(t, IsNotFound(err))
}

func TestRuntimeBuild(t *testing.T) {
	b := RuntimeBuild("1.2/3", []byte("binary"))
	assert.Regexp(t, `^tern-runtime:1\.2_3-[0-9a-f]{12}$`, b.Tag)
	assert.Equal(t, int64(0o755), b.Files["tern-runtime"].Mode)
	assert.Contains(t, string(b.Files["Dockerfile"].Data), "FROM scratch")
	assert.NotEqual(t, b.Tag, RuntimeBuild("1.2/3", []byte("other")).Tag)
	assert.Equal(t, "tern-runtime:dev-"+b.Tag[len(b.Tag)-12:], RuntimeImageTag("", []byte("binary")))
}

func TestBaseImages(t *testing.T) {
	cases := []struct {
		file string
		args map[string]string
		want []string
	}{
		{"FROM python:3.12-slim\nRUN true\n", nil, []string{"python:3.12-slim"}},
		{"ARG BASE=python:3.12-slim\nFROM ${BASE}\n", nil, []string{"python:3.12-slim"}},
		{"ARG BASE=python:3.12-slim\nFROM ${BASE}\n", map[string]string{"BASE": "tern-sklearn-base:bookworm"}, []string{"tern-sklearn-base:bookworm"}},
		{"FROM --platform=linux/amd64 golang:1 AS build\nFROM scratch\nCOPY --from=build /x /x\n", nil, []string{"golang:1"}},
		{"FROM a:1 AS base\nFROM base\n", nil, []string{"a:1"}},
		{"from $IMG\n", map[string]string{"IMG": "x:1"}, nil},
		{"ARG IMG\nfrom $IMG\n", map[string]string{"IMG": "x:1"}, []string{"x:1"}},
		{"# FROM commented:1\nFROM ${MISSING:-fallback:2}\n", nil, []string{"fallback:2"}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, baseImages([]byte(c.file), c.args), c.file)
	}
}
