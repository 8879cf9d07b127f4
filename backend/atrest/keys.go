// Package atrest keeps a data dir encrypted at rest: the key file that
// says how its data key is unlocked (a passphrase through argon2id, or a
// secret in the operating system's keyring), the keys handed to the store
// and the file stores, key rotation, and the crash-safe migration of a
// plaintext data dir to an encrypted one.
//
// Keys: one random 32-byte data key (DEK) encrypts everything. It is
// stored only wrapped (AES-256-GCM) under a key-encryption key (KEK) that
// comes from the passphrase or the keyring. Rotating re-wraps the DEK
// under a new KEK: it is cheap and re-encrypts no data, so it protects
// against a leaked passphrase or keyring secret, not against a leaked DEK
// (for that, decrypting and encrypting the data dir again is the answer).
// From the DEK, HKDF derives separate keys for Badger (its master key: it
// keeps its own rotating data keys under it), for sealed files, and for
// blob file names.
package atrest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/zalando/go-keyring"
	"golang.org/x/crypto/argon2"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/sealed"
)

// KeyFileName is the key file inside a data dir. It holds no secret: the
// KEK's parameters, a verifier and the wrapped data key.
const KeyFileName = "encryption.json"

// How the KEK is obtained.
const (
	Passphrase = "passphrase"
	Keyring    = "keyring"
)

// keyringService is the service name Tern's secrets carry in the keyring.
const keyringService = "Tern data encryption"

// Argon2 are the argon2id parameters of a passphrase KEK.
type Argon2 struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memoryKiB"`
	Threads   uint8  `json:"threads"`
}

// DefaultArgon2 follows RFC 9106's second recommended option (64 MiB,
// three passes): about a quarter of a second on a laptop, each guess as
// costly for an attacker.
var DefaultArgon2 = Argon2{Time: 3, MemoryKiB: 64 << 10, Threads: uint8(min(4, runtime.NumCPU()))}

// KEK says where the key-encryption key comes from.
type KEK struct {
	Kind string `json:"kind"`
	// Passphrase: argon2id over the passphrase with Salt.
	Argon2 *Argon2 `json:"argon2id,omitempty"`
	Salt   []byte  `json:"salt,omitempty"`
	// Keyring: the secret's user name under keyringService.
	Account string `json:"account,omitempty"`
	// Verifier is HMAC-SHA256(KEK, "tern kek verifier"): a wrong
	// passphrase is told from a damaged key file.
	Verifier []byte `json:"verifier"`
}

// KeyFile is encryption.json.
type KeyFile struct {
	Version    int       `json:"version"`
	KEK        KEK       `json:"kek"`
	WrappedKey []byte    `json:"wrappedKey"` // nonce || AES-GCM(KEK, DEK)
	Created    time.Time `json:"created"`
	Rotated    time.Time `json:"rotated,omitzero"`
}

// Keys are what the data dir's parts are opened with.
type Keys struct {
	// Store is Badger's master key (AES-256).
	Store []byte
	// Files seals blobs, artifacts and model files.
	Files sealed.Key
	// Names keys the HMAC that names blob files, so a file's name does not
	// give away the hash of its plaintext.
	Names []byte
}

func derive(dek []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, dek, nil, "tern "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce
	}
	return k
}

func keysOf(dek []byte) *Keys {
	return &Keys{Store: derive(dek, "badger"), Files: sealed.Key(derive(dek, "files")), Names: derive(dek, "blob names")}
}

// Secret is what unlocks a KEK: the passphrase for Passphrase; unused for
// Keyring.
type Secret struct {
	Kind       string `json:"kind"`
	Passphrase string `json:"passphrase,omitempty"`
}

func newKEK(s Secret) (KEK, []byte, error) {
	switch s.Kind {
	case Passphrase:
		if len([]rune(s.Passphrase)) < 8 {
			return KEK{}, nil, core.Errorf(core.Invalid, "Choose a passphrase of at least 8 characters.")
		}
		k := KEK{Kind: Passphrase, Argon2: &Argon2{}, Salt: make([]byte, 16)}
		*k.Argon2 = DefaultArgon2
		rand.Read(k.Salt)
		kek := argonKEK(s.Passphrase, k)
		k.Verifier = verifier(kek)
		return k, kek, nil
	case Keyring:
		kek := make([]byte, 32)
		rand.Read(kek)
		acct := "data-key-" + core.NewID()
		if err := keyring.Set(keyringService, acct, fmt.Sprintf("%x", kek)); err != nil {
			return KEK{}, nil, core.Wrap(err, core.Unavailable,
				"The system keyring cannot store Tern's key (%v). On Linux it needs a Secret Service (GNOME Keyring, KWallet); use a passphrase instead.", err)
		}
		return KEK{Kind: Keyring, Account: acct, Verifier: verifier(kek)}, kek, nil
	}
	return KEK{}, nil, core.Errorf(core.Invalid, "Choose how the key is kept: %q or %q.", Passphrase, Keyring)
}

func argonKEK(pass string, k KEK) []byte {
	a := k.Argon2
	return argon2.IDKey([]byte(pass), k.Salt, a.Time, a.MemoryKiB, a.Threads, 32)
}

func verifier(kek []byte) []byte {
	m := hmac.New(sha256.New, kek)
	m.Write([]byte("tern kek verifier"))
	return m.Sum(nil)
}

