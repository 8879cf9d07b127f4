package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/tern-studio/tern/backend/core"
)

// TokenFile is where the access token lives under the data dir, readable
// only by its owner, so local scripts (MLflow clients) can pick it up.
const TokenFile = "api.token"

// NewToken returns 32 random bytes, hex encoded.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// LoadOrCreateToken reads dataDir/api.token, or writes a new random one
// (mode 0600) when it is missing or rotate is set.
func LoadOrCreateToken(dataDir string, rotate bool) (string, error) {
	p := filepath.Join(dataDir, TokenFile)
	if !rotate {
		b, err := os.ReadFile(p)
		if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
			return strings.TrimSpace(string(b)), nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", core.Wrap(err, core.Unavailable, "Tern cannot read its access token file %s.", p)
		}
	}
	tok := NewToken()
	tmp, err := os.CreateTemp(dataDir, ".token-*")
	if err != nil {
		return "", core.Wrap(err, core.Unavailable, "Tern cannot write its access token in %s.", dataDir)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.WriteString(tok + "\n")
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), p)
		}
		if err == nil {
			return tok, nil
		}
	}
	tmp.Close()
	return "", core.Errorf(core.Unavailable, "Tern cannot write its access token in %s.", dataDir)
}
