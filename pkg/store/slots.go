package store

import (
	"context"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// SlotStore keeps the account of a cron trigger's slots: the executions
// are the slots that ran or were SKIPPED, the missed runs the rest.
type SlotStore interface {
	// RecordMissedSlots records run m of missed slots. A run recorded from
	// the same first slot of the same trigger is replaced when m ends later
	// and kept otherwise, so that replicas recording one outage together
	// leave one row. A run without slots, ending before it starts, of an
	// unknown reason or deployment is Invalid, nothing written.
	RecordMissedSlots(ctx context.Context, m workflow.MissedSlots) error
	// ListMissedSlots returns the trigger's missed runs that overlap [start,
	// end), by first slot.
	ListMissedSlots(ctx context.Context, triggerID string, start, end time.Time) ([]workflow.MissedSlots, error)
	// ListSlotExecutions returns the first execution of each of the
	// trigger's slots in [start, end), oldest slot first: a slot that ran
	// is one with an execution, however many attempts it took.
	ListSlotExecutions(ctx context.Context, triggerID string, start, end time.Time) ([]workflow.SlotExecution, error)
	// CountSlotRuns counts the trigger's slots earlier than before with an
	// execution that was not SKIPPED: the runs max_runs counts.
	CountSlotRuns(ctx context.Context, triggerID string, before time.Time) (int64, error)
	// CountMissedSlots counts the missed slots of every trigger whose run
	// was recorded in [start, end): the misfires of the whole cluster.
	CountMissedSlots(ctx context.Context, start, end time.Time) (int64, error)
	// CronTriggerDeployment returns the id of the deployment of cron
	// trigger triggerID, or ErrNotFound.
	CronTriggerDeployment(ctx context.Context, triggerID string) (string, error)
}
