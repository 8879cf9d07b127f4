package docker

import (
	"context"
	"errors"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Labels on everything Tern creates in Docker.
const (
	LabelApp  = "io.tern.app" // always "tern"
	LabelKind = "io.tern.kind"
	// LabelVersion is the version of the Tern that made a container or
	// image.
	LabelVersion = "io.tern.version"
	// LabelInstance names the runner (one per data dir) that owns a
	// training container.
	LabelInstance = "io.tern.instance"
	LabelJob      = "io.tern.job"
	LabelRun      = "io.tern.run"
	// LabelServingInstance names the data dir a serving container belongs
	// to. It is not LabelInstance: the runner reaps what carries that label
	// and is not one of its jobs, and serving containers outlive a restart.
	LabelServingInstance = "io.tern.serving.instance"
	LabelDeployment      = "io.tern.deployment"
	LabelBackend         = "io.tern.backend"
	LabelModel           = "io.tern.model"
	LabelModelVersion    = "io.tern.model-version"
	// LabelWorker names the pair a Python serving front and its worker
	// belong to (and their shared socket volume): the front speaks HTTP,
	// the worker unpickles the model with no network at all.
	LabelWorker = "io.tern.worker"
)

// Kinds (LabelKind) of what Tern creates.
const (
	KindTrain        = "train"
	KindRuntime      = "runtime"
	KindUserImage    = "user-image"
	KindServing      = "serving"
	KindServingImage = "serving-image"
	// KindServingWorker is the Python process that holds an unpickled
	// model, beside its KindServing front.
	KindServingWorker = "serving-worker"
)

// Client is one connection to a Docker engine. A nil *Client stands for an
// engine that is not there: every call fails with ErrNoEngine.
type Client struct {
	api *client.Client
	// name and host name a remote engine in its errors (ConnectRemote);
	// empty for the local one.
	name, host string
}

// ErrNoEngine is what a nil Client answers.
var ErrNoEngine = errors.New("no Docker engine is configured")

// Connect makes a client for host ("unix:///var/run/docker.sock",
// "tcp://…"), or for the engine the environment names (DOCKER_HOST and
// friends) when host is empty. It does not dial: a stopped engine is found
// out by Ping. The API version is negotiated, so older engines work.
func Connect(host string) (*Client, error) {
	opts := []client.Opt{client.FromEnv}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, err
	}
	return &Client{api: c}, nil
}

// Close releases the connection.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	return c.api.Close()
}

// Ping checks that the engine answers, giving up after 3 s: a missing
// engine is normal and must not hold anything up.
func (c *Client) Ping(ctx context.Context) error {
	if c == nil {
		return ErrNoEngine
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := c.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return c.explain(ctx, err)
}

// Version is the engine's version, asked with a 2 s limit.
func (c *Client) Version(ctx context.Context) (string, error) {
	if c == nil {
		return "", ErrNoEngine
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := c.api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", err
	}
	return v.Version, nil
}

// IsNotFound reports whether err says the container, image or network is
// not there.
func IsNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
