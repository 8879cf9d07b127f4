package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
)

// RuleKind is what an alert rule watches.
type RuleKind string

const (
	// RuleDriftShare fires when the share of drifted columns reaches
	// Threshold (0 means: when the dataset counts as drifted).
	RuleDriftShare RuleKind = "drift_share"
	// RuleColumnDrift fires when any of Columns drifts.
	RuleColumnDrift RuleKind = "column_drift"
	// RuleLatencyP95 fires when the window's p95 latency exceeds Threshold ms.
	RuleLatencyP95 RuleKind = "latency_p95"
	// RuleErrorRate fires when the window's error rate exceeds Threshold (0–1).
	RuleErrorRate RuleKind = "error_rate"
	// RuleRealised fires when Metric, realised on labelled predictions in
	// the newest window that has it, falls below Threshold (rises above it
	// for rmse and mae).
	RuleRealised RuleKind = "realised_metric"
	// RuleImportanceDrift fires when the importance-weighted drift share
	// (Report.Importance.WeightedShare) exceeds Threshold (0–1): drift on
	// the columns the deployed model leans on, not on any column.
	RuleImportanceDrift RuleKind = "importance_weighted_drift"
)

// Rule is an alert rule, evaluated on every report of its monitor.
type Rule struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Kind      RuleKind `json:"kind"`
	Columns   []string `json:"columns,omitempty"`
	Threshold float64  `json:"threshold"`
	// Metric is the realised metric a realised_metric rule watches.
	Metric string `json:"metric,omitempty"`
	// Webhook, when set, receives every alert of this rule as a JSON POST.
	Webhook  string `json:"webhook,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`
}

// Validate checks a rule a person typed.
func (r Rule) Validate() error {
	if strings.TrimSpace(r.Name) == "" {
		return core.Errorf(core.Invalid, "An alert rule needs a name.")
	}
	switch r.Kind {
	case RuleDriftShare, RuleErrorRate, RuleImportanceDrift:
		if math.IsNaN(r.Threshold) || r.Threshold < 0 || r.Threshold > 1 {
			return core.Errorf(core.Invalid, "Rule %q: the threshold is a share between 0 and 1 (e.g. 0.5 for 50%%).", r.Name)
		}
	case RuleColumnDrift:
		if len(r.Columns) == 0 {
			return core.Errorf(core.Invalid, "Rule %q: name at least one column to watch.", r.Name)
		}
	case RuleLatencyP95:
		if r.Threshold <= 0 {
			return core.Errorf(core.Invalid, "Rule %q: the latency threshold must be more than 0 ms.", r.Name)
		}
	case RuleRealised:
		if !slices.Contains(Metrics, r.Metric) {
			return core.Errorf(core.Invalid, "Rule %q: unknown metric %q (use %s).", r.Name, r.Metric, strings.Join(Metrics, ", "))
		}
		if math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
			return core.Errorf(core.Invalid, "Rule %q: the threshold must be a number.", r.Name)
		}
		if lowerIsBetter(r.Metric) && r.Threshold < 0 {
			return core.Errorf(core.Invalid, "Rule %q: %s is never negative; use a threshold of 0 or more.", r.Name, r.Metric)
		}
		if !lowerIsBetter(r.Metric) && r.Metric != MetricR2 && (r.Threshold < 0 || r.Threshold > 1) {
			return core.Errorf(core.Invalid, "Rule %q: %s is between 0 and 1 (e.g. 0.8).", r.Name, r.Metric)
		}
	default:
		return core.Errorf(core.Invalid, "Rule %q: unknown kind %q (use drift_share, column_drift, importance_weighted_drift, latency_p95, error_rate or realised_metric).", r.Name, r.Kind)
	}
	if r.Webhook != "" {
		u, err := url.Parse(r.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return core.Errorf(core.Invalid, "Rule %q: the webhook must be an http:// or https:// address.", r.Name)
		}
	}
	return nil
}

// Alert is a rule that fired on a report; ReportID links to it.
type Alert struct {
	ID        string    `json:"id"`
	RuleID    string    `json:"ruleId"`
	Rule      string    `json:"rule"`
	Kind      RuleKind  `json:"kind"`
	Monitor   string    `json:"monitor,omitempty"`
	ReportID  string    `json:"reportId"`
	Time      time.Time `json:"time"`
	Message   string    `json:"message"`
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	Webhook   string    `json:"-"`
	// Delivery says what happened to the webhook POST ("" when none).
	Delivery string `json:"delivery,omitempty"`
}

