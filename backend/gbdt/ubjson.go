package gbdt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// UBJSON (Universal Binary JSON, ubjson.org draft 12) is what XGBoost
// writes for save_model("model.ubj"), for any file name without ".json"
// since XGBoost 2.1, and what MLflow's xgboost flavor saves by default
// (model.ubj). Rather than a second model reader, ubjsonToJSON transcodes
// it to JSON text and the JSON reader does the rest, so both formats are
// held to the same checks.
//
// Floats are printed with the fewest digits that read back to the same
// float32 (markers 'd') or float64 ('D'), so nothing is rounded on the way.

const (
	ubjMaxDepth = 64
	// ubjMaxOutput bounds the JSON produced: typed arrays expand about
	// 3x (a 4-byte float32 prints as up to ~15 characters).
	ubjMaxOutput = 8 * maxModelBytes
)

var errUBJTruncated = errors.New("the file ends in the middle of a value")

type ubjReader struct {
	in  []byte
	pos int
	out []byte
}

// IsUBJSON reports whether data looks like a UBJSON object (XGBoost's
// binary JSON): '{' followed by a key-length marker or a
// container-optimisation marker, which JSON text never has there.
func IsUBJSON(data []byte) bool { return isUBJSON(data) }

func isUBJSON(data []byte) bool {
	if len(data) < 2 || data[0] != '{' {
		return false
	}
	switch data[1] {
	case 'i', 'U', 'I', 'l', 'L', '$', '#', '}':
		return true
	}
	return false
}

// ubjsonToJSON transcodes one UBJSON value (the whole input) to JSON text.
func ubjsonToJSON(data []byte) ([]byte, error) {
	r := &ubjReader{in: data, out: make([]byte, 0, 2*len(data))}
	m, err := r.marker()
	if err != nil {
		return nil, err
	}
	if err := r.value(m, 0); err != nil {
		return nil, fmt.Errorf("UBJSON byte %d: %w", r.pos, err)
	}
	if r.pos != len(r.in) {
		return nil, fmt.Errorf("UBJSON byte %d: %d bytes follow the model", r.pos, len(r.in)-r.pos)
	}
	return r.out, nil
}

func (r *ubjReader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.in)-r.pos {
		return nil, errUBJTruncated
	}
	b := r.in[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

// marker reads the next type marker, skipping no-ops.
func (r *ubjReader) marker() (byte, error) {
	for {
		b, err := r.take(1)
		if err != nil {
			return 0, err
		}
		if b[0] != 'N' {
			return b[0], nil
		}
	}
}

// integer reads an integer of the type marker m.
func (r *ubjReader) integer(m byte) (int64, error) {
	var size int
	switch m {
	case 'i', 'U':
		size = 1
	case 'I':
		size = 2
	case 'l':
		size = 4
	case 'L':
		size = 8
	default:
		return 0, fmt.Errorf("marker %q is not an integer type", m)
	}
	b, err := r.take(size)
	if err != nil {
		return 0, err
	}
	switch m {
	case 'i':
		return int64(int8(b[0])), nil
	case 'U':
		return int64(b[0]), nil
	case 'I':
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 'l':
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	default:
		return int64(binary.BigEndian.Uint64(b)), nil
	}
}

// length reads a non-negative count or string length (marker + integer).
func (r *ubjReader) length() (int, error) {
	m, err := r.marker()
	if err != nil {
		return 0, err
	}
	n, err := r.integer(m)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(len(r.in)) {
		return 0, fmt.Errorf("length %d is negative or longer than the file", n)
	}
	return int(n), nil
}

// counted reads a length, then that many bytes (strings and high-precision
// numbers are both stored this way).
func (r *ubjReader) counted() ([]byte, error) {
	n, err := r.length()
	if err != nil {
		return nil, err
	}
	return r.take(n)
}

func (r *ubjReader) str() error {
	b, err := r.counted()
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return errors.New("a string is not UTF-8")
	}
	r.quote(b)
	return nil
}

// quote appends b as a JSON string (strconv.Quote's escapes are Go's).
func (r *ubjReader) quote(b []byte) {
	q, _ := json.Marshal(string(b)) // a valid UTF-8 string always marshals
	r.out = append(r.out, q...)
}

