package store

import (
	"context"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// CatchUpStore keeps the catch-up plans of cron triggers under the ALL
// policy and hands them to replicas under leases on the database's clock,
// so that a plan outlives the replica that made it.
type CatchUpStore interface {
	// PlanCatchUp stores c, leased to owner for lease, with missed, the runs
	// of its slots too old to run, in one transaction, and reports ok. When
	// another plan of the trigger already accounts for slots after c.After
	// it writes nothing and returns, in covered, the last slot the trigger's
	// plans account for. A plan without fires is stored done.
	PlanCatchUp(ctx context.Context, c *workflow.CatchUp, missed []workflow.MissedSlots, owner string, lease time.Duration) (covered time.Time, ok bool, err error)
	// ClaimCatchUp makes owner, for lease, the holder of one unfinished plan
	// of a DEPLOYED deployment whose lease has run out; ErrNotFound when
	// there is none.
	ClaimCatchUp(ctx context.Context, owner string, lease time.Duration) (*workflow.CatchUp, error)
	// AdvanceCatchUp records that owner ran fired of the fires of the plan of
	// triggerID from after, and extends its lease by lease from the
	// database's clock (0 gives it up); once every fire ran the plan is done.
	// ErrStale when the plan is done or another replica holds it.
	AdvanceCatchUp(ctx context.Context, triggerID string, after time.Time, owner string, fired int, lease time.Duration) error
	// PruneCatchUps deletes the plans finished before doneBefore and returns
	// how many.
	PruneCatchUps(ctx context.Context, doneBefore time.Time) (int64, error)
}
