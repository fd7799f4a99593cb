package store

import (
	"context"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// BackfillStore keeps backfills and hands their chunks out to replicas under
// leases on the database's clock, as executions' leases are.
type BackfillStore interface {
	// CreateBackfill inserts b with its chunks in one transaction, filling in
	// b's ID and CreatedAt (the database's time). Chunks' BackfillID is b's.
	CreateBackfill(ctx context.Context, b *workflow.Backfill, chunks []workflow.BackfillChunk) error
	// GetBackfill returns backfill id with its progress, counted from its
	// chunks and the executions it started, or ErrNotFound.
	GetBackfill(ctx context.Context, id string) (*workflow.Backfill, error)
	// ClaimBackfillChunk makes owner, for lease, the holder of one chunk
	// that is not done and whose lease has run out (or that has none), the
	// first by backfill id and sequence, and returns it with its backfill's
	// deployment, workflow and overlap policy; ErrNotFound when there is
	// none. A chunk another replica is claiming at the same moment is
	// skipped, not waited for.
	ClaimBackfillChunk(ctx context.Context, owner string, lease time.Duration) (*workflow.BackfillChunk, error)
	// RenewBackfillChunk extends owner's lease on a chunk by lease from the
	// database's clock; a lease of 0 gives the chunk up at once. ErrStale
	// when the chunk is done or another replica holds it.
	RenewBackfillChunk(ctx context.Context, backfillID string, seq int, owner string, lease time.Duration) error
	// FinishBackfillChunk marks owner's chunk done with outOfBounds of its
	// slots not started for the trigger's max_runs, and counts the others
	// that another run held: those without an execution of this backfill.
	// ErrStale when the chunk is done or another replica holds it.
	FinishBackfillChunk(ctx context.Context, backfillID string, seq int, owner string, outOfBounds int) error
}
