package docker

import (
	"context"
	"io"
	"strconv"

	"github.com/moby/moby/client"
)

// CreateVolume makes a named local volume on the engine, labelled as
// Tern's. Jobs on a remote engine keep their inputs and outputs in one:
// the engine's host has no path of the laptop's to bind.
func (c *Client) CreateVolume(ctx context.Context, name string, labels map[string]string) error {
	if c == nil {
		return ErrNoEngine
	}
	_, err := c.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: withApp(labels)})
	return err
}

// CreateSocketVolume makes a small in-memory (tmpfs) volume owned by
// uid:gid, mode 0700, for a Unix socket two containers share: a worker
// with no network listens on it and a front on the bridge connects to it.
// A tmpfs volume holds nothing on disk and works where bind-mounted host
// folders cannot carry sockets (Docker Desktop's VM).
func (c *Client) CreateSocketVolume(ctx context.Context, name string, uid int, labels map[string]string) error {
	if c == nil {
		return ErrNoEngine
	}
	id := strconv.Itoa(uid)
	_, err := c.api.VolumeCreate(ctx, client.VolumeCreateOptions{
		Name: name, Driver: "local", Labels: withApp(labels),
		DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "uid=" + id + ",gid=" + id + ",mode=0700,size=1m"},
	})
	return err
}

// RemoveVolume removes a volume; one that is already gone is no error.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	if c == nil {
		return ErrNoEngine
	}
	_, err := c.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// CopyTo unpacks a tar stream into dir inside the container (created or
// running). On a read-only root the engine accepts it only inside a
// writable volume. Owners and modes come from the tar headers.
func (c *Client) CopyTo(ctx context.Context, id, dir string, tarStream io.Reader) error {
	if c == nil {
		return ErrNoEngine
	}
	_, err := c.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: tarStream})
	return err
}

// CopyFrom returns a tar stream of path in the container (which may have
// exited); the caller closes it. Its entries are named from path's last
// element ("outputs/…" for /tern/outputs).
func (c *Client) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	if c == nil {
		return nil, ErrNoEngine
	}
	res, err := c.api.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, err
	}
	return res.Content, nil
}
