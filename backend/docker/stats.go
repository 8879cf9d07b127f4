package docker

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Sample is one reading of a container's resource use.
type Sample struct {
	// CPUPercent is the share of one CPU used since the last reading
	// (200 is two CPUs busy), as `docker stats` reports it.
	CPUPercent float64
	// MemoryMB is the memory in use without the page cache
	// (inactive_file), as `docker stats` reports it.
	MemoryMB float64
	// MemoryPercent is MemoryMB of the container's limit.
	MemoryPercent float64
}

// Stats streams a container's resource use, a sample about every second
// (the engine's pace), until the container stops or ctx ends.
func (c *Client) Stats(ctx context.Context, id string, fn func(Sample)) error {
	if c == nil {
		return ErrNoEngine
	}
	res, err := c.api.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		if s.Read.IsZero() || s.MemoryStats.Usage == 0 && s.CPUStats.CPUUsage.TotalUsage == 0 {
			continue // the container has stopped: an empty reading
		}
		fn(sampleOf(s))
	}
}

// sampleOf computes what `docker stats` shows from one reading.
func sampleOf(s container.StatsResponse) Sample {
	var out Sample
	cpu := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sys := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	cpus := float64(s.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpu > 0 && sys > 0 {
		out.CPUPercent = cpu / sys * cpus * 100
	}
	used := s.MemoryStats.Usage
	if cache, ok := s.MemoryStats.Stats["inactive_file"]; ok && cache < used {
		used -= cache // cgroup v2
	} else if cache, ok := s.MemoryStats.Stats["total_inactive_file"]; ok && cache < used {
		used -= cache // cgroup v1
	}
	out.MemoryMB = float64(used) / (1 << 20)
	if s.MemoryStats.Limit > 0 {
		out.MemoryPercent = float64(used) / float64(s.MemoryStats.Limit) * 100
	}
	return out
}
