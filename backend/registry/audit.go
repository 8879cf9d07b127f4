package registry

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/audit"
)

// What the audit trail says about registry changes (see backend/audit).

func modelObj(name string) audit.Object { return audit.Object{Kind: "model", ID: name, Name: name} }

func versionObj(name string, n int) audit.Object {
	return audit.Object{Kind: "model_version", ID: name + "/" + strconv.Itoa(n), Name: fmt.Sprintf("%s v%d", name, n)}
}

// aliasText lists aliases as "@champion→v3, @challenger→v4", sorted.
func aliasText(a map[string]int) string {
	if len(a) == 0 {
		return "no aliases"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		parts = append(parts, fmt.Sprintf("@%s→v%d", k, a[k]))
	}
	return strings.Join(parts, ", ")
}

// editText says what an edit of description or tags changed.
func editText(desc string, tags map[string]string) string {
	var parts []string
	if desc != "" {
		parts = append(parts, "description "+strconv.Quote(desc))
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ", ")
}

func loggedObj(id, name, runID string) []audit.Object {
	return []audit.Object{{Kind: "logged_model", ID: id, Name: name}, {Kind: "run", ID: runID}}
}
