package enginesim

import (
	"cmp"
	"slices"
	"time"
)

// Peak returns the most executions of workflowID that ran at once in the
// engine, from their starts and ends as Runs reports them: a run ending at
// the instant another starts does not overlap it. A test reads it to check
// a bound on concurrent runs across every replica that called the engine.
func (s *Sim) Peak(workflowID string) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, r := range s.Runs() {
		if r.WorkflowID != workflowID {
			continue
		}
		edges = append(edges, edge{r.Start, 1})
		if r.End != nil {
			edges = append(edges, edge{*r.End, -1})
		}
	}
	slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.delta, b.delta)) })
	peak, running := 0, 0
	for _, e := range edges {
		running += e.delta
		peak = max(peak, running)
	}
	return peak
}
