package docker

import (
	"context"

	"github.com/moby/moby/client"
)

// CreateInternalNetwork makes a bridge network with no route outside
// (--internal): containers on it reach only each other and the gateway.
func (c *Client) CreateInternalNetwork(ctx context.Context, name string, labels map[string]string) error {
	if c == nil {
		return ErrNoEngine
	}
	_, err := c.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Internal: true, Labels: withApp(labels)})
	return err
}

// NetworkGateway is the network's gateway address on the host ("" when
// the engine gave it none).
func (c *Client) NetworkGateway(ctx context.Context, name string) (string, error) {
	if c == nil {
		return "", ErrNoEngine
	}
	res, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return "", err
	}
	if cfg := res.Network.IPAM.Config; len(cfg) > 0 && cfg[0].Gateway.IsValid() {
		return cfg[0].Gateway.String(), nil
	}
	return "", nil
}

// RemoveNetwork removes a network.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	if c == nil {
		return ErrNoEngine
	}
	_, err := c.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	return err
}
