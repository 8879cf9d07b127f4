package table

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Dates people write. ISO forms (with or without a time, a fraction and a
// zone) are unambiguous. Day/month forms ("03/04/2024") are not: the
// sample picks a layout when a value settles it (a part above 12), and
// otherwise the column keeps both — the pass reads every value both ways
// and the whole column decides (Column.DateAlt, Result.UseAlt). Integer
// columns named like a time and holding values in the range of Unix time
// are read as epoch seconds or milliseconds. Values without a zone are
// read as UTC.

// Layouts for Unix time: not Go layouts, parsed by parseDate.
const (
	LayoutUnix   = "unix"    // seconds since 1970-01-01 UTC
	LayoutUnixMs = "unix_ms" // milliseconds since 1970-01-01 UTC
)

var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 -07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006/01/02 15:04:05",
	"2006/01/02",
}

// dayMonthPair is one way of writing day/month dates: month-first and
// day-first layouts, and which one a file is read with when every value
// fits both (dots are a day-first convention; slashes and dashes are read
// month-first, as pandas does by default).
type dayMonthPair struct {
	monthFirst, dayFirst string
	dotted               bool
}

var dayMonthPairs = func() []dayMonthPair {
	var out []dayMonthPair
	for _, sep := range []string{"/", "-", "."} {
		for _, clock := range []string{"", " 15:04", " 15:04:05", "T15:04:05"} {
			out = append(out, dayMonthPair{
				monthFirst: "1" + sep + "2" + sep + "2006" + clock,
				dayFirst:   "2" + sep + "1" + sep + "2006" + clock,
				dotted:     sep == ".",
			})
		}
	}
	return out
}()

var dateLike = regexp.MustCompile(`^\d{4}[-/]\d{2}[-/]\d{2}|^\d{1,2}[./-]\d{1,2}[./-]\d{4}`)

// timeName is a column name that says it holds times (for epoch numbers).
var timeName = regexp.MustCompile(`(?i)(^|[_ .-])(time|date|datetime|timestamp|ts|epoch)$|_at$|^(time|date|timestamp|ts|epoch)([_ .-]|$)|(created|updated|modified)`)

// inferDate picks the layout that reads every sampled value, and for
// day/month forms that the sample cannot settle, the other one (alt).
func inferDate(vals []string) (layout, alt string, ok bool) {
	if !dateLike.MatchString(vals[0]) {
		return "", "", false
	}
	for _, l := range isoLayouts {
		if allParse(vals, l) {
			return l, "", true
		}
	}
	for _, p := range dayMonthPairs {
		mf, df := allParse(vals, p.monthFirst), allParse(vals, p.dayFirst)
		switch {
		case mf && df:
			if p.dotted {
				return p.dayFirst, p.monthFirst, true
			}
			return p.monthFirst, p.dayFirst, true
		case mf:
			return p.monthFirst, "", true
		case df:
			return p.dayFirst, "", true
		}
	}
	return "", "", false
}

func allParse(vals []string, layout string) bool {
	for _, v := range vals {
		if _, err := time.Parse(layout, v); err != nil {
			return false
		}
	}
	return true
}

// inferEpoch reads a numeric column named like a time whose every sampled
// value lies between 2001 and 2103 as Unix seconds, or as milliseconds.
func inferEpoch(name string, vals []string) (string, bool) {
	if !timeName.MatchString(name) {
		return "", false
	}
	for _, layout := range []string{LayoutUnix, LayoutUnixMs} {
		lo, hi := 1e9, 4.2e9
		if layout == LayoutUnixMs {
			lo, hi = 1e12, 4.2e12
		}
		ok := true
		for _, v := range vals {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < lo || f > hi {
				ok = false
				break
			}
		}
		if ok {
			return layout, true
		}
	}
	return "", false
}

// parseDate reads one date as Unix seconds.
func parseDate(layout string, s string) (float64, bool) {
	switch layout {
	case LayoutUnix, LayoutUnixMs:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		if layout == LayoutUnixMs {
			f /= 1000
		}
		return f, true
	}
	tm, err := time.Parse(layout, s)
	if err != nil {
		return 0, false
	}
	return float64(tm.UnixNano()) / 1e9, true
}

// DateFormatName says a layout in the words people use for it.
func DateFormatName(layout string) string {
	switch layout {
	case LayoutUnix:
		return "Unix time in seconds"
	case LayoutUnixMs:
		return "Unix time in milliseconds"
	}
	for _, p := range dayMonthPairs {
		switch layout {
		case p.monthFirst:
			return "month-first (" + humanLayout(layout) + ")"
		case p.dayFirst:
			return "day-first (" + humanLayout(layout) + ")"
		}
	}
	return humanLayout(layout)
}

func humanLayout(layout string) string {
	if layout == time.RFC3339Nano {
		return "ISO 8601 with a time zone"
	}
	r := strings.NewReplacer("2006", "YYYY", "01", "MM", "02", "DD", "15", "hh", "04", "mm", "05", "ss",
		"Z07:00", "±hh:mm", "Z0700", "±hhmm", "-07:00", "±hh:mm", "-0700", "±hhmm")
	h := r.Replace(layout)
	// Single-digit day/month placeholders of the day/month layouts.
	if strings.HasPrefix(layout, "1") {
		h = "MM" + h[1:2] + "DD" + h[3:]
	} else if strings.HasPrefix(layout, "2") && !strings.HasPrefix(layout, "2006") {
		h = "DD" + h[1:2] + "MM" + h[3:]
	}
	return h
}

// dateEvidence is the first value of an undecided column that fits only
// one of its two layouts.
type dateEvidence struct {
	line  int64
	value string
}

// decideDates settles each undecided day/month column from the evidence
// of the whole pass: a value that fits only one layout decides; values
// that each fit only one of the two are a contradiction, worded with both
// lines. It writes the decided layouts and a note into cols and returns
// the columns whose alternative layout won.
func decideDates(cols []Column, onlyMain, onlyAlt map[int]dateEvidence, unit string) ([]int, error) {
	var useAlt []int
	for i := range cols {
		c := &cols[i]
		if c.DateAlt == "" {
			continue
		}
		m, hasM := onlyMain[i]
		a, hasA := onlyAlt[i]
		switch {
		case hasM && hasA:
			return nil, fmt.Errorf("Column %q mixes date formats: %s %d has %q, which is only %s, and %s %d has %q, which is only %s. Fix the file, or set the column's type to text.",
				c.Name, unit, m.line, m.value, DateFormatName(c.DateLayout), strings.ToLower(unit), a.line, a.value, DateFormatName(c.DateAlt))
		case hasA:
			c.DateNote = fmt.Sprintf("Read as %s: %s %d has %q.", DateFormatName(c.DateAlt), strings.ToLower(unit), a.line, a.value)
			c.DateLayout = c.DateAlt
			useAlt = append(useAlt, i)
		case hasM:
			c.DateNote = fmt.Sprintf("Read as %s: %s %d has %q.", DateFormatName(c.DateLayout), strings.ToLower(unit), m.line, m.value)
		default:
			c.DateNote = fmt.Sprintf("Every date fits both %s and %s; read as %s. If that is wrong, choose the other in the column's settings.",
				DateFormatName(c.DateLayout), DateFormatName(c.DateAlt), DateFormatName(c.DateLayout))
		}
		c.DateAlt = ""
	}
	return useAlt, nil
}
