package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/testenv"
)

func open(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{GCInterval: -1})
	require.NoError(t, err)
	return st
}

// certDir writes a folder with a real certificate and key (any will do
// for the checks that do not dial).
func certDir(t *testing.T) string {
	t.Helper()
	return testenv.Certs(t)
}

// TestAddCheckRemove: names, addresses and certificate folders are checked
// in words; the list survives a restart; changes are audited.
func TestAddCheckRemove(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir)
	s := New(st, nil, "unix:///var/run/docker.sock")
	certs := certDir(t)

	bad := []struct {
		e    Engine
		code core.Code
		says string
	}{
		{Engine{Name: "", Host: "tcp://10.0.0.2:2376", CertDir: certs}, core.Invalid, "name"},
		{Engine{Name: "has space", Host: "tcp://10.0.0.2:2376", CertDir: certs}, core.Invalid, "name"},
		{Engine{Name: "local", Host: "tcp://10.0.0.2:2376", CertDir: certs}, core.Conflict, "this machine"},
		{Engine{Name: "gpu", Host: "10.0.0.2", CertDir: certs}, core.Invalid, "tcp://host:2376"},
		{Engine{Name: "gpu", Host: "tcp://10.0.0.2", CertDir: certs}, core.Invalid, "no port"},
		{Engine{Name: "gpu", Host: "ssh://me@gpu", CertDir: certs}, core.Invalid, "SSH"},
		{Engine{Name: "gpu", Host: "tcp://10.0.0.2:2376"}, core.Invalid, "plain TCP"},
		{Engine{Name: "gpu", Host: "tcp://10.0.0.2:2376", CertDir: t.TempDir()}, core.Invalid, "no ca.pem"},
	}
	for _, b := range bad {
		_, err := s.Add(b.e)
		require.Error(t, err, "%+v", b.e)
		assert.Equal(t, b.code, core.ErrorCode(err), "%+v: %v", b.e, err)
		assert.Contains(t, err.Error(), b.says, "%+v", b.e)
	}
	// A key that is not the certificate's is refused too.
	mismatched := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem"} {
		b, err := os.ReadFile(filepath.Join(certs, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(mismatched, f), b, 0o600))
	}
	other := certDir(t)
	b, err := os.ReadFile(filepath.Join(other, "key.pem"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(mismatched, "key.pem"), b, 0o600))
	_, err = s.Add(Engine{Name: "gpu", Host: "tcp://10.0.0.2:2376", CertDir: mismatched})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a certificate and its key")

	_, err = s.Add(Engine{Name: "workstation", Host: "tcp://10.0.0.3:2376", CertDir: certs})
	require.NoError(t, err)
	_, err = s.Add(Engine{Name: "gpu-box", Host: "tcp://10.0.0.2:2376", CertDir: certs})
	require.NoError(t, err)
	_, err = s.Add(Engine{Name: "gpu-box", Host: "tcp://10.0.0.9:2376", CertDir: certs})
	assert.Equal(t, core.Conflict, core.ErrorCode(err))

	require.NoError(t, st.Close())
	st = open(t, dir)
	defer st.Close()
	s = New(st, nil, "unix:///var/run/docker.sock")
	list, err := s.List()
	require.NoError(t, err)
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"local", "gpu-box", "workstation"}, names, "the local engine first, then by name")
	assert.True(t, list[0].Local)
	assert.Equal(t, "tcp://10.0.0.2:2376", list[1].Host)

	assert.Equal(t, core.Invalid, core.ErrorCode(s.Remove(Local)))
	assert.Equal(t, core.NotFound, core.ErrorCode(s.Remove("nope")))
	require.NoError(t, s.Remove("workstation"))
	_, err = s.Get("workstation")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	_, err = s.Client("workstation")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))

	l, err := audit.Open(st)
	require.NoError(t, err)
	defer l.Close()
	recs, err := l.List(audit.Query{Action: "engine"})
	require.NoError(t, err)
	var actions []string
	for _, r := range slices.Backward(recs) {
		actions = append(actions, r.Action+" "+r.Objects[0].ID)
	}
	assert.Equal(t, []string{"engine.add workstation", "engine.add gpu-box", "engine.remove workstation"}, actions)
}

// TestHealthInWords: a second engine the test starts answers with its
// CPUs, memory and version; a refused connection and the two wrong
// certificates (the engine's not signed by our CA, ours refused by the
// engine) each come back as a sentence naming the engine.
func TestHealthInWords(t *testing.T) {
	second := testenv.SecondDocker(t)
	st := open(t, t.TempDir())
	defer st.Close()
	s := New(st, nil, "")

	closed := testenv.ClosedPort(t)
	for _, e := range []Engine{
		{Name: "second", Host: second.Host, CertDir: second.CertDir},
		{Name: "wrong-ca", Host: second.Host, CertDir: second.WrongCA},
		{Name: "stranger", Host: second.Host, CertDir: second.Stranger},
		{Name: "refused", Host: closed, CertDir: second.CertDir},
	} {
		_, err := s.Add(e)
		require.NoError(t, err)
	}

	h, err := s.Test(t.Context(), "second")
	require.NoError(t, err)
	require.True(t, h.OK, h.Error)
	assert.Positive(t, h.Info.CPUs)
	assert.Positive(t, h.Info.MemoryBytes)
	assert.NotEmpty(t, h.Info.Version)
	assert.Positive(t, h.LatencyMs)

	want := map[string][]string{
		"wrong-ca": {`Engine "wrong-ca" at ` + second.Host, "CA in its certificate folder (ca.pem) did not sign"},
		"stranger": {`Engine "stranger" at ` + second.Host, "refused Tern's client certificate"},
		"refused":  {`Engine "refused" at ` + closed, "refused the connection"},
	}
	for name, says := range want {
		h, err := s.Test(t.Context(), name)
		require.NoError(t, err)
		assert.False(t, h.OK, name)
		for _, w := range says {
			assert.Contains(t, h.Error, w, name)
		}
		assert.NotContains(t, strings.ToLower(h.Error), "x509:", "%s: the sentence is Tern's, not Go's", name)
	}

	all, err := s.Health(t.Context())
	require.NoError(t, err)
	require.Len(t, all, 5)
	ok := map[string]bool{}
	for _, h := range all {
		ok[h.Engine.Name] = h.OK
	}
	assert.Equal(t, map[string]bool{"local": ok["local"], "second": true, "wrong-ca": false, "stranger": false, "refused": false}, ok)
}
