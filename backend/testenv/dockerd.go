package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Engine is a second Docker engine a test started for itself: a stand-in
// for a remote host. It has its own data root, exec root, pidfile and
// bridge, listens only on a loopback TCP port with TLS client
// certificates the test generated, and runs in its own mount namespace
// where the laptop's paths (/tmp, /work, /home, /root) are empty tmpfs: a
// bind mount of a laptop path cannot reach the laptop's files.
type Engine struct {
	// Host is "tcp://127.0.0.1:<port>".
	Host string
	// CertDir holds the client's ca.pem, cert.pem and key.pem (the Docker
	// CLI's DOCKER_CERT_PATH layout).
	CertDir string
	// WrongCA holds the same client certificate with the CA of another
	// engine: the client does not trust this engine's certificate.
	WrongCA string
	// Stranger holds this engine's CA and a client certificate another
	// CA signed: the client trusts the engine, the engine refuses it.
	Stranger string

	tb      testing.TB
	root    string // data root, server certificates, log
	exec    string // exec root
	bridge  string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// SecondDocker starts a second Docker engine for the test and stops and
// removes it (its containers, bridge and directories) at the end. Needs
// root, dockerd, unshare and ip on Linux: skipped without them on a
// developer's machine, a failure in CI. Its bridge is made by the test
// (never --bridge=none: with it dockerd deletes the host's docker0).
func SecondDocker(tb testing.TB) *Engine {
	tb.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		missing(tb, "root on Linux (to start a second Docker engine)")
	}
	for _, bin := range []string{"dockerd", "unshare", "ip", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing(tb, bin+" (for a second Docker engine)")
		}
	}
	n := mrand.IntN(1 << 20)
	e := &Engine{tb: tb,
		root: fmt.Sprintf("/var/lib/tern-e2e-%d", n),
		// The exec root holds containerd's sockets, whose paths must stay
		// short (108 bytes): not under a test's temporary directory.
		exec: fmt.Sprintf("/run/tern-e2e-%d", n)}
	e.logPath = filepath.Join(e.root, "dockerd.log")
	tb.Cleanup(e.cleanup)
	if err := os.MkdirAll(e.root, 0o700); err != nil {
		tb.Fatal(err)
	}
	e.makeBridge()
	e.makeCerts()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	e.Host = fmt.Sprintf("tcp://127.0.0.1:%d", e.port)
	e.Start()
	return e
}

// ClosedPort is the address (tcp://127.0.0.1:port) of a loopback port
// nothing listens on.
func ClosedPort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "tcp://" + addr
}

// makeBridge creates the engine's own bridge on a /24 no interface uses.
func (e *Engine) makeBridge() {
	tb := e.tb
	for try := 0; try < 20; try++ {
		k := 1 + mrand.IntN(250)
		name := fmt.Sprintf("tern-e2e%d", mrand.IntN(1e6))
		cidr := fmt.Sprintf("10.231.%d.1/24", k)
		addrs, _ := exec.Command("ip", "-4", "addr").Output()
		if strings.Contains(string(addrs), fmt.Sprintf("10.231.%d.", k)) {
			continue
		}
		if exec.Command("ip", "link", "add", name, "type", "bridge").Run() != nil {
			continue
		}
		e.bridge = name
		for _, args := range [][]string{{"addr", "add", cidr, "dev", name}, {"link", "set", name, "up"}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		return
	}
	tb.Fatal("could not create a bridge for the second engine")
}

// Start starts the engine (again, after Kill) and waits until it answers.
func (e *Engine) Start() {
	tb := e.tb
	tb.Helper()
	tlsDir := filepath.Join(e.root, "tls")
	dockerd := strings.Join([]string{"exec dockerd",
		"--data-root", e.root + "/data", "--exec-root", e.exec, "--pidfile", e.exec + ".pid",
		"--bridge", e.bridge, "--iptables=false", "--ip6tables=false",
		"-H", e.Host, "--tlsverify", "--tlscacert", tlsDir + "/ca.pem",
		"--tlscert", tlsDir + "/server-cert.pem", "--tlskey", tlsDir + "/server-key.pem",
		// Not the host's config file or the host's containerd.
		"--config-file", tlsDir + "/daemon.json",
	}, " ")
	if err := os.WriteFile(filepath.Join(tlsDir, "daemon.json"), []byte("{}"), 0o600); err != nil {
		tb.Fatal(err)
	}
	// Laptop paths become empty in the engine's mount namespace. The
	// propagation is private, so nothing mounted there leaks out and the
	// directories can be removed from outside once it stops.
	script := "set -e; for d in /tmp /work /home /root; do if [ -d $d ]; then mount -t tmpfs tern-e2e $d; fi; done; " + dockerd
	logf, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	e.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start the second dockerd: %v", err)
	}
	e.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}(e.cmd, e.exited)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if e.ping() == nil {
			return
		}
		select {
		case <-e.exited:
			tb.Fatalf("the second dockerd exited:\n%s", e.logTail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the second dockerd did not answer in 60 s:\n%s", e.logTail())
		}
	}
}

