package dataset

import "time"

// Origin records where a version's rows came from when Tern wrote the
// file itself rather than a person importing one: today the labelled
// traffic of a deployment (monitor.Service.TrafficDataset). It is the
// version's lineage back to the deployment and the label files.
type Origin struct {
	// Kind is "traffic".
	Kind       string `json:"kind"`
	Deployment string `json:"deployment"`
	Monitor    string `json:"monitor,omitempty"`
	// Backends are the model versions (router backends) that answered the
	// requests whose rows were kept.
	Backends []string `json:"backends,omitempty"`
	// From and To bound the requests' times (zero: unbounded).
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Requests and Rows count what was kept; Skipped says why others were not.
	Requests int            `json:"requests"`
	Rows     int            `json:"rows"`
	Skipped  map[string]int `json:"skipped,omitempty"`
	// Labels are the label files the deployment had received.
	Labels []LabelFile `json:"labels,omitempty"`
}

// LabelFile is one label file a deployment received.
type LabelFile struct {
	Name     string    `json:"name"`
	SHA256   string    `json:"sha256"`
	Labels   int       `json:"labels"`
	Received time.Time `json:"received"`
}
