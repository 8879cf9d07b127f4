package dataset

import (
	"fmt"

	"github.com/tern-studio/tern/backend/audit"
)

// What the audit trail says about dataset changes (see backend/audit).

func datasetObj(d Dataset) audit.Object { return audit.Object{Kind: "dataset", ID: d.ID, Name: d.Name} }

func versionObj(v Version) audit.Object {
	return audit.Object{Kind: "dataset_version", ID: v.ID, Name: fmt.Sprintf("%s v%d", v.Dataset, v.Number)}
}

// schemaText lists columns as "name:type", short enough for the trail.
func schemaText(cols []Column) string {
	out := ""
	for i, c := range cols {
		if i > 0 {
			out += ", "
		}
		out += c.Name + ":" + string(c.Type)
		if c.Role != "" {
			out += "(" + string(c.Role) + ")"
		}
	}
	return out
}
