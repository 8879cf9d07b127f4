package table

// ColumnType is the inferred (or user-corrected) kind of a column.
type ColumnType string

const (
	Integer     ColumnType = "integer"
	Float       ColumnType = "float"
	Boolean     ColumnType = "boolean"
	Categorical ColumnType = "categorical"
	Datetime    ColumnType = "datetime"
	Text        ColumnType = "text"
)

// ValidType reports whether t names a column type.
func ValidType(t ColumnType) bool {
	switch t {
	case Integer, Float, Boolean, Categorical, Datetime, Text:
		return true
	}
	return false
}

// Kind is how a column's values are read.
type Kind uint8

const (
	Number Kind = iota // integer, float
	Bool
	Date
	String // categorical, text
)

// Kind says how values of type t are read.
func (t ColumnType) Kind() Kind {
	switch t {
	case Integer, Float:
		return Number
	case Boolean:
		return Bool
	case Datetime:
		return Date
	}
	return String
}

// Role says how training and fairness should use a column.
type Role string

const (
	Feature Role = "feature"
	Target  Role = "target"
	IDRole  Role = "id"
	Ignore  Role = "ignore"
)

// Column is one column of a table's schema.
type Column struct {
	Name string     `json:"name"`
	Type ColumnType `json:"type"`
	Role Role       `json:"role"`
	// Protected marks a sensitive attribute (used by fairness reports).
	Protected bool `json:"protected"`
	// DateLayout is the Go time layout a datetime column was read with
	// (or LayoutUnix / LayoutUnixMs).
	DateLayout string `json:"dateLayout,omitempty"`
	// DateAlt, during a read, is the other layout of a day/month column
	// whose sample fits both; the pass decides and clears it.
	DateAlt string `json:"dateAlt,omitempty"`
	// DateNote says how a day/month or epoch column's format was decided.
	DateNote string `json:"dateNote,omitempty"`
}

// DefaultNullTokens are read as missing values, as pandas does.
var DefaultNullTokens = []string{"", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "-", "?", "#N/A"}

// Options say how to read a file. Empty fields are detected.
type Options struct {
	Format     string                `json:"format"`    // csv, jsonl, parquet
	Encoding   string                `json:"encoding"`  // utf-8, utf-16le, utf-16be, windows-1252
	Delimiter  string                `json:"delimiter"` // one character; "\t" for tabs
	Header     *bool                 `json:"header"`
	NullTokens []string              `json:"nullTokens"` // nil: DefaultNullTokens
	Types      map[string]ColumnType `json:"types"`
	// DateOrder settles day/month columns by name: "day-first" or
	// "month-first" (a person's answer to an ambiguity the data left).
	DateOrder map[string]string `json:"dateOrder,omitempty"`
	// Columns, when set, is the schema a dataset version was imported
	// with (names, final types, date layouts, roles): the file is read
	// with it instead of inferring one, so a reader sees exactly the
	// values the version's profile counted. Types still apply on top.
	Columns []Column `json:"columns,omitempty"`
}

// Detected is what Tern found out about a file before reading it; the UI
// shows it with the first rows so the user can confirm or correct.
type Detected struct {
	Format     string     `json:"format"`
	Encoding   string     `json:"encoding"`
	BOM        bool       `json:"bom"`
	Delimiter  string     `json:"delimiter,omitempty"`
	Header     bool       `json:"header"`
	NullTokens []string   `json:"nullTokens"`
	Columns    []Column   `json:"columns"`
	Rows       [][]string `json:"rows"` // the first few records, decoded
}
