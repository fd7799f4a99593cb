package workflow

import "time"

// MissReason says why slots of a cron trigger never ran.
type MissReason string

// The reasons a slot is MISSED.
const (
	// MissedOutsideCatchupWindow: the slot came due while no replica fired
	// it and was older than the catch-up window when one could.
	MissedOutsideCatchupWindow MissReason = "OUTSIDE_CATCHUP_WINDOW"
	// MissedReplicaDown: the slot came due while no replica fired it and,
	// though inside the catch-up window, the LATEST policy ran a later one;
	// or its fire failed on every attempt.
	MissedReplicaDown MissReason = "REPLICA_DOWN"
	// MissedPaused: the deployment was paused at the slot.
	MissedPaused MissReason = "PAUSED"
	// MissedPolicyNone: the slot came due while no replica fired it, and
	// the trigger's catch-up policy is NONE.
	MissedPolicyNone MissReason = "CATCHUP_POLICY_NONE"
)

// MissReasons lists every MissReason, in the order reports show them.
var MissReasons = []MissReason{MissedOutsideCatchupWindow, MissedReplicaDown, MissedPaused, MissedPolicyNone}

// MissedSlots is a run of consecutive slots of one cron trigger, From to To
// inclusive, Count of them, that never ran, all for one reason.
type MissedSlots struct {
	TriggerID    string
	DeploymentID string
	From, To     time.Time
	Count        int64
	Reason       MissReason
	RecordedAt   time.Time
}

// SlotExecution is the execution of one slot of a cron trigger, as the
// schedule report reads it.
type SlotExecution struct {
	Slot          time.Time
	FiredTime     time.Time
	JitterSeconds int32
	Status        ExecutionStatus
}

// CatchUp is the durable plan of one cron trigger's catch-up under the ALL
// policy: it accounts for the trigger's slots in (After, Last], those too old
// recorded missed with it and the rest listed in Fires, which the replica
// holding its lease runs oldest first.
type CatchUp struct {
	TriggerID, DeploymentID string
	After, Last             time.Time
	Fires                   []CatchUpFire
	// Fired counts the fires run so far: a replica that takes the plan over
	// runs Fires[Fired:].
	Fired int
}

// CatchUpFire is one slot of a catch-up and the time it was due to fire.
type CatchUpFire struct {
	Slot, At time.Time
}
