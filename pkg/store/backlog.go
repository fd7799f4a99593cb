package store

import (
	"context"
	"time"
)

// BacklogStore counts the executions that wait to be handed to the engine,
// for back-pressure on triggers (ARCHITECTURE "Back-pressure").
type BacklogStore interface {
	// PendingBacklog counts, per workflow, the PENDING executions of every
	// replica that are due at now (a retry waiting for its due time is not
	// counted yet); workflows with none are left out.
	PendingBacklog(ctx context.Context, now time.Time) ([]WorkflowBacklog, error)
}

// WorkflowBacklog is one workflow's PENDING executions.
type WorkflowBacklog struct {
	WorkflowID string
	Pending    int64
	// TurnHeld says that an execution of the workflow holds its turn: its
	// PENDING executions under a policy that takes turns wait for that one
	// to end, not for the dispatch ahead of them.
	TurnHeld bool
	// Oldest is when the longest-waiting of them fired, or fell due.
	Oldest time.Time
}
