package workflow

import "time"

// BackPressure is the back-pressure on triggers as one replica sees it
// (API guide "Back-pressure"): the bounds on the executions waiting for
// the engine, that backlog, how fast it drains, and the triggers the
// replica refused since it started.
type BackPressure struct {
	// MaxTotal and MaxPerWorkflow are the bounds; 0 is unbounded.
	MaxTotal, MaxPerWorkflow int64
	// Backlog is the PENDING executions waiting for the engine, of every
	// replica, as last counted plus this replica's acceptances since.
	Backlog int64
	// Busiest are the workflows with the most of it, most first.
	Busiest []Waiting
	// DrainPerSecond is the executions that left the backlog per second,
	// recently.
	DrainPerSecond float64
	// Refused counts the refused triggers by bound: "workflow", "total",
	// "sync".
	Refused map[string]int64
	// LastRefusal is when the last refusal was, and LastRefusalMessage
	// what it said; zero and empty when there was none.
	LastRefusal        time.Time
	LastRefusalMessage string
}

// Waiting is one workflow's executions waiting for the engine.
type Waiting struct {
	WorkflowID string
	Pending    int64
}
