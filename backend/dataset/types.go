// Package dataset turns files (CSV, Parquet, JSON lines) into immutable,
// versioned, profiled datasets. An import reads the file once through the
// table reader: the bytes go into the content-addressed blob store while
// parse workers check every record and build the profile with mergeable
// sketches. A file that fails anywhere leaves nothing behind: no blob, no
// record, no temp file. Version.Reading gives every later reader of a
// version (training jobs, the monitor) the settings and schema to read it
// through the same reader, so they see the values the profile counted.
//
// The profile types (NumericStats, Histogram, KLL, CategoryStats) are the
// reference the drift engine compares live data against; they are stored
// once per version and never recomputed on view.
package dataset

import (
	"encoding/json"
	"time"

	"github.com/tern-studio/tern/backend/table"
)

// A version's schema is the table reader's: the same column types, roles
// and detection result, named here too because every version carries them.
type (
	ColumnType = table.ColumnType
	Role       = table.Role
	Column     = table.Column
	Detected   = table.Detected
)

const (
	Integer     = table.Integer
	Float       = table.Float
	Boolean     = table.Boolean
	Categorical = table.Categorical
	Datetime    = table.Datetime
	Text        = table.Text

	Feature = table.Feature
	Target  = table.Target
	IDRole  = table.IDRole
	Ignore  = table.Ignore
)

// Options steer an import: how to read the file (empty fields are
// detected) and what to call the result.
type Options struct {
	// Name is the dataset name; default: the file name without extension.
	Name string `json:"name"`
	// ImportID names the import for progress events and Cancel; the UI
	// picks one so it can cancel before the call returns.
	ImportID string `json:"importId"`
	table.Options
	// checks are the dataset's rules, for the value tests made in the pass
	// (unexported: not part of the settings that identify a version).
	checks []Rule
	// Origin is set by Tern when it wrote the file (never by a client:
	// no JSON name), and becomes the new version's Origin.
	Origin *Origin `json:"-"`
	// Target, set by Tern with Origin, names the column that gets the
	// target role when no earlier version says otherwise.
	Target string `json:"-"`
}

// DefaultNullTokens are read as missing values, as pandas does.
var DefaultNullTokens = table.DefaultNullTokens

