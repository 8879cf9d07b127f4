package mlflowapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/tracking"
)

// generalBatch decodes a body the slow, reflective way.
func generalBatch(body []byte) (string, tracking.Batch, bool) {
	req := httptest.NewRequest("POST", "/x", bytes.NewReader(body))
	in, err := readArgs(req)
	if err != nil {
		return "", tracking.Batch{}, false
	}
	id, err := in.runID()
	if err != nil {
		return "", tracking.Batch{}, false
	}
	var b tracking.Batch
	if raw := in.body["metrics"]; len(raw) > 0 && string(raw) != "null" {
		var ms []wireMetric
		if json.Unmarshal(raw, &ms) != nil {
			return "", b, false
		}
		for _, m := range ms {
			if m.Key == "" || m.Value == nil {
				return "", b, false
			}
			b.Metrics = append(b.Metrics, tracking.Metric{Key: m.Key, Value: *m.Value, Timestamp: int64(m.Timestamp), Step: int64(m.Step)})
		}
	}
	for _, f := range []string{"params", "tags"} {
		kvs, err := readKVs(f, in.body[f])
		if err != nil {
			return "", b, false
		}
		for _, kv := range kvs {
			if f == "params" {
				b.Params = append(b.Params, tracking.Param{Key: kv.Key, Value: kv.Value})
			} else {
				b.Tags = append(b.Tags, tracking.Tag{Key: kv.Key, Value: kv.Value})
			}
		}
	}
	return id, b, true
}

var batchSeeds = []string{
	`{"run_id":"r1","metrics":[{"key":"loss","value":0.5,"timestamp":1700000000000,"step":3}]}`,
	`{"run_uuid":"r1","metrics":[{"key":"a","value":"NaN","timestamp":"5","step":"-2"},{"key":"b","value":-0.0,"timestamp":1,"step":0}]}`,
	`{"run_id":"r1","params":[{"key":"lr","value":"0.1"}],"tags":[{"key":"t","value":"é \"q\" \n"}],"extra":{"x":[1,true,null]}}`,
	`{"run_id":"r1","metrics":[{"key":"x","value":1e308,"timestamp":1,"step":1,"model_id":null}]}`,
	` { "run_id" : "r1" , "metrics" : [ ] } `,
	`{"run_id":"r1","metrics":[{"key":"x","value":"Infinity"}]}`,
	`{"run_id":"r1","metrics":[{"key":"x","value":01}]}`,
	`{"run_id":"r1","metrics":[{"key":"x","value":1.}]}`,
	`{"run_id":"r1","metrics":[{"key":"x","value":true}]}`,
	`{"run_id":"r1","tags":[{"key":"x","value":"\u00e9"}]}`,
	`{"run_id":"r1"} trailing`,
}

func TestFastBatchMatchesGeneral(t *testing.T) {
	for _, s := range batchSeeds {
		id, b, ok := parseBatchFast([]byte(s))
		if !ok {
			continue
		}
		gid, gb, gok := generalBatch([]byte(s))
		require.True(t, gok, s)
		assert.Equal(t, gid, id, s)
		assert.Equal(t, len(gb.Metrics), len(b.Metrics), s)
		for i := range b.Metrics {
			assert.Equal(t, gb.Metrics[i].Key, b.Metrics[i].Key)
			assert.Equal(t, gb.Metrics[i].Step, b.Metrics[i].Step)
			assert.Equal(t, gb.Metrics[i].Timestamp, b.Metrics[i].Timestamp)
			assert.Equal(t, fmtFloat(gb.Metrics[i].Value), fmtFloat(b.Metrics[i].Value))
		}
		assert.Equal(t, gb.Params, b.Params, s)
		assert.Equal(t, gb.Tags, b.Tags, s)
	}
	_, _, ok := parseBatchFast([]byte(batchSeeds[0]))
	assert.True(t, ok, "the common shape takes the fast path")
	for _, bad := range []string{`{"run_id":"r1"} trailing`, `{"run_id":"r1","metrics":[{"key":"x","value":01}]}`, `{"run_id":"r1","metrics":[{"key":"x","value":true}]}`} {
		_, _, ok := parseBatchFast([]byte(bad))
		assert.False(t, ok, bad)
	}
}

func fmtFloat(f tracking.Float) string { b, _ := f.MarshalJSON(); return string(b) }

// FuzzFastBatch: whatever the fast decoder accepts, the general decoder
// accepts too, with the same content.
func FuzzFastBatch(f *testing.F) {
	for _, s := range batchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, b, ok := parseBatchFast(body)
		if !ok {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("fast path accepted invalid JSON %q", body)
		}
		gid, gb, gok := generalBatch(body)
		if !gok {
			t.Fatalf("fast path accepted what the general one refuses: %q", body)
		}
		if gid != id || len(gb.Metrics) != len(b.Metrics) || len(gb.Params) != len(b.Params) || len(gb.Tags) != len(b.Tags) {
			t.Fatalf("mismatch for %q", body)
		}
		for i := range b.Metrics {
			if gb.Metrics[i].Key != b.Metrics[i].Key || gb.Metrics[i].Step != b.Metrics[i].Step ||
				gb.Metrics[i].Timestamp != b.Metrics[i].Timestamp || fmtFloat(gb.Metrics[i].Value) != fmtFloat(b.Metrics[i].Value) {
				t.Fatalf("metric %d differs for %q", i, body)
			}
		}
		for i := range b.Params {
			if gb.Params[i] != b.Params[i] {
				t.Fatalf("param %d differs for %q", i, body)
			}
		}
		for i := range b.Tags {
			if gb.Tags[i] != b.Tags[i] {
				t.Fatalf("tag %d differs for %q", i, body)
			}
		}
	})
}
