package router

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
)

// Every answer carries a request ID (the caller's when sane, else a new
// one), the log keeps it, and the key-only index finds the live record.
func TestRouterRequestIDLoggedAndIndexed(t *testing.T) {
	st := store.MustOpen(t)
	log := predlog.New(st, predlog.Options{})
	a, shadow := newFake(t, "1"), newFake(t, "2")
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": shadow}, Traffic{Split: []Split{{"v1", 100}}, Shadow: "v2"}, Options{Log: log})

	send := func(id string) string {
		req, _ := http.NewRequest("POST", ts.URL+"/invocations", strings.NewReader(`{"instances":[[1]]}`))
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.Header.Set(core.RequestIDHeader, id)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		return resp.Header.Get(core.RequestIDHeader)
	}
	assert.Equal(t, "caller-7", send("caller-7"))
	made := send("")
	assert.Len(t, made, 26)
	bad := send(strings.Repeat("y", 200))
	assert.Len(t, bad, 26, "an over-long ID is replaced")
	assert.NotEqual(t, made, bad)
	r.Close() // waits for shadow copies
	log.Close()

	got, err := predlog.LookupRequests(st, "dep1", []string{"caller-7", made, bad, "nope", ""})
	require.NoError(t, err)
	require.Len(t, got, 3)
	for _, id := range []string{"caller-7", made, bad} {
		assert.Equal(t, id, got[id].RequestID)
		assert.False(t, got[id].Shadow, "the index points at the live answer")
		assert.Equal(t, "v1", got[id].Backend)
		assert.JSONEq(t, `{"instances":[[1]]}`, string(got[id].Request))
	}
	other, err := predlog.LookupRequests(st, "dep2", []string{"caller-7"})
	require.NoError(t, err)
	assert.Empty(t, other, "IDs are per deployment")
}
