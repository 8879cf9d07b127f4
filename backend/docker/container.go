package docker

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Spec is a container to create. Whatever it says, Create adds the
// lockdown: not privileged, every capability dropped, no-new-privileges, a
// read-only root filesystem, bounded json-file logs.
type Spec struct {
	Name   string // empty: the engine picks one
	Image  string
	Cmd    []string
	User   string
	Env    []string
	Labels map[string]string
	Binds  []string          // "source:target:ro|rw"
	Tmpfs  map[string]string // target → mount options
	// Volumes mounts named volumes read-write (volume name → target).
	Volumes map[string]string
	// Network is "none" (no network at all), the name of a network to
	// join, or empty for the engine's default bridge.
	Network string
	// Publish is a container port ("8080/tcp") published on 127.0.0.1
	// only, at a host port the engine picks (Container.LoopbackPorts).
	Publish string
	// Memory, MemorySwap (0: the engine's default), NanoCPUs and Pids
	// bound the container.
	Memory, MemorySwap, NanoCPUs, Pids int64
	// RestartOnFailure restarts a crashed container this many times (0:
	// never).
	RestartOnFailure int
}

// Container is what Tern reads back about a container.
type Container struct {
	ID     string
	Image  string
	Labels map[string]string
	// State is the engine's word: created, running, exited, removing, dead…
	State     string
	Running   bool
	Dead      bool
	ExitCode  int
	OOMKilled bool
	// LoopbackPorts maps a container port ("8080/tcp") to the host port it
	// is published on at 127.0.0.1; bindings on other addresses are left
	// out.
	LoopbackPorts map[string]string
}

// Removing reports whether the container is on its way out (being
// removed, or dead after a failed removal).
func (c Container) Removing() bool {
	return c.State == string(container.StateRemoving) || c.Dead
}

var loopback = netip.MustParseAddr("127.0.0.1")

// Create makes a locked-down container from s and returns its ID.
func (c *Client) Create(ctx context.Context, s Spec) (string, error) {
	if c == nil {
		return "", ErrNoEngine
	}
	cfg := &container.Config{Image: s.Image, Cmd: s.Cmd, User: s.User, Env: s.Env, Labels: withApp(s.Labels)}
	host := &container.HostConfig{
		Binds:          s.Binds,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		Privileged:     false,
		Tmpfs:          s.Tmpfs,
		LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "50m", "max-file": "2"}},
		Resources:      container.Resources{Memory: s.Memory, MemorySwap: s.MemorySwap, NanoCPUs: s.NanoCPUs},
	}
	for name, target := range s.Volumes {
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: target})
	}
	if s.Pids > 0 {
		pids := s.Pids
		host.PidsLimit = &pids
	}
	switch s.Network {
	case "":
	case "none":
		cfg.NetworkDisabled = true
		host.NetworkMode = "none"
	default:
		host.NetworkMode = container.NetworkMode(s.Network)
	}
	if s.Publish != "" {
		p, err := network.ParsePort(s.Publish)
		if err != nil {
			return "", fmt.Errorf("port %q: %w", s.Publish, err)
		}
		cfg.ExposedPorts = network.PortSet{p: {}}
		host.PortBindings = network.PortMap{p: {{HostIP: loopback}}}
	}
	if s.RestartOnFailure > 0 {
		host.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: s.RestartOnFailure}
	}
	res, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: host, Name: s.Name})
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

// Start starts a created container.
func (c *Client) Start(ctx context.Context, id string) error {
	if c == nil {
		return ErrNoEngine
	}
	_, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return err
}

// Stop asks the container to stop (SIGTERM), killing it after grace. A
// container that is already gone is not an error.
func (c *Client) Stop(ctx context.Context, id string, grace time.Duration) error {
	if c == nil {
		return ErrNoEngine
	}
	secs := int(grace / time.Second)
	_, err := c.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// Remove removes a container (an ID or a name), killing it if it runs. A
// container that is already gone is not an error.
func (c *Client) Remove(ctx context.Context, id string) error {
	if c == nil {
		return ErrNoEngine
	}
	_, err := c.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// Wait blocks until the container is not running, ctx ends or the engine
// stops answering.
func (c *Client) Wait(ctx context.Context, id string) error {
	if c == nil {
		return ErrNoEngine
	}
	res := c.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-res.Result:
		return nil
	case err := <-res.Error:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Inspect reads a container's state. A state the engine does not report
// reads as running, so a caller waits again rather than taking it for an
// exit.
func (c *Client) Inspect(ctx context.Context, id string) (Container, error) {
	if c == nil {
		return Container{}, ErrNoEngine
	}
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, err
	}
	info := res.Container
	out := Container{ID: info.ID, Running: true}
	if info.Config != nil {
		out.Image, out.Labels = info.Config.Image, info.Config.Labels
	}
	if st := info.State; st != nil {
		out.State, out.Running, out.Dead, out.ExitCode, out.OOMKilled = string(st.Status), st.Running, st.Dead, st.ExitCode, st.OOMKilled
	}
	if info.NetworkSettings != nil {
		for port, bindings := range info.NetworkSettings.Ports {
			for _, b := range bindings {
				if b.HostIP == loopback && b.HostPort != "" {
					if out.LoopbackPorts == nil {
						out.LoopbackPorts = map[string]string{}
					}
					out.LoopbackPorts[port.String()] = b.HostPort
				}
			}
		}
	}
	return out, nil
}

// List lists the containers carrying every label given (running ones, or
// all with all set).
func (c *Client) List(ctx context.Context, all bool, labels map[string]string) ([]Container, error) {
	if c == nil {
		return nil, ErrNoEngine
	}
	f := client.Filters{}
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	res, err := c.api.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: f})
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(res.Items))
	for _, s := range res.Items {
		out = append(out, Container{ID: s.ID, Image: s.Image, Labels: s.Labels, State: string(s.State),
			Running: s.State == container.StateRunning, Dead: s.State == container.StateDead})
	}
	return out, nil
}

// Logs follows a container's stdout and stderr, each line prefixed with
// its RFC 3339 time, from since on (the zero time: from the start). The
// two streams come multiplexed: split them with Demux.
func (c *Client) Logs(ctx context.Context, id string, since time.Time) (io.ReadCloser, error) {
	if c == nil {
		return nil, ErrNoEngine
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if !since.IsZero() {
		n := since.UnixNano()
		opts.Since = fmt.Sprintf("%d.%09d", n/1e9, n%1e9)
	}
	return c.api.ContainerLogs(ctx, id, opts)
}

// Demux splits a multiplexed log stream into its stdout and stderr.
func Demux(stdout, stderr io.Writer, logs io.Reader) error {
	_, err := stdcopy.StdCopy(stdout, stderr, logs)
	return err
}

// Reap removes the containers (running or not) that carry every label
// given and that keep does not claim, and says how many went.
func (c *Client) Reap(ctx context.Context, labels map[string]string, keep func(Container) bool) (int, error) {
	list, err := c.List(ctx, true, labels)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ct := range list {
		if keep(ct) {
			continue
		}
		if err := c.Remove(ctx, ct.ID); err == nil {
			n++
		}
	}
	return n, nil
}

// withApp adds LabelApp=tern to labels, so nothing Tern makes goes
// unmarked.
func withApp(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	out[LabelApp] = "tern"
	return out
}
