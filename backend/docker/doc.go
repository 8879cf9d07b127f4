// Package docker is Tern's one adapter to a Docker engine, on the
// maintained moby client modules (github.com/moby/moby/client and
// github.com/moby/moby/api). No other package imports the Docker SDK: the
// runner, deployments and the status bar each declare the few methods of
// *Client they call, and main.go builds the one Client and hands it to them.
//
// It holds:
//   - Client: one connection to an engine (DOCKER_HOST or a given host, or
//     a remote engine over TCP with TLS client certificates, whose errors
//     come back in words naming it: ConnectRemote, Explain),
//     its answers translated into Tern's own small types (Container, Image);
//     a nil *Client is an engine that is not there.
//   - the io.tern.* labels and kinds that mark everything Tern creates, so
//     it can find its containers again after a restart and reap orphans;
//   - Create, which applies the lockdown every Tern container gets: never
//     privileged, every capability dropped, no-new-privileges, a read-only
//     root, bounded logs, published ports on 127.0.0.1 only;
//   - image builds from an in-memory tar context (Build, EnsureImage): the
//     FROM scratch runtime image (RuntimeBuild), a user's Dockerfile folder
//     (DirBuild) and the serving images; a base image that is not on the
//     machine fails the build in words, because Tern never pulls;
//   - volumes and copies in and out of containers (CopyTo, CopyFrom), for
//     jobs on an engine that shares no disk with the laptop;
//   - the reaper: Reap and ReapImages remove the containers and images a
//     label set names that no one claims any more (an image a container
//     still uses stays).
package docker
