package tracking

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/tern-studio/tern/backend/store"
)

// Record kinds inside tracking's prefix range; the layout is documented in
// doc.go.
const (
	kExp      = store.PrefixTracking + iota // 0x20
	kExpName                                // 0x21
	kRun                                    // 0x22
	kLatest                                 // 0x23
	kHist                                   // 0x24
	kParam                                  // 0x25
	kTag                                    // 0x26
	kExpRun                                 // 0x27
	kParamIdx                               // 0x28
	kTagIdx                                 // 0x29
	kView                                   // 0x2a
	kBeat                                   // 0x2b
	kSeq                                    // 0x2c
	kInput                                  // 0x2d
)

var sep = []byte{0}

func expKey(id uint64) []byte       { return store.Key(kExp, store.U64(id)) }
func expNameKey(name string) []byte { return store.Key(kExpName, []byte(name)) }
func runKey(id string) []byte       { return store.Key(kRun, []byte(id)) }
func beatKey(id string) []byte      { return store.Key(kBeat, []byte(id)) }
func expRunKey(exp uint64, run string) []byte {
	return store.Key(kExpRun, store.U64(exp), []byte(run))
}
func viewKey(name string) []byte { return store.Key(kView, []byte(name)) }

// runScoped builds kind|runID|0|key, the form of latest, param and tag keys.
func runScoped(kind byte, run, key string) []byte {
	return store.Key(kind, []byte(run), sep, []byte(key))
}

// runPrefix is kind|runID|0, the prefix of everything a run owns of a kind.
func runPrefix(kind byte, run string) []byte { return store.Key(kind, []byte(run), sep) }

func histPrefix(run, key string) []byte {
	return store.Key(kHist, []byte(run), sep, []byte(key), sep)
}

func histKey(run string, m Metric) []byte {
	return store.Key(kHist, []byte(run), sep, []byte(m.Key), sep,
		store.I64(m.Step), store.I64(m.Timestamp), store.U64(math.Float64bits(float64(m.Value))))
}

// decodeHistSuffix reads step, timestamp and value from the 24 bytes that
// end a history key.
func decodeHistSuffix(b []byte) Point {
	n := len(b)
	return Point{
		Step:      store.DecodeI64(b[n-24 : n-16]),
		Timestamp: store.DecodeI64(b[n-16 : n-8]),
		Value:     Float(math.Float64frombits(binary.BigEndian.Uint64(b[n-8:]))),
	}
}

func indexKey(kind byte, key, value, run string) []byte {
	return store.Key(kind, []byte(key), sep, []byte(value), sep, []byte(run))
}

func encodePoint(p Point) []byte {
	b := make([]byte, 0, 24)
	b = append(b, store.I64(p.Step)...)
	b = append(b, store.I64(p.Timestamp)...)
	return append(b, store.U64(math.Float64bits(float64(p.Value)))...)
}

func decodePoint(b []byte) Point {
	if len(b) < 24 {
		return Point{}
	}
	return decodeHistSuffix(b[:24])
}

// parseExpID turns an MLflow experiment id ("0", "12") into its key form.
func parseExpID(id string) (uint64, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}