// ping asks the engine's /_ping with the client certificate.
func (e *Engine) ping() error {
	cfg, err := e.clientTLS()
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/_ping", e.port))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping: %s", resp.Status)
	}
	return nil
}

func (e *Engine) clientTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.CertDir, "cert.pem"), filepath.Join(e.CertDir, "key.pem"))
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(e.CertDir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}

// Kill stops the engine at once (SIGKILL), as a crash or a pulled cable
// would; Start brings it back.
func (e *Engine) Kill() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	<-e.exited
	e.cmd = nil
}

// CLI runs the docker CLI against the engine and returns its output; the
// test fails if it fails. Checks read through the CLI, not through the
// adapter they check.
func (e *Engine) CLI(args ...string) string {
	e.tb.Helper()
	out, err := e.cli(args...)
	if err != nil {
		e.tb.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *Engine) cli(args ...string) (string, error) {
	full := append([]string{"--host", e.Host, "--tlsverify", "--tlscacert", filepath.Join(e.CertDir, "ca.pem"),
		"--tlscert", filepath.Join(e.CertDir, "cert.pem"), "--tlskey", filepath.Join(e.CertDir, "key.pem")}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", full...).CombinedOutput()
	return string(out), err
}

// LoadImage copies an image from the first engine to this one (docker save
// | docker load): there is no registry to pull from.
func (e *Engine) LoadImage(ref string) {
	e.tb.Helper()
	cmd := fmt.Sprintf("docker save %s | docker --host %s --tlsverify --tlscacert %s/ca.pem --tlscert %s/cert.pem --tlskey %s/key.pem load",
		ref, e.Host, e.CertDir, e.CertDir, e.CertDir)
	if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
		e.tb.Fatalf("copy image %s to the second engine: %v: %s", ref, err, out)
	}
}

// Inspect is `docker inspect` of a container on this engine.
func (e *Engine) Inspect(id string) Inspected {
	e.tb.Helper()
	return decodeInspect(e.tb, id, []byte(e.CLI("inspect", id)))
}

func (e *Engine) logTail() string {
	b, _ := os.ReadFile(e.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// cleanup removes every container, stops the engine and removes its
// bridge and directories.
func (e *Engine) cleanup() {
	if e.cmd != nil {
		if ids, err := e.cli("ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
			_, _ = e.cli(append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
		}
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
			<-e.exited
		}
	}
	// A managed containerd left by a killed dockerd goes with its pidfile.
	if b, err := os.ReadFile(filepath.Join(e.exec, "containerd", "containerd.pid")); err == nil {
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if e.bridge != "" {
		_ = exec.Command("ip", "link", "del", e.bridge).Run()
	}
	for _, d := range []string{e.root, e.exec, e.exec + ".pid"} {
		if err := os.RemoveAll(d); err != nil {
			e.tb.Errorf("remove %s: %v", d, err)
		}
	}
}

// Certs writes a new CA and a client certificate it signed into a
// folder (ca.pem, cert.pem, key.pem), for checks that read certificates
// without dialling an engine.
func Certs(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	ca, caKey := newCA(tb, "tern-test CA")
	cert, key := leaf(tb, ca, caKey, "tern-client", x509.ExtKeyUsageClientAuth)
	writePEM(tb, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	writePEM(tb, dir, "cert.pem", "CERTIFICATE", cert)
	writePEM(tb, dir, "key.pem", "EC PRIVATE KEY", key)
	return dir
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// makeCerts writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, plus the wrong ones the error tests use.
func (e *Engine) makeCerts() {
	tb := e.tb
	tlsDir := filepath.Join(e.root, "tls")
	ca, caKey := newCA(tb, "tern-e2e CA")
	other, otherKey := newCA(tb, "another CA")
	srv, srvKey := leaf(tb, ca, caKey, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	cli, cliKey := leaf(tb, ca, caKey, "tern-client", x509.ExtKeyUsageClientAuth)
	str, strKey := leaf(tb, other, otherKey, "stranger", x509.ExtKeyUsageClientAuth)
	e.CertDir = filepath.Join(e.root, "client")
	e.WrongCA = filepath.Join(e.root, "wrong-ca")
	e.Stranger = filepath.Join(e.root, "stranger")
	write := func(dir, name, typ string, der []byte) { writePEM(tb, dir, name, typ, der) }
	write(tlsDir, "ca.pem", "CERTIFICATE", ca.Raw)
	write(tlsDir, "server-cert.pem", "CERTIFICATE", srv)
	write(tlsDir, "server-key.pem", "EC PRIVATE KEY", srvKey)
	for dir, files := range map[string][3][]byte{
		e.CertDir:  {ca.Raw, cli, cliKey},
		e.WrongCA:  {other.Raw, cli, cliKey},
		e.Stranger: {ca.Raw, str, strKey},
	} {
		write(dir, "ca.pem", "CERTIFICATE", files[0])
		write(dir, "cert.pem", "CERTIFICATE", files[1])
		write(dir, "key.pem", "EC PRIVATE KEY", files[2])
	}
}

func newCA(tb testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(mrand.Int64()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

// leaf signs a certificate for name (an IP address for a server).
func leaf(tb testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) (cert, key []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(mrand.Int64()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return der, kb
}
