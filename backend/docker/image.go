package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/tern-studio/tern/backend/core"
)

// File is one file of an in-memory build context.
type File struct {
	Data []byte
	Mode int64 // 0o644 or 0o755
}

// Build is an image to build from files held in memory; Files must hold
// a "Dockerfile".
type Build struct {
	Tag    string
	Files  map[string]File
	Args   map[string]string
	Labels map[string]string
}

// Image is what Tern reads back about an image.
type Image struct {
	ID     string
	Tags   []string
	User   string // InspectImage only
	Labels map[string]string
}

// InspectImage reads a local image; IsNotFound(err) when it is not on this
// machine.
func (c *Client) InspectImage(ctx context.Context, ref string) (Image, error) {
	if c == nil {
		return Image{}, ErrNoEngine
	}
	res, err := c.api.ImageInspect(ctx, ref)
	if err != nil {
		return Image{}, err
	}
	img := Image{ID: res.ID, Tags: res.RepoTags}
	if res.Config != nil {
		img.User, img.Labels = res.Config.User, res.Config.Labels
	}
	return img, nil
}

// SaveImage streams `docker save` of a local image: a tarball `docker
// load` reads on any host.
func (c *Client) SaveImage(ctx context.Context, ref string) (io.ReadCloser, error) {
	if c == nil {
		return nil, ErrNoEngine
	}
	return c.api.ImageSave(ctx, []string{ref})
}

// RemoveImage removes a local image.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	if c == nil {
		return ErrNoEngine
	}
	_, err := c.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true})
	return err
}

// ReapImages removes the local images that carry every label given and
// that keep does not claim, and says how many went. It removes them by
// tag and without force, so an image a container still uses stays.
func (c *Client) ReapImages(ctx context.Context, labels map[string]string, keep func(Image) bool) (int, error) {
	if c == nil {
		return 0, ErrNoEngine
	}
	f := client.Filters{}
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	res, err := c.api.ImageList(ctx, client.ImageListOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range res.Items {
		img := Image{ID: s.ID, Tags: s.RepoTags, Labels: s.Labels}
		if keep(img) || len(img.Tags) == 0 {
			continue
		}
		gone := true
		for _, tag := range img.Tags {
			if _, err := c.api.ImageRemove(ctx, tag, client.ImageRemoveOptions{}); err != nil {
				gone = false
			}
		}
		if gone {
			n++
		}
	}
	return n, nil
}

// EnsureImage builds b unless an image with its tag is already here, and
// says whether it built. The engine never pulls: a base image (FROM) that
// is not on this machine fails before the build starts, in words.
func (c *Client) EnsureImage(ctx context.Context, b Build) (bool, error) {
	if c == nil {
		return false, ErrNoEngine
	}
	if _, err := c.api.ImageInspect(ctx, b.Tag); err == nil {
		return false, nil
	}
	for _, img := range baseImages(b.Files["Dockerfile"].Data, b.Args) {
		if _, err := c.api.ImageInspect(ctx, img); err != nil {
			return false, core.Errorf(core.NotFound, "Base image %q of the Dockerfile is not on this machine. Tern never pulls from a registry: build or load it first (docker build, docker load).", img)
		}
	}
	body, err := tarFiles(b.Files)
	if err != nil {
		return false, err
	}
	args := map[string]*string{}
	for k, v := range b.Args {
		args[k] = &v
	}
	resp, err := c.api.ImageBuild(ctx, body, client.ImageBuildOptions{
		Tags: []string{b.Tag}, Remove: true, ForceRemove: true, PullParent: false,
		BuildArgs: args, Labels: withApp(b.Labels), Dockerfile: "Dockerfile",
	})
	if err != nil {
		return false, core.Wrap(err, core.Unavailable, "Docker could not build image %s: %v", b.Tag, err)
	}
	defer resp.Body.Close()
	if err := readBuild(resp.Body, b.Tag); err != nil {
		return false, err
	}
	return true, nil
}

// readBuild reads a build's progress stream to the end; an error message
// in the stream fails the build (the engine reports build failures there,
// not in the HTTP status).
func readBuild(r io.Reader, tag string) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if err == io.EOF {
				return nil
			}
			return core.Wrap(err, core.Unavailable, "The build of %s was interrupted: %v", tag, err)
		}
		if msg.Error != "" {
			m := msg.Error
			if strings.Contains(m, "pull access denied") || strings.Contains(m, "not found") || strings.Contains(m, "no such host") {
				m += " (the base image must exist locally: Tern never pulls from a registry)"
			}
			return core.Errorf(core.Invalid, "Building image %s failed: %s", tag, m)
		}
	}
}

// tarFiles writes an in-memory build context, byte-identical for the same
// files (sorted names, a fixed time).
func tarFiles(files map[string]File) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range sortedNames(files) {
		f := files[n]
		hdr := &tar.Header{Name: n, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, core.Wrap(err, core.Internal, "Cannot write the build context.")
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, core.Wrap(err, core.Internal, "Cannot write the build context.")
		}
	}
	if err := tw.Close(); err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot write the build context.")
	}
	return &buf, nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var tagUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// runtimeDockerfile bakes the static tern-runtime binary into an empty
// image: nothing else is in it, so there is nothing else to patch.
const runtimeDockerfile = `FROM scratch
COPY tern-runtime /tern-runtime
USER 65532:65532
ENTRYPOINT ["/tern-runtime"]
CMD ["train"]
`

// RuntimeImageTag is the tag of the runtime image for a binary: the app
// version and the binary's hash, so a new binary gets a new image and an
// unchanged one is never rebuilt.
func RuntimeImageTag(appVersion string, bin []byte) string {
	sum := sha256.Sum256(bin)
	v := tagUnsafe.ReplaceAllString(appVersion, "_")
	if v == "" {
		v = "dev"
	}
	return "tern-runtime:" + v + "-" + hex.EncodeToString(sum[:])[:12]
}

// RuntimeBuild is the built-in training image: the static tern-runtime
// binary FROM scratch, built locally, no registry.
func RuntimeBuild(appVersion string, bin []byte) Build {
	return Build{
		Tag: RuntimeImageTag(appVersion, bin),
		Files: map[string]File{
			"Dockerfile":   {Data: []byte(runtimeDockerfile), Mode: 0o644},
			"tern-runtime": {Data: bin, Mode: 0o755},
		},
		Labels: map[string]string{LabelKind: KindRuntime, LabelVersion: appVersion},
	}
}