// Evaluate applies rules to a report and returns the alerts that fire.
func Evaluate(rules []Rule, r *Report, newID func() string) []Alert {
	var out []Alert
	for _, rule := range rules {
		if rule.Disabled {
			continue
		}
		a := Alert{RuleID: rule.ID, Rule: rule.Name, Kind: rule.Kind, Monitor: r.Monitor, ReportID: r.ID, Time: r.Created, Threshold: rule.Threshold, Webhook: rule.Webhook}
		fire := false
		switch rule.Kind {
		case RuleDriftShare:
			if r.Drift == nil || r.Drift.Evaluated == 0 {
				continue
			}
			a.Value = r.Drift.Share
			if rule.Threshold == 0 {
				fire = r.Drift.Drift
				a.Threshold = r.Drift.DriftShare
			} else {
				fire = r.Drift.Share >= rule.Threshold
			}
			a.Message = fmt.Sprintf("%d of %d columns drifted (%.0f%%, alert at %.0f%%)", r.Drift.Drifted, r.Drift.Evaluated, 100*r.Drift.Share, 100*a.Threshold)
		case RuleColumnDrift:
			if r.Drift == nil {
				continue
			}
			var hit []string
			for _, v := range r.Drift.Columns {
				if v.Drift && slices.Contains(rule.Columns, v.Column) {
					hit = append(hit, v.Column)
				}
			}
			fire = len(hit) > 0
			a.Value = float64(len(hit))
			a.Message = "drift in " + strings.Join(hit, ", ")
		case RuleImportanceDrift:
			if r.Importance == nil {
				continue
			}
			a.Value = r.Importance.WeightedShare
			fire = a.Value > rule.Threshold
			var hit []string
			for _, c := range r.Importance.Columns {
				if c.Drift {
					hit = append(hit, fmt.Sprintf("%s (%.0f%%)", c.Column, 100*c.Weight))
				}
			}
			a.Message = fmt.Sprintf("%.0f%% of %s v%d's importance sits on drifted columns (alert above %.0f%%)", 100*a.Value, r.Importance.Model, r.Importance.Version, 100*rule.Threshold)
			if len(hit) > 0 {
				a.Message += ": " + strings.Join(hit, ", ")
			}
		case RuleLatencyP95:
			if r.Ops == nil || r.Ops.Requests == 0 {
				continue
			}
			a.Value = r.Ops.LatencyP95Ms
			fire = a.Value > rule.Threshold
			a.Message = fmt.Sprintf("p95 latency %.1f ms over %d requests (alert above %.1f ms)", a.Value, r.Ops.Requests, rule.Threshold)
		case RuleErrorRate:
			if r.Ops == nil || r.Ops.Requests == 0 {
				continue
			}
			a.Value = r.Ops.ErrorRate
			fire = a.Value > rule.Threshold
			a.Message = fmt.Sprintf("error rate %.1f%% (%d of %d requests; alert above %.1f%%)", 100*a.Value, r.Ops.Errors, r.Ops.Requests, 100*rule.Threshold)
		case RuleRealised:
			if r.Performance == nil {
				continue
			}
			w, v, ok := r.Performance.Latest(rule.Metric)
			if !ok {
				continue
			}
			a.Value = v
			dir := "below"
			if lowerIsBetter(rule.Metric) {
				fire, dir = v > rule.Threshold, "above"
			} else {
				fire = v < rule.Threshold
			}
			a.Message = fmt.Sprintf("realised %s %s on %d labelled predictions from %s (alert %s %s)",
				metricName(rule.Metric), fmtNum(v), w.N, w.From.Format("2006-01-02 15:04:05 MST"), dir, fmtNum(rule.Threshold))
		}
		if fire {
			a.ID = newID()
			out = append(out, a)
		}
	}
	return out
}

// WebhookPayload is the JSON body POSTed for an alert.
type WebhookPayload struct {
	Source string `json:"source"` // always "tern"
	Alert  Alert  `json:"alert"`
	// Report is a path to the report's HTML on Tern's own server (browser
	// mode); the desktop app opens the report from the alert's ReportID.
	Report string `json:"report"`
}

// Deliver POSTs an alert to its webhook, retrying a failed attempt twice.
// It never fails the caller: what happened is returned for the record.
func Deliver(ctx context.Context, client *http.Client, a Alert) string {
	if a.Webhook == "" {
		return ""
	}
	body, _ := json.Marshal(WebhookPayload{Source: "tern", Alert: a, Report: "/api/monitor/reports/" + a.ReportID + ".html"})
	var last string
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "not delivered: cancelled"
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Webhook, bytes.NewReader(body))
		if err != nil {
			return "not delivered: bad address"
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Tern-alerts")
		resp, err := client.Do(req)
		if err != nil {
			last = "not delivered: the webhook did not answer"
			continue
		}
		resp.Body.Close()
		if resp.StatusCode < 300 {
			return fmt.Sprintf("delivered (HTTP %d)", resp.StatusCode)
		}
		last = fmt.Sprintf("not delivered: HTTP %d", resp.StatusCode)
		if resp.StatusCode < 500 {
			break // the receiver rejected it; retrying will not help
		}
	}
	return last
}