// kek recovers the KEK of k from s, checking it against the verifier.
func (k KEK) kek(s Secret) ([]byte, error) {
	var kek []byte
	switch k.Kind {
	case Passphrase:
		if k.Argon2 == nil || len(k.Salt) == 0 {
			return nil, core.Errorf(core.Internal, "The encryption key file has no passphrase parameters; it is damaged.")
		}
		if s.Passphrase == "" {
			return nil, core.Errorf(core.Invalid, "This data folder is encrypted with a passphrase: enter it to open it.")
		}
		kek = argonKEK(s.Passphrase, k)
	case Keyring:
		v, err := keyring.Get(keyringService, k.Account)
		if err != nil {
			return nil, core.Wrap(err, core.Unavailable,
				"The key of this encrypted data folder is not in the system keyring (%v). Unlock the keyring, or start Tern on the computer that encrypted it.", err)
		}
		if _, err := fmt.Sscanf(v, "%x", &kek); err != nil || len(kek) != 32 {
			return nil, core.Errorf(core.Unavailable, "The keyring entry for Tern's key is not a key.")
		}
	default:
		return nil, core.Errorf(core.Internal, "The encryption key file names an unknown key kind %q.", k.Kind)
	}
	if !hmac.Equal(verifier(kek), k.Verifier) {
		if k.Kind == Passphrase {
			return nil, core.Errorf(core.Invalid, "That passphrase does not open this data folder.")
		}
		return nil, core.Errorf(core.Unavailable, "The key in the system keyring does not open this data folder.")
	}
	return kek, nil
}

func wrap(kek, dek []byte) []byte {
	block, _ := aes.NewCipher(kek)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return gcm.Seal(nonce, nonce, dek, []byte("tern data key"))
}

func unwrap(kek, wrapped []byte) ([]byte, error) {
	block, _ := aes.NewCipher(kek)
	gcm, _ := cipher.NewGCM(block)
	if len(wrapped) < gcm.NonceSize() {
		return nil, errors.New("short")
	}
	return gcm.Open(nil, wrapped[:gcm.NonceSize()], wrapped[gcm.NonceSize():], []byte("tern data key"))
}

// NewKeyFile makes a fresh data key kept as s says. Nothing is written.
func NewKeyFile(s Secret) (*KeyFile, *Keys, error) {
	kek, raw, err := newKEK(s)
	if err != nil {
		return nil, nil, err
	}
	dek := make([]byte, 32)
	rand.Read(dek)
	kf := &KeyFile{Version: 1, KEK: kek, WrappedKey: wrap(raw, dek), Created: time.Now().UTC()}
	return kf, keysOf(dek), nil
}

// Unlock recovers the data keys with s.
func (kf *KeyFile) Unlock(s Secret) (*Keys, error) {
	kek, err := kf.KEK.kek(s)
	if err != nil {
		return nil, err
	}
	dek, err := unwrap(kek, kf.WrappedKey)
	if err != nil {
		return nil, core.Errorf(core.Internal, "The passphrase is right but the wrapped key in %s is damaged.", KeyFileName)
	}
	return keysOf(dek), nil
}

// Rewrap returns a key file holding the same data key under a new KEK made
// from next, after checking current. No data changes; the old keyring
// secret (if any) is left for the caller to drop once the new file is in
// place.
func (kf *KeyFile) Rewrap(current, next Secret) (*KeyFile, error) {
	kek, err := kf.KEK.kek(current)
	if err != nil {
		return nil, err
	}
	dek, err := unwrap(kek, kf.WrappedKey)
	if err != nil {
		return nil, core.Errorf(core.Internal, "The wrapped key in %s is damaged.", KeyFileName)
	}
	nk, raw, err := newKEK(next)
	if err != nil {
		return nil, err
	}
	out := *kf
	out.KEK, out.WrappedKey, out.Rotated = nk, wrap(raw, dek), time.Now().UTC()
	return &out, nil
}

// dropSecret removes a keyring secret that no key file uses any more.
func (k KEK) dropSecret() {
	if k.Kind == Keyring && k.Account != "" {
		_ = keyring.Delete(keyringService, k.Account)
	}
}

// ReadKeyFile reads dir's key file; nil and no error when there is none
// (the data dir is not encrypted).
func ReadKeyFile(dir string) (*KeyFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot read %s in %s.", KeyFileName, dir)
	}
	var kf KeyFile
	if err := json.Unmarshal(b, &kf); err != nil || kf.Version != 1 || len(kf.WrappedKey) == 0 {
		return nil, core.Errorf(core.Unavailable, "%s in %s is damaged; Tern will not open or overwrite this encrypted data folder without it.", KeyFileName, dir)
	}
	return &kf, nil
}

// writeJSONAtomic writes v to path through a synced temp file renamed into
// place, then syncs the folder, so a crash leaves the old or the new file.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Rotate re-wraps the data key of the encrypted data dir under a KEK made
// from next. The new key file replaces the old one atomically; a crash
// leaves either, each of which opens the data dir.
func Rotate(dir string, current, next Secret) (*KeyFile, error) {
	kf, err := ReadKeyFile(dir)
	if err != nil {
		return nil, err
	}
	if kf == nil {
		return nil, core.Errorf(core.Invalid, "This data folder is not encrypted; there is no key to rotate.")
	}
	nk, err := kf.Rewrap(current, next)
	if err != nil {
		return nil, err
	}
	if err := writeJSONAtomic(filepath.Join(dir, KeyFileName), nk); err != nil {
		nk.KEK.dropSecret()
		return nil, core.Wrap(err, core.Unavailable, "Tern could not write the new key file: %v", err)
	}
	if nk.KEK.Account != kf.KEK.Account {
		kf.KEK.dropSecret()
	}
	return nk, nil
}
