package testenv

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// Inspected is what `docker inspect` reports about a container: the
// fields tests check a container's lockdown with, read through the CLI so
// the check does not go through the adapter it is checking.
type Inspected struct {
	Config struct {
		User   string
		Labels map[string]string
	}
	HostConfig struct {
		Privileged     bool
		CapDrop        []string
		CapAdd         []string
		ReadonlyRootfs bool
		SecurityOpt    []string
		Memory         int64
		MemorySwap     int64
		NanoCpus       int64
		PidsLimit      *int64
		NetworkMode    string
		PortBindings   map[string][]struct{ HostIp, HostPort string }
	}
	Mounts []struct {
		Type, Source, Destination string
		RW                        bool
	}
}

// Inspect runs `docker inspect` on a container.
func Inspect(tb testing.TB, id string) Inspected {
	tb.Helper()
	out, err := exec.Command("docker", "inspect", id).Output()
	if err != nil {
		tb.Fatalf("docker inspect %s: %v", id, err)
	}
	return decodeInspect(tb, id, out)
}

func decodeInspect(tb testing.TB, id string, out []byte) Inspected {
	tb.Helper()
	var got []Inspected
	if err := json.Unmarshal(out, &got); err != nil || len(got) != 1 {
		tb.Fatalf("docker inspect %s: %v (%d results)", id, err, len(got))
	}
	return got[0]
}

// LockedDown fails tb unless the container has the lockdown every Tern
// container gets: not privileged, every capability dropped, a read-only
// root, no-new-privileges, memory and pids limits, no docker.sock mount,
// a non-root user, and ports (if any) on 127.0.0.1 only.
func LockedDown(tb testing.TB, id string) Inspected {
	tb.Helper()
	return LockedDownInfo(tb, id, Inspect(tb, id))
}

// LockedDownInfo is LockedDown for a container inspected elsewhere (on a
// second engine: Engine.Inspect).
func LockedDownInfo(tb testing.TB, id string, info Inspected) Inspected {
	tb.Helper()
	hc := info.HostConfig
	check := func(ok bool, what string) {
		tb.Helper()
		if !ok {
			tb.Errorf("container %s: %s", id, what)
		}
	}
	check(!hc.Privileged, "privileged")
	check(len(hc.CapDrop) == 1 && hc.CapDrop[0] == "ALL", "capabilities not all dropped")
	check(len(hc.CapAdd) == 0, "capabilities added")
	check(hc.ReadonlyRootfs, "root filesystem writable")
	found := false
	for _, o := range hc.SecurityOpt {
		found = found || o == "no-new-privileges"
	}
	check(found, "no no-new-privileges")
	check(hc.Memory > 0, "no memory limit")
	check(hc.PidsLimit != nil && *hc.PidsLimit > 0, "no pids limit")
	for _, m := range info.Mounts {
		check(!strings.Contains(m.Source, "docker.sock"), "docker.sock mounted")
	}
	u := info.Config.User
	check(u != "" && u != "root" && u != "0" && !strings.HasPrefix(u, "0:"), "runs as root")
	for port, bs := range hc.PortBindings {
		for _, b := range bs {
			check(b.HostIp == "127.0.0.1", "port "+port+" published beyond 127.0.0.1")
		}
	}
	return info
}
