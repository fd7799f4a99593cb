package store

import (
	"context"
	"time"
)

// RetentionStore removes history older than the retention, and keeps the
// leases of work that one replica of the cluster does at a time.
type RetentionStore interface {
	// TakeLease gives holder lease name for ttl from the database's clock,
	// when no one holds it, its holding has run out, or holder holds it
	// already (then it is renewed); it reports whether holder holds it now.
	TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease ends holder's lease name now; another holder's, or none,
	// is left as it is.
	ReleaseLease(ctx context.Context, name, holder string) error
	// DeleteExpiredExecutions deletes up to limit finished executions fired
	// in [from, before), the oldest first, and returns how many and the
	// fired time of the last (zero when none): the from of a pass's
	// next batch, which so starts where this one ended instead of walking
	// again over the index entries of the rows already deleted. An attempt
	// of a retried run is deleted only once every later attempt of its run
	// is finished and fired before before, so that a run goes as a whole
	// and never loses its first attempts while a later one is kept. PENDING
	// and RUNNING executions are never deleted; rows another writer holds
	// are passed over, not waited for.
	DeleteExpiredExecutions(ctx context.Context, from, before time.Time, limit int) (int64, time.Time, error)
	// DeleteExpiredMissedSlots deletes up to limit runs of missed slots
	// whose last slot is before before, and returns how many.
	DeleteExpiredMissedSlots(ctx context.Context, before time.Time, limit int) (int64, error)
}
