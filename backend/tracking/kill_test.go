package tracking

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const batchPts = 500

// TestWriterProcess is not a test on its own: TestKillMidIngest runs this
// binary again with TERN_KILL_WRITER set, and it ingests batches until
// killed, printing "ACK n" once batch n is committed.
func TestWriterProcess(t *testing.T) {
	dir := os.Getenv("TERN_KILL_WRITER")
	if dir == "" {
		t.Skip("helper process for TestKillMidIngest")
	}
	st, s := openAt(t, dir)
	defer st.Close()
	runID := os.Getenv("TERN_KILL_RUN")
	first, _ := strconv.Atoi(os.Getenv("TERN_KILL_FIRST"))
	out := bufio.NewWriter(os.Stdout)
	for n := first; ; n++ {
		ms := make([]Metric, batchPts)
		for j := range ms {
			ms[j] = Metric{Key: "loss", Value: Float(n), Step: int64(n*batchPts + j), Timestamp: 1}
		}
		if err := s.LogBatch(runID, Batch{Metrics: ms, Params: []Param{{"p" + strconv.Itoa(n), "v"}}}); err != nil {
			fmt.Fprintln(out, "ERR", err)
			out.Flush()
			return
		}
		fmt.Fprintln(out, "ACK", n)
		out.Flush()
	}
}

func TestKillMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	st, s := openAt(t, dir)
	r, err := s.CreateRun(RunSpec{Name: "victim"})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	acked := map[int]bool{}
	next := 0
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TERN_KILL_WRITER="+dir, "TERN_KILL_RUN="+r.ID, "TERN_KILL_FIRST="+strconv.Itoa(next))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(stdout)
		killAt := 20 + round*15
		seen := 0
		killed := false
		deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "ACK "); ok {
				i, _ := strconv.Atoi(n)
				acked[i] = true
				next = i + 1
				seen++
			} else if strings.HasPrefix(line, "ERR") {
				t.Fatalf("writer failed: %s", line)
			}
			if seen == killAt && !killed {
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				killed = true
			}
		}
		deadline.Stop()
		_ = cmd.Wait()
		require.True(t, killed, "writer stopped before it was killed")
		next++ // the batch in flight may or may not have landed; skip its number

		st, s := openAt(t, dir)
		h, err := s.MetricHistory(r.ID, "loss")
		require.NoError(t, err)
		per := map[int]int{}
		for _, p := range h {
			per[int(p.Value)]++
		}
		for n := range acked {
			assert.Equal(t, batchPts, per[n], "acknowledged batch %d is complete", n)
		}
		for n, c := range per {
			assert.Equal(t, batchPts, c, "batch %d is whole, never torn", n)
		}
		got, err := s.GetRun(r.ID)
		require.NoError(t, err)
		for n := range acked {
			assert.Contains(t, got.Params, "p"+strconv.Itoa(n))
		}
		require.NoError(t, st.Close())
	}
	assert.GreaterOrEqual(t, len(acked), 20+35+50)
}