func (r *ubjReader) value(m byte, depth int) error {
	if len(r.out) > ubjMaxOutput {
		return errors.New("the model is too large")
	}
	switch m {
	case 'Z':
		r.out = append(r.out, "null"...)
	case 'T':
		r.out = append(r.out, "true"...)
	case 'F':
		r.out = append(r.out, "false"...)
	case 'i', 'U', 'I', 'l', 'L':
		n, err := r.integer(m)
		if err != nil {
			return err
		}
		r.out = strconv.AppendInt(r.out, n, 10)
	case 'd':
		b, err := r.take(4)
		if err != nil {
			return err
		}
		return r.float(float64(math.Float32frombits(binary.BigEndian.Uint32(b))), 32)
	case 'D':
		b, err := r.take(8)
		if err != nil {
			return err
		}
		return r.float(math.Float64frombits(binary.BigEndian.Uint64(b)), 64)
	case 'H':
		// High-precision number: its decimal text, which must be a number.
		b, err := r.counted()
		if err != nil {
			return err
		}
		// JSON's number grammar, not ParseFloat's (which takes "Inf", hex).
		if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) || !json.Valid(b) {
			return fmt.Errorf("high-precision number %q is not a number", b)
		}
		r.out = append(r.out, b...)
	case 'C':
		b, err := r.take(1)
		if err != nil {
			return err
		}
		if b[0] >= 0x80 {
			return errors.New("a char is not ASCII")
		}
		r.quote(b)
	case 'S':
		return r.str()
	case '[', '{':
		if depth >= ubjMaxDepth {
			return fmt.Errorf("containers nest deeper than %d", ubjMaxDepth)
		}
		return r.container(m == '{', depth+1)
	default:
		return fmt.Errorf("unknown marker %q", m)
	}
	return nil
}

func (r *ubjReader) float(f float64, bits int) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("a number is NaN or infinite")
	}
	r.out = strconv.AppendFloat(r.out, f, 'g', -1, bits)
	return nil
}

// container reads an array or object after its opening marker, in either
// the plain form (values until ']' / '}') or the optimised one ('$' type
// and/or '#' count; with a type, elements carry no marker).
func (r *ubjReader) container(object bool, depth int) error {
	open, close := byte('['), byte(']')
	if object {
		open, close = '{', '}'
	}
	r.out = append(r.out, open)
	var elem byte // typed container element marker, 0 if none
	count := -1
	if r.pos < len(r.in) && r.in[r.pos] == '$' {
		r.pos++
		b, err := r.take(1)
		if err != nil {
			return err
		}
		elem = b[0]
		if elem == 'N' || elem == '[' || elem == '{' || elem == '$' || elem == '#' {
			return fmt.Errorf("marker %q cannot type a container", elem)
		}
		if r.pos >= len(r.in) || r.in[r.pos] != '#' {
			return errors.New("a typed container has no count")
		}
	}
	if r.pos < len(r.in) && r.in[r.pos] == '#' {
		r.pos++
		n, err := r.length()
		if err != nil {
			return err
		}
		count = n
		// Every element takes at least one byte unless its type carries
		// no payload (null, true, false); cap those to keep output bounded.
		if elem == 'Z' || elem == 'T' || elem == 'F' {
			if count > maxModelBytes {
				return fmt.Errorf("a container claims %d elements", count)
			}
		} else if count > len(r.in)-r.pos {
			return fmt.Errorf("a container claims %d elements but %d bytes remain", count, len(r.in)-r.pos)
		}
	}
	for i := 0; count < 0 || i < count; i++ {
		if count < 0 {
			if r.pos >= len(r.in) {
				return errUBJTruncated
			}
			// Skip no-ops between elements, then look for the end.
			for r.pos < len(r.in) && r.in[r.pos] == 'N' {
				r.pos++
			}
			if r.pos < len(r.in) && r.in[r.pos] == close {
				r.pos++
				break
			}
		}
		if i > 0 {
			r.out = append(r.out, ',')
		}
		if object {
			if err := r.str(); err != nil {
				return err
			}
			r.out = append(r.out, ':')
		}
		m := elem
		if m == 0 {
			var err error
			if m, err = r.marker(); err != nil {
				return err
			}
		}
		if err := r.value(m, depth); err != nil {
			return err
		}
	}
	r.out = append(r.out, close)
	return nil
}
