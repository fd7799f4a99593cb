package workflow

import (
	"strings"
	"time"
)

// MaxBackfillSlots bounds the slots of one backfill, all its triggers
// together: enough for a week of a per-minute cron, little enough to plan in
// one request.
const MaxBackfillSlots = 10000

const backfillPrefix = "backfill:"

// BackfillTriggeredBy is the triggered_by of the executions backfill id
// starts: by it a slot's run is counted as the backfill's, and run under the
// backfill's overlap policy.
func BackfillTriggeredBy(id string) string { return backfillPrefix + id }

// BackfillOf returns the backfill that started an execution whose
// triggered_by is triggeredBy, if one did.
func BackfillOf(triggeredBy string) (id string, ok bool) {
	return strings.CutPrefix(triggeredBy, backfillPrefix)
}

// Backfill runs every slot of a deployment's cron triggers in [Start, End),
// each at most once ever, with its progress as the store counts it.
type Backfill struct {
	ID           string
	DeploymentID string
	WorkflowID   string
	Start, End   time.Time
	// OverlapPolicy is the policy its executions run under.
	OverlapPolicy string
	// Planned counts the slots in the range.
	Planned int64
	// Started counts the slots it started an execution for (not SKIPPED);
	// Finished those of them that ended.
	Started, Finished int64
	// Skipped counts slots another run held already, those its overlap
	// policy SKIPPED, and the OutOfBounds ones.
	Skipped int64
	// OutOfBounds counts the slots in the range that the trigger's bounds
	// keep from running: before its start_time, at or after its end_time,
	// or past its max_runs. They are never started.
	OutOfBounds int64
	// Handled reports that every slot was started or skipped.
	Handled   bool
	CreatedAt time.Time
	// CompletedAt is set once every slot was handled and every execution it
	// started ended: the last of those moments.
	CompletedAt *time.Time
}

// BackfillChunk is a run of consecutive slots of one trigger of a backfill,
// the unit a replica leases.
type BackfillChunk struct {
	BackfillID string
	Seq        int
	TriggerID  string
	// Slots are in time order.
	Slots []time.Time
	// DeploymentID, WorkflowID and OverlapPolicy are the backfill's, filled
	// in when a replica claims the chunk.
	DeploymentID, WorkflowID, OverlapPolicy string
}
