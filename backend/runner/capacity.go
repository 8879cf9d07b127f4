package runner

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Capacity is what this runner can run at once: its job slots and the
// machine's cores and memory. The engine is local (a Docker engine on this
// machine, or local processes), so the host's figures are the engine's.
type Capacity struct {
	// Slots is how many jobs run at once; more are queued.
	Slots int `json:"slots"`
	CPUs  int `json:"cpus"`
	// MemoryMB is the machine's memory, 0 when unknown.
	MemoryMB int `json:"memoryMb"`
}

// Capacity reports the runner's slots and the machine's cores and memory.
func (r *Runner) Capacity() Capacity {
	return Capacity{Slots: r.cfg.Limit, CPUs: runtime.NumCPU(), MemoryMB: memTotalMB()}
}

// memTotalMB reads MemTotal from /proc/meminfo (Linux); 0 elsewhere.
func memTotalMB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024
		}
	}
	return 0
}
