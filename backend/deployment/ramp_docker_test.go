package deployment

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
)

// faultBinary builds testdata/faultserve with a fault mode: the real
// scoring server that answers errors or slowly.
func faultBinary(t *testing.T, mode string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "faultserve")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.mode="+mode, "-o", out, "./backend/deployment/testdata/faultserve")
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	bin, err := os.ReadFile(out)
	require.NoError(t, err)
	return bin
}

// byVersion launches each version with its own launcher (the candidate
// from a faulty image), the rest with the default one.
type byVersion struct {
	Launcher
	for_ map[int]Launcher
}

func (b byVersion) pick(v int) Launcher {
	if l := b.for_[v]; l != nil {
		return l
	}
	return b.Launcher
}
func (b byVersion) Launch(ctx context.Context, s Spec) (Instance, error) {
	return b.pick(s.Version).Launch(ctx, s)
}
func (b byVersion) Stop(ctx context.Context, inst Instance) error {
	return b.pick(inst.Version).Stop(ctx, inst)
}

// Ramps with the real Docker engine: each version in its own locked-down
// container, traffic through the router the whole time. A good candidate
// ramps to 100 % and becomes @champion; one that answers errors and one
// that answers slowly are rolled back by the watch, and no client request
// fails in any of them.
func TestDockerRamps(t *testing.T) {
	dl, _ := dockerLauncher(t)
	for _, tc := range []struct {
		name, mode string
		want       string
		word       string
	}{
		{"good", "", RampPromoted, ""},
		{"errors", "errors", RampRolledBack, "Errors:"},
		{"slow", "slow", RampRolledBack, "Latency:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var l Launcher = dl
			if tc.mode != "" {
				bin := faultBinary(t, tc.mode)
				faulty := *dl
				faulty.Binary = func() ([]byte, error) { return bin, nil }
				l = byVersion{Launcher: dl, for_: map[int]Launcher{2: &faulty}}
			}
			svc := rampService(f, l)
			ctx := t.Context()
			d, err := svc.Deploy(ctx, "fraud", "1", Options{})
			require.NoError(t, err)
			t.Cleanup(func() { svc.Delete(context.Background(), d.ID); svc.Close() })
			_, err = f.reg.SetAliases("fraud", map[string]int{"champion": 1, "challenger": 2})
			require.NoError(t, err)

			ld := startLoad(t, d.Endpoint, 4)
			plan := testPlan()
			plan.Stages = []Stage{{Percent: 10, Requests: 60}, {Percent: 50, Requests: 60}}
			r, err := svc.StartRamp(ctx, d.ID, "@challenger", plan)
			require.NoError(t, err)
			assert.Equal(t, "docker", d.Backends[0].Target)
			wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			r, err = svc.WaitRamp(wctx, r.ID)
			require.NoError(t, err)
			ld.assertNoFailures(t)
			require.Equal(t, tc.want, r.State, r.Reason)
			m, err := f.reg.Get("fraud")
			require.NoError(t, err)
			if tc.want == RampPromoted {
				assert.Equal(t, 2, m.Aliases["champion"])
				assert.Equal(t, 40, servedBy(t, d.Endpoint, "v2", 40))
				return
			}
			t.Log(r.Reason)
			assert.Contains(t, r.Reason, tc.word)
			assert.Equal(t, 1, m.Aliases["champion"])
			assert.Equal(t, 40, servedBy(t, d.Endpoint, "v1", 40))
		})
	}
}
