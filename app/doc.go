// Package app is Tern's desktop shell and the only package that imports
// the Wails runtime. It holds one thin bound struct per area (no business
// rules: each delegates to a backend service and adapts its types), the
// bridge that carries backend events to the window, native file drop and
// dialogs, and the window's lifecycle. The same bound structs are served
// over HTTP in browser mode, so they must not assume a window exists.
//
// Bound calls run under a context derived from the app's lifetime
// (Services.Context, which main.go cancels on close), never
// context.Background.
package app
