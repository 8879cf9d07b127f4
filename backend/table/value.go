package table

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// parseField reads one present (non-null) field of a column of kind k: a
// number, a boolean as 1/0, a date as Unix seconds (NaN for strings).
// whole says a number was written as a whole number (an integer column
// that holds decimals becomes float). why words a value that does not fit.
func parseField(k Kind, layout string, b []byte) (v float64, whole bool, why string) {
	switch k {
	case Number:
		if v, ok := fastFloat(b); ok {
			return v, v == math.Trunc(v), ""
		}
		v, err := strconv.ParseFloat(str(b), 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				v, _ = strconv.ParseFloat(string(b), 64) // ±Inf or 0: the reader's sink decides
			} else {
				return 0, false, fmt.Sprintf("%s is not a number", quoteVal(b))
			}
		}
		return v, bytes.IndexAny(b, ".eE") < 0, ""
	case Bool:
		t, ok := parseBool(b)
		if !ok {
			return 0, false, fmt.Sprintf("%s is not true/false", quoteVal(b))
		}
		if t {
			return 1, true, ""
		}
		return 0, true, ""
	case Date:
		v, ok := parseDate(layout, str(b))
		if !ok {
			return 0, false, fmt.Sprintf("%s is not a date like %s", quoteVal(b), humanLayout(layout))
		}
		return v, false, ""
	}
	return math.NaN(), false, ""
}

// str views b as a string without copying; only for calls that do not
// keep the string (parsers on the success path).
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastFloat reads plain decimals ([-+]digits[.digits], at most 15
// significant digits) exactly: an integer mantissa below 2^53 divided by an
// exact power of ten is correctly rounded (Clinger's fast path), so the
// result equals strconv.ParseFloat's. Anything else returns ok=false and
// goes to strconv.
func fastFloat(b []byte) (float64, bool) {
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	if i >= len(b) || len(b)-i > 16 {
		return 0, false
	}
	var mant uint64
	digits, frac := 0, -1
	for ; i < len(b); i++ {
		c := b[i]
		if c >= '0' && c <= '9' {
			mant = mant*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
			continue
		}
		if c == '.' && frac < 0 {
			frac = 0
			continue
		}
		return 0, false
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	v := float64(mant)
	if frac > 0 {
		v /= pow10[frac]
	}
	if neg {
		v = -v
	}
	return v, true
}

func quoteVal(b []byte) string {
	if len(b) > 40 {
		b = append(append([]byte(nil), b[:40]...), "…"...)
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("%q", b)
	}
	return `"` + string(b) + `"`
}

func parseBool(b []byte) (bool, bool) {
	switch len(b) {
	case 1:
		switch b[0] {
		case 't', 'T', 'y', 'Y':
			return true, true
		case 'f', 'F', 'n', 'N':
			return false, true
		}
	case 2, 3, 4, 5:
		switch string(bytes.ToLower(b)) {
		case "true", "yes":
			return true, true
		case "false", "no":
			return false, true
		}
	}
	return false, false
}
