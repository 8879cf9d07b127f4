package atrest

import (
	"os"
	"path/filepath"

	"github.com/tern-studio/tern/backend/core"
)

// PassphraseEnv is the environment variable a passphrase-encrypted data
// dir is unlocked with at start (`tern serve` on a headless machine, a
// desktop launched from a script).
const PassphraseEnv = "TERN_PASSPHRASE"

// EnvSecret unlocks from the environment: the keyring needs nothing, a
// passphrase comes from PassphraseEnv.
func EnvSecret(kf *KeyFile) (Secret, error) {
	if kf.KEK.Kind == Keyring {
		return Secret{Kind: Keyring}, nil
	}
	p := os.Getenv(PassphraseEnv)
	if p == "" {
		return Secret{}, core.Errorf(core.Unavailable,
			"This data folder is encrypted with a passphrase. Start Tern with the passphrase in the %s environment variable.", PassphraseEnv)
	}
	return Secret{Kind: Passphrase, Passphrase: p}, nil
}

// InitEmpty encrypts a data dir that holds no data yet (first start with
// encryption chosen): the key file is written and that is all, since
// there is nothing to migrate. A data dir with data is refused: use
// Prepare, which copies it.
func InitEmpty(dataDir string, s Secret) (*Keys, error) {
	if kf, err := ReadKeyFile(dataDir); err != nil || kf != nil {
		if err != nil {
			return nil, err
		}
		return nil, core.Errorf(core.Conflict, "This data folder is already encrypted.")
	}
	for _, t := range Trees {
		if ents, err := os.ReadDir(filepath.Join(dataDir, t)); err == nil && len(ents) > 0 {
			return nil, core.Errorf(core.Conflict, "This data folder already holds data; encrypt it from Settings → Data, which migrates it.")
		}
	}
	kf, keys, err := NewKeyFile(s)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot create its data folder %s.", dataDir)
	}
	if err := writeJSONAtomic(filepath.Join(dataDir, KeyFileName), kf); err != nil {
		kf.KEK.dropSecret()
		return nil, core.Wrap(err, core.Unavailable, "Tern could not write %s: %v", KeyFileName, err)
	}
	return keys, nil
}
