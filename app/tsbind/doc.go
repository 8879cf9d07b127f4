// Package tsbind writes the TypeScript types of the bound methods from
// their Go types, so the frontend's api layer cannot drift from the Go
// structs both faces (the Wails window and /api/call) serve. It reflects
// over the bindings for shapes (following encoding/json: tags, omitempty,
// embedded structs, pointers) and reads the Go source only for what
// reflection cannot see: parameter names and the constants that make a
// named string type a union ("integer" | "float" | …).
package tsbind
