// Package monitor turns drift results into what a person acts on: reports
// over a source and a window, rendered as one self-contained HTML file or a
// PDF, and alert rules evaluated on every report (app notification event and
// webhook POST, each alert linking to its report).
//
// Inputs are small interfaces defined here — Source (a frozen reference
// profile and a current window), TableReader (dataset versions), LogReader
// (a deployment's prediction log) — so the package is tested with data it
// generates and wired to the real dataset and prediction-log packages by
// adapters. Time comes from a core.Clock (Config.Clock), so tests move it
// by hand. It knows no HTTP: the HTTP face (httpapi) serves its reports,
// charts and label uploads.
//
// Reports hold aggregates only: test results, shares per bin or category
// (categories seen fewer than 5 times are pooled, numbers are shown to 4
// significant digits) and serving figures; never a row.
package monitor
