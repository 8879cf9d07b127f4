package docker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"

	"github.com/tern-studio/tern/backend/core"
)

// TLS files in a certificate folder, named as the Docker CLI names them
// in DOCKER_CERT_PATH, so a folder made for `docker --tlsverify` works.
var certFiles = []string{"ca.pem", "cert.pem", "key.pem"}

// CheckRemote says in words what is wrong with a remote engine's address
// and certificate folder, before anything is dialled. Only TCP with TLS
// client certificates is accepted: the Docker API over plain TCP lets
// anyone who reaches the port run anything as root on that host.
func CheckRemote(host, certDir string) error {
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return core.Errorf(core.Invalid, "%q is not an engine address; write it as tcp://host:2376.", host)
	}
	switch u.Scheme {
	case "tcp":
	case "ssh":
		return core.Errorf(core.Invalid, "SSH engines are not supported yet; expose the engine on TCP with TLS (dockerd --tlsverify) and give its certificate folder.")
	default:
		return core.Errorf(core.Invalid, "%q is not an engine address; write it as tcp://host:2376.", host)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
		return core.Errorf(core.Invalid, "%q has no port; Docker over TLS usually listens on 2376 (tcp://host:2376).", host)
	}
	if certDir == "" {
		return core.Errorf(core.Invalid, "A remote engine needs a folder with its TLS client certificates (ca.pem, cert.pem, key.pem): Docker over plain TCP would let anyone on the network control that host.")
	}
	for _, f := range certFiles {
		if _, err := os.Stat(filepath.Join(certDir, f)); err != nil {
			return core.Errorf(core.Invalid, "The certificate folder %s has no %s (it needs ca.pem, cert.pem and key.pem, as `docker --tlsverify` does).", certDir, f)
		}
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")); err != nil {
		return core.Errorf(core.Invalid, "cert.pem and key.pem in %s are not a certificate and its key: %v", certDir, err)
	}
	return nil
}

// ConnectRemote makes a client for an engine at host (tcp://host:port)
// that speaks TLS and asks for the client certificate in certDir. Like
// Connect it does not dial.
func ConnectRemote(name, host, certDir string) (*Client, error) {
	if err := CheckRemote(host, certDir); err != nil {
		return nil, err
	}
	c, err := client.New(client.WithHost(host),
		client.WithTLSClientConfig(filepath.Join(certDir, "ca.pem"), filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")),
		client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, core.Wrap(err, core.Invalid, "Cannot use the certificates in %s: %v", certDir, err)
	}
	return &Client{api: c, name: name, host: host}, nil
}

// explain gives a remote engine's errors in words (Explain); the local
// engine's come back as they are.
func (c *Client) explain(ctx context.Context, err error) error {
	if err == nil || c.name == "" {
		return err
	}
	if client.IsErrConnectionFailed(err) {
		// The SDK says only "Cannot connect" for a refusal and a timeout
		// alike: dial once to tell which.
		if u, perr := url.Parse(c.host); perr == nil {
			d := net.Dialer{Timeout: 3 * time.Second}
			conn, derr := d.DialContext(context.WithoutCancel(ctx), "tcp", u.Host)
			if derr != nil {
				err = derr
			} else {
				conn.Close()
			}
		}
	}
	return Explain(c.name, c.host, err)
}

// Info is what an engine says about itself.
type Info struct {
	Version     string `json:"version"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	CPUs        int    `json:"cpus"`
	MemoryBytes int64  `json:"memoryBytes"`
	// Hostname is the engine host's name.
	Hostname   string `json:"hostname"`
	Containers int    `json:"containers"`
	Images     int    `json:"images"`
}

// Info asks the engine about itself, with a 5 s limit.
func (c *Client) Info(ctx context.Context) (Info, error) {
	if c == nil {
		return Info{}, ErrNoEngine
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Info{}, c.explain(ctx, err)
	}
	i := r.Info
	return Info{Version: i.ServerVersion, OS: i.OperatingSystem, Arch: i.Architecture, CPUs: i.NCPU,
		MemoryBytes: i.MemTotal, Hostname: i.Name, Containers: i.Containers, Images: i.Images}, nil
}

// Explain turns an error from talking to the engine called name (at host)
// into a sentence that names it and says what to check. Errors that are
// not about reaching the engine come back as they were.
func Explain(name, host string, err error) error {
	if err == nil {
		return nil
	}
	var done *core.Error
	if errors.As(err, &done) {
		return err
	}
	msg := err.Error()
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, ErrNoEngine):
		return core.Wrap(err, core.Unavailable, "Engine %q is not configured.", name)
	case errors.As(err, &unknownCA):
		return core.Wrap(err, core.Unavailable, "Engine %q at %s has a certificate that the CA in its certificate folder (ca.pem) did not sign: either the folder is for another engine or someone else is answering at that address.", name, host)
	case errors.As(err, &hostname):
		return core.Wrap(err, core.Unavailable, "Engine %q: its certificate is not for %s (%v). Use the address the certificate was made for.", name, host, hostname.Error())
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return core.Wrap(err, core.Unavailable, "Engine %q at %s has an expired (or not yet valid) certificate; renew it on that host.", name, host)
		}
		return core.Wrap(err, core.Unavailable, "Engine %q at %s has a certificate Tern cannot accept: %v.", name, host, invalid.Error())
	case strings.Contains(msg, "remote error: tls: expired certificate"):
		return core.Wrap(err, core.Unavailable, "Engine %q at %s refused Tern's client certificate because it has expired; make a new one (cert.pem, key.pem) for this engine.", name, host)
	case strings.Contains(msg, "remote error: tls:"):
		return core.Wrap(err, core.Unavailable, "Engine %q at %s refused Tern's client certificate (cert.pem): it was not signed by a CA that engine trusts. Use the client certificate made for this engine.", name, host)
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return core.Wrap(err, core.Unavailable, "Engine %q at %s does not speak TLS on that port; start dockerd there with --tlsverify, or check the port.", name, host)
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(msg, "connection refused"):
		return core.Wrap(err, core.Unavailable, "Engine %q at %s refused the connection: nothing listens on that port. Is dockerd running there, listening on TCP?", name, host)
	case errors.As(err, &dnsErr):
		return core.Wrap(err, core.Unavailable, "Engine %q: the host name in %s is not known (%s).", name, host, dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) || isTimeout(err):
		return core.Wrap(err, core.Unavailable, "Engine %q at %s did not answer in time: the host may be down or a firewall drops the connection.", name, host)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return core.Wrap(err, core.Unavailable, "Engine %q at %s cannot be reached from this machine (no route to the host).", name, host)
	case strings.Contains(msg, "Cannot connect to the Docker daemon") || strings.Contains(msg, "connection reset") || errors.Is(err, syscall.ECONNRESET):
		return core.Wrap(err, core.Unavailable, "Engine %q at %s cannot be reached: %v", name, host, err)
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
