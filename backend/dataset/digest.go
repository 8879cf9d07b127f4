package dataset

import (
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/store"
)

// minDigestPrefix is the shortest digest prefix that links: eight hex
// digits, the length of the digests MLflow computes for its datasets.
const minDigestPrefix = 8

// VersionByDigest finds the live dataset version whose SHA-256 digest
// equals digest or begins with it (at least eight hex digits, any case;
// a "sha256:" prefix is allowed). A prefix shared by two versions with
// different contents links nothing, rather than a guess. It is how a
// dataset logged with the MLflow client (mlflow.log_input with
// digest=...) is tied to the version it came from.
func (s *Service) VersionByDigest(digest string) (string, bool) {
	d := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(digest), "sha256:"))
	if len(d) < minDigestPrefix || len(d) > 64 || strings.Trim(d, "0123456789abcdef") != "" {
		return "", false
	}
	found, ambiguous := "", false
	full := ""
	_ = s.db.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{pVersion}, false, func(v Version) error {
			if v.Trashed || !strings.HasPrefix(v.Digest, d) {
				return nil
			}
			switch {
			case found == "":
				found, full = v.ID, v.Digest
			case v.Digest != full:
				ambiguous = true
			}
			return nil
		})
	})
	if found == "" || ambiguous {
		return "", false
	}
	return found, true
}
