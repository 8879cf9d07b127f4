package predlog

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordEncodingRoundTrip(t *testing.T) {
	yes, no := true, false
	for name, r := range map[string]Record{
		"live":     {Deployment: "dep1", Backend: "v1", Time: 1764150000123456789, LatencyMicros: 412, Status: 200, Path: "/invocations", Request: []byte(`{"instances":[[1]]}`), Response: []byte(`{"predictions":[1]}`)},
		"agree":    {Deployment: "d", Backend: "v2", Time: -5, Status: 200, Path: "/v2/models/m/infer", Shadow: true, Agree: &yes},
		"disagree": {Deployment: "d", Backend: "v2", Status: 0, Shadow: true, Agree: &no, Request: []byte{0, 255, 10}},
		"empty":    {},
	} {
		t.Run(name, func(t *testing.T) {
			var got Record
			require.NoError(t, decodeRecord(encodeRecord(r), &got))
			assert.Equal(t, r, got)
		})
	}
}

// Logs written before the binary encoding are JSON and must still read.
func TestRecordDecodesJSONLogs(t *testing.T) {
	r := Record{Deployment: "dep1", Backend: "v1", Time: 7, Status: 400, Path: "/invocations", Request: []byte(`{"x":1}`)}
	v, err := json.Marshal(r)
	require.NoError(t, err)
	var got Record
	require.NoError(t, decodeRecord(v, &got))
	assert.Equal(t, r, got)
}

func TestRecordRefusesTruncated(t *testing.T) {
	v := encodeRecord(Record{Deployment: "dep1", Backend: "v1", Path: "/p", Request: []byte("abc"), Response: []byte("def")})
	for i := 0; i < len(v); i++ {
		var got Record
		assert.Error(t, decodeRecord(v[:i], &got), "prefix of %d bytes", i)
	}
	assert.Error(t, decodeRecord(append(v, 0), &Record{}), "trailing byte")
	assert.Error(t, decodeRecord([]byte{9, 1, 2}, &Record{}), "unknown version")
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(Record{Deployment: "d", Backend: "v1", Path: "/invocations", Status: 200, Request: []byte("{}"), Response: []byte("[1]")}))
	f.Add([]byte(`{"deployment":"d"}`))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, v []byte) {
		var r Record
		if decodeRecord(v, &r) != nil || len(v) == 0 || v[0] != recordV1 {
			return
		}
		// Whatever decodes survives a round trip (varints need not be
		// minimal in the input, so bytes may differ, records may not).
		var again Record
		require.NoError(t, decodeRecord(encodeRecord(r), &again))
		assert.Equal(t, r, again)
	})
}

func TestRecordRequestIDRoundTripAndTruncation(t *testing.T) {
	r := Record{Deployment: "d", Backend: "v1", Path: "/p", Status: 200, RequestID: "rid-1", Request: []byte("a")}
	var got Record
	require.NoError(t, decodeRecord(encodeRecord(r), &got))
	assert.Equal(t, r, got)
	v := encodeRecord(r)
	for i := 0; i < len(v); i++ {
		assert.Error(t, decodeRecord(v[:i], &Record{}), "prefix of %d bytes", i)
	}
}
