//go:build ternembed

package runner

import _ "embed"

// embeddedRuntime is the tern-runtime binary baked into the app (build with
// -tags ternembed after building backend/runner/runtimebin/tern-runtime).
//
//go:embed runtimebin/tern-runtime
var embeddedRuntime []byte
