package store

import "encoding/binary"

// Key prefixes, one byte per record kind, allotted here so two packages can
// never collide. Each domain owns a range of sixteen.
const (
	PrefixMeta byte = 0x00 // schema version and other store-wide facts

	// 0x10–0x1f datasets, 0x20–0x2f tracking, 0x30–0x3f registry,
	// 0x40–0x4f serving, 0x50–0x5f monitoring, 0x60–0x6f runner,
	// 0x70–0x7f blobs, 0x80–0x8f pipelines, 0x90–0x9f audit, 0xa0–0xaf
	// engines. Sweeps are training and take 0x68 of the runner's range.
	PrefixDatasets  byte = 0x10
	PrefixTracking  byte = 0x20
	PrefixRegistry  byte = 0x30
	PrefixServing   byte = 0x40
	PrefixMonitor   byte = 0x50
	PrefixRunner    byte = 0x60
	PrefixBlob      byte = 0x70
	PrefixPipelines byte = 0x80
	PrefixAudit     byte = 0x90
	PrefixEngines   byte = 0xa0
)

// Key joins a prefix and parts. Parts are copied verbatim, so variable-length
// parts must not be followed by others unless they are fixed-width or the
// caller adds its own separator (0x00 is used by convention).
func Key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// U64 encodes v big-endian so byte order is numeric order.
func U64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// I64 encodes a signed value so that byte order is numeric order (the sign
// bit is flipped), used for timestamps and steps that may be negative.
func I64(v int64) []byte { return U64(uint64(v) ^ (1 << 63)) }

// DecodeU64 reads a U64-encoded value.
func DecodeU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// DecodeI64 reads an I64-encoded value.
func DecodeI64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// PrefixEnd is the smallest key greater than every key starting with p,
// for reverse iteration; nil when p is all 0xff.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
