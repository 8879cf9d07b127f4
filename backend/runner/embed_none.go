//go:build !ternembed

package runner

// embeddedRuntime is empty in builds without -tags ternembed; the runtime
// binary is then looked for beside the app or on PATH.
var embeddedRuntime []byte
