package monitor

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/drift"
)

func seqIDs() func() string {
	n := 0
	return func() string { n++; return "a" + string(rune('0'+n)) }
}

func TestEvaluateRules(t *testing.T) {
	rep, _, _ := fixedReport(t) // 4 of 5 columns drift; ops: p95 11.7 ms, 0.8% errors
	tests := []struct {
		rule Rule
		fire bool
		msg  string
	}{
		{Rule{Name: "share", Kind: RuleDriftShare, Threshold: 0.5}, true, "4 of 5 columns drifted"},
		{Rule{Name: "share high", Kind: RuleDriftShare, Threshold: 0.9}, false, ""},
		{Rule{Name: "dataset", Kind: RuleDriftShare}, true, "alert at 50%"},
		{Rule{Name: "age", Kind: RuleColumnDrift, Columns: []string{"age", "income"}}, true, "drift in age"},
		{Rule{Name: "income", Kind: RuleColumnDrift, Columns: []string{"income"}}, false, ""},
		{Rule{Name: "slow", Kind: RuleLatencyP95, Threshold: 10}, true, "p95 latency 11.7 ms"},
		{Rule{Name: "fast", Kind: RuleLatencyP95, Threshold: 50}, false, ""},
		{Rule{Name: "errors", Kind: RuleErrorRate, Threshold: 0.005}, true, "error rate 0.8%"},
		{Rule{Name: "errors ok", Kind: RuleErrorRate, Threshold: 0.05}, false, ""},
		{Rule{Name: "off", Kind: RuleDriftShare, Threshold: 0.1, Disabled: true}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.rule.Name, func(t *testing.T) {
			require.NoError(t, tt.rule.Validate())
			got := Evaluate([]Rule{tt.rule}, rep, seqIDs())
			if !tt.fire {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Contains(t, got[0].Message, tt.msg)
			assert.Equal(t, rep.ID, got[0].ReportID, "an alert links to its report")
			assert.NotEmpty(t, got[0].ID)
		})
	}
	t.Run("ops rules stay silent without serving figures", func(t *testing.T) {
		r := *rep
		r.Ops = nil
		assert.Empty(t, Evaluate([]Rule{{Name: "x", Kind: RuleLatencyP95, Threshold: 1}, {Name: "y", Kind: RuleErrorRate}}, &r, seqIDs()))
	})
	t.Run("drift rules stay silent when nothing was evaluated", func(t *testing.T) {
		r := *rep
		r.Drift = &drift.Result{}
		assert.Empty(t, Evaluate([]Rule{{Name: "x", Kind: RuleDriftShare}}, &r, seqIDs()))
	})
}

func TestRuleValidate(t *testing.T) {
	for _, r := range []Rule{
		{Kind: RuleDriftShare},
		{Name: "x", Kind: "weird"},
		{Name: "x", Kind: RuleDriftShare, Threshold: 50},
		{Name: "x", Kind: RuleColumnDrift},
		{Name: "x", Kind: RuleLatencyP95},
		{Name: "x", Kind: RuleDriftShare, Webhook: "ftp://host/x"},
		{Name: "x", Kind: RuleDriftShare, Webhook: "not a url"},
	} {
		assert.Error(t, r.Validate(), "%+v", r)
	}
}

func TestWebhookDelivery(t *testing.T) {
	var got atomic.Value
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		b, _ := io.ReadAll(r.Body)
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // first attempt fails: retried
			return
		}
		got.Store(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	a := Alert{ID: "a1", Rule: "share", ReportID: "rep-1", Message: "3 of 4 columns drifted", Webhook: srv.URL, Time: time.Unix(0, 0).UTC()}
	status := Deliver(t.Context(), srv.Client(), a)
	assert.Equal(t, "delivered (HTTP 204)", status)
	assert.EqualValues(t, 2, calls.Load())
	var p WebhookPayload
	require.NoError(t, json.Unmarshal(got.Load().([]byte), &p))
	assert.Equal(t, "tern", p.Source)
	assert.Equal(t, "rep-1", p.Alert.ReportID)
	assert.Equal(t, "/api/monitor/reports/rep-1.html", p.Report)

	t.Run("rejected is not retried", func(t *testing.T) {
		var n atomic.Int32
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1); w.WriteHeader(400) }))
		defer bad.Close()
		a.Webhook = bad.URL
		assert.Equal(t, "not delivered: HTTP 400", Deliver(t.Context(), bad.Client(), a))
		assert.EqualValues(t, 1, n.Load())
	})
	t.Run("nobody listening", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		a.Webhook = url
		client := &http.Client{Timeout: time.Second}
		assert.True(t, strings.HasPrefix(Deliver(t.Context(), client, a), "not delivered"))
	})
}
