package core

// RequestIDHeader carries the ID a caller later uses to send the label of
// a prediction. The router honours a sane incoming one, else makes one;
// the model server echoes it; the prediction log indexes it; label uploads
// name it. One rule for all of them lives here.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an incoming ID: it becomes part of a store key.
const maxRequestIDLen = 128

// ValidRequestID reports whether s is 1–128 printable ASCII characters.
func ValidRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