// Dataset is a named series of versions.
type Dataset struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`
	Latest    int       `json:"latest"` // highest version number
	Trashed   bool      `json:"trashed"`
	TrashedAt time.Time `json:"trashedAt,omitempty"`
}

// Version is one immutable import of a file.
type Version struct {
	ID         string    `json:"id"`
	DatasetID  string    `json:"datasetId"`
	Dataset    string    `json:"dataset"`
	Number     int       `json:"number"`
	SourceName string    `json:"sourceName"`
	Size       int64     `json:"size"`
	Digest     string    `json:"digest"` // SHA-256 of the file's bytes
	Rows       int64     `json:"rows"`
	Columns    int       `json:"columns"`
	Format     string    `json:"format"`
	Encoding   string    `json:"encoding,omitempty"`
	Delimiter  string    `json:"delimiter,omitempty"`
	Header     bool      `json:"header"`
	NullTokens []string  `json:"nullTokens,omitempty"`
	Schema     []Column  `json:"schema"`
	Imported   time.Time `json:"imported"`
	// ImportMillis is how long the import took (read, hash, parse, profile).
	ImportMillis int64 `json:"importMillis"`
	// Stored says how the bytes entered the blob store: "cloned" (the
	// filesystem shares the source's blocks, no second copy) or "copied"
	// (read once, hashed while written). Empty on versions older than it.
	Stored string `json:"stored,omitempty"`
	// Checks summarises the version's check against its dataset's rules
	// (nil: the dataset had no rules when it was imported or last checked).
	Checks *CheckSummary `json:"checks,omitempty"`
	// Origin is the lineage of a version Tern wrote itself (nil for an
	// imported file).
	Origin  *Origin `json:"origin,omitempty"`
	Trashed bool    `json:"trashed"`
	// Reused is set on an import result that matched an existing version
	// (same bytes and settings): nothing new was stored.
	Reused bool `json:"reused,omitempty"`
	// requestKey fingerprints the import settings (see requestKey); it is
	// stored through storedVersion and not shown.
	requestKey string
}

// Reading is how to read the version's stored file exactly as its profile
// was made: the detected format, encoding, delimiter, header and missing-
// value tokens, and the schema after the user's edits. Training jobs and
// every other reader of a version read through it.
func (v Version) Reading() table.Options {
	h := v.Header
	return table.Options{Format: v.Format, Encoding: v.Encoding, Delimiter: v.Delimiter, Header: &h,
		NullTokens: v.NullTokens, Columns: append([]Column(nil), v.Schema...)}
}

// storedVersion is Version as written to Badger, with its settings key.
type storedVersion struct {
	Version
	RequestKey string `json:"requestKey"`
}

func (v Version) stored() storedVersion {
	v.Reused = false
	return storedVersion{Version: v, RequestKey: v.requestKey}
}

// UnmarshalJSON reads a stored version, keeping its settings key.
func (v *Version) UnmarshalJSON(b []byte) error {
	type plain Version
	var sv struct {
		plain
		RequestKey string `json:"requestKey"`
	}
	if err := json.Unmarshal(b, &sv); err != nil {
		return err
	}
	*v = Version(sv.plain)
	v.requestKey = sv.RequestKey
	return nil
}

// Profile is computed once, in the import's single pass, and stored.
type Profile struct {
	Rows    int64           `json:"rows"`
	Columns []ColumnProfile `json:"columns"`
	// Correlations are Pearson coefficients between numeric columns, over
	// the rows where all of them are present.
	Correlations *Correlations `json:"correlations,omitempty"`
	// Preview holds the first rows as text.
	Preview [][]string `json:"preview"`
}

// ColumnProfile summarises one column.
type ColumnProfile struct {
	Name    string     `json:"name"`
	Type    ColumnType `json:"type"`
	Count   int64      `json:"count"`   // present values
	Missing int64      `json:"missing"` // null tokens and empty fields
	// Distinct is a HyperLogLog estimate (about ±2%), exact for small sets.
	Distinct   int64          `json:"distinct"`
	Numeric    *NumericStats  `json:"numeric,omitempty"`
	Categories *CategoryStats `json:"categories,omitempty"`
	Text       *TextStats     `json:"text,omitempty"`
}

// NumericStats describes integer, float, boolean (0/1) and datetime (Unix
// seconds) columns.
type NumericStats struct {
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"` // sample standard deviation (n-1), as pandas
	// NonFinite counts inf/-inf values, which are left out of the stats
	// (and counted as missing) so one of them cannot make every number inf.
	NonFinite int64 `json:"nonFinite,omitempty"`
	// Quantiles at 1, 5, 25, 50, 75, 95, 99 %, read from Sketch.
	Quantiles []Quantile `json:"quantiles"`
	Histogram Histogram  `json:"histogram"`
	// Sketch is the mergeable quantile sketch behind Quantiles and
	// Histogram; the drift engine can read CDFs from it.
	Sketch *KLL `json:"sketch"`
}

// Quantile is one point of a distribution.
type Quantile struct {
	Q     float64 `json:"q"`
	Value float64 `json:"value"`
}

// Histogram has len(Edges) == len(Counts)+1; bin i is [Edges[i], Edges[i+1])
// and the last bin includes its right edge. Counts are read from the
// quantile sketch, so they are exact while a column has ≤ ~200 values and
// within the sketch's rank error (about 1.3% of rows) beyond.
type Histogram struct {
	Edges  []float64 `json:"edges"`
	Counts []float64 `json:"counts"`
}

// CategoryStats holds the most frequent values.
type CategoryStats struct {
	Top []CategoryCount `json:"top"`
	// Other counts present values not in Top.
	Other int64 `json:"other"`
	// Approximate is true when the column had too many distinct values for
	// exact counts; Top counts are then lower bounds.
	Approximate bool `json:"approximate"`
}

// TextStats describes string lengths (in bytes).
type TextStats struct {
	MinLen  int     `json:"minLen"`
	MaxLen  int     `json:"maxLen"`
	MeanLen float64 `json:"meanLen"`
}

// Correlations is a symmetric matrix over Columns.
type Correlations struct {
	Columns []string    `json:"columns"`
	Matrix  [][]float64 `json:"matrix"`
	Rows    int64       `json:"rows"` // complete rows used
}
