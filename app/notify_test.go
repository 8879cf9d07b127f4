package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/pipeline"
)

func TestNotifyAlert(t *testing.T) {
	got := make(chan [2]string, 1)
	n := func(title, body string) { got <- [2]string{title, body} }
	assert.True(t, notifyAlert(n, monitor.Alert{Rule: "drift share ≥ 50%", Monitor: "fraud", Message: "6 of 10 columns drifted."}))
	select {
	case m := <-got:
		assert.Equal(t, "Tern: drift share ≥ 50% · fraud", m[0])
		assert.Equal(t, "6 of 10 columns drifted.", m[1])
	case <-time.After(2 * time.Second):
		t.Fatal("no notification")
	}
	assert.False(t, notifyAlert(n, map[string]any{"rule": "x"}), "only alerts notify")
}

func TestNotifyPipeline(t *testing.T) {
	got := make(chan [2]string, 1)
	n := func(title, body string) { got <- [2]string{title, body} }
	assert.True(t, notifyPipeline(n, pipeline.Notification{Pipeline: "retrain churn", Message: "retrain churn #3 made churn v4"}))
	select {
	case m := <-got:
		assert.Equal(t, "Tern: retrain churn", m[0])
		assert.Equal(t, "retrain churn #3 made churn v4", m[1])
	case <-time.After(2 * time.Second):
		t.Fatal("no notification")
	}
	assert.False(t, notifyPipeline(n, monitor.Alert{}), "only pipeline notifications")
}
