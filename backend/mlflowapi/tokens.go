package mlflowapi

import "encoding/base64"

func encodeToken(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeToken(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		return nil, invalid("Invalid page token %q.", s)
	}
	return b, nil
}
