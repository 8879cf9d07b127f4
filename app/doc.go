// Package app is Tern's desktop shell and the only package that imports
// the Wails runtime. It holds one thin bound struct per area (no business
// rules: each delegates to a backend service), the bridge that carries
// backend events to the window, native file drop and dialogs, and the
// window's lifecycle. The same bound structs are served over HTTP in
// browser mode, so they must not assume a window exists.
package app
