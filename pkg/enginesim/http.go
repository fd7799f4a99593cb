package enginesim

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// CallsReport is the body of GET /calls.
type CallsReport struct {
	// Calls is the number of accepted ExecuteWorkflow calls per idempotency
	// key; calls without a key are under "".
	Calls map[string]int `json:"calls"`
	// Executions is the number of executions started.
	Executions int `json:"executions"`
	// Duplicates lists, sorted, the keys called more than once: the keys for
	// which the caller was not exactly-once. It is empty, never null.
	Duplicates []string `json:"duplicates"`
}

// Report returns the call counts as GET /calls serves them, taken in one
// critical section so that calls and executions agree.
func (s *Sim) Report() CallsReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := CallsReport{Calls: make(map[string]int, len(s.calls)), Executions: len(s.execs), Duplicates: []string{}}
	for k, n := range s.calls {
		r.Calls[k] = n
		if n > 1 {
			r.Duplicates = append(r.Duplicates, k)
		}
	}
	slices.Sort(r.Duplicates)
	return r
}

// PeakReport is the body of GET /peak.
type PeakReport struct {
	WorkflowID string `json:"workflow_id"`
	// Peak is the most executions of the workflow that ran at once (Peak).
	Peak int `json:"peak"`
}

// Handler serves GET /calls (a CallsReport as JSON), GET /runs (every Run,
// as a JSON array sorted by start), GET /peak?workflow_id=WF (a PeakReport)
// and GET /healthz.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /peak", func(w http.ResponseWriter, r *http.Request) {
		wf := r.URL.Query().Get("workflow_id")
		if wf == "" {
			http.Error(w, "engine-sim: GET /peak takes workflow_id", http.StatusBadRequest)
			return
		}
		writeJSON(w, PeakReport{WorkflowID: wf, Peak: s.Peak(wf)})
	})
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Report())
	})
	mux.HandleFunc("GET /runs", func(w http.ResponseWriter, _ *http.Request) {
		runs := s.Runs()
		slices.SortFunc(runs, func(a, b Run) int {
			return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.ExecutionID, b.ExecutionID))
		})
		writeJSON(w, runs)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]string{"status": "ok"})
	})
	return mux
}

// writeJSON answers v as JSON, or 500 when v cannot be encoded (a time
// outside the years 0-9999), before anything is sent.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "engine-sim: encoding the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Only a vanished client makes the write fail: there is no one to tell.
	_, _ = w.Write(append(b, '\n'))
}
