package coordination

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// TestDecideOverlap states the overlap policies whole: what a run does,
// given what it knows of its workflow.
func TestDecideOverlap(t *testing.T) {
	t.Parallel()
	const (
		skip   = workflow.OverlapSkip
		all    = workflow.OverlapAllowAll
		buffer = workflow.OverlapBufferOne
		cancel = workflow.OverlapCancelOther
		queue  = workflow.OverlapBufferAll
	)
	running := "workflow is running execution h"
	for _, tc := range []struct {
		name string
		in   overlap
		want decision
	}{
		{"ALLOW_ALL starts whatever runs", overlap{policy: all, tried: true, holder: "h"}, decision{step: stepStart}},
		{"ALLOW_ALL takes nothing", overlap{policy: all}, decision{step: stepStart}},

		{"SKIP tries to take the workflow first", overlap{policy: skip}, decision{step: stepTake}},
		{"SKIP starts when it took it", overlap{policy: skip, tried: true}, decision{step: stepStart}},
		{"SKIP skips behind a holder", overlap{policy: skip, tried: true, holder: "h"}, decision{step: stepSkip, reason: running}},
		{"SKIP frees what an ended holder left", overlap{policy: skip, tried: true, holder: "h", holderOver: true}, decision{step: stepFree}},
		{"SKIP ignores a buffered execution", overlap{policy: skip, buffered: "b"}, decision{step: stepTake}},
		{"an unknown policy is SKIP", overlap{policy: "", tried: true, holder: "h"}, decision{step: stepSkip, reason: running}},

		{"BUFFER_ONE tries to take the workflow first", overlap{policy: buffer}, decision{step: stepTake}},
		{"BUFFER_ONE starts when it took it", overlap{policy: buffer, tried: true}, decision{step: stepStart}},
		{"BUFFER_ONE waits behind a holder", overlap{policy: buffer, tried: true, holder: "h"}, decision{step: stepWait}},
		{"BUFFER_ONE frees what an ended holder left", overlap{policy: buffer, tried: true, holder: "h", holderOver: true}, decision{step: stepFree}},
		{"BUFFER_ONE skips behind one already buffered", overlap{policy: buffer, buffered: "b"},
			decision{step: stepSkip, reason: "execution b is already buffered"}},
		{"BUFFER_ONE skips behind one buffered, whoever holds the workflow", overlap{policy: buffer, buffered: "b", tried: true},
			decision{step: stepSkip, reason: "execution b is already buffered"}},
		{"BUFFER_ONE with the turn does not queue", overlap{policy: buffer, holdsTurn: true, buffered: "b"}, decision{step: stepTake}},

		{"BUFFER_ALL tries to take the workflow first", overlap{policy: queue, maxBuffered: 2}, decision{step: stepTake}},
		{"BUFFER_ALL waits behind a holder", overlap{policy: queue, maxBuffered: 2, tried: true, holder: "h"}, decision{step: stepWait}},
		{"BUFFER_ALL waits behind those fired before it", overlap{policy: queue, maxBuffered: 2, ahead: 1, buffered: "b"}, decision{step: stepWait}},
		{"BUFFER_ALL skips when max_buffered wait before it", overlap{policy: queue, maxBuffered: 2, ahead: 3, queued: 2},
			decision{step: stepSkip, reason: "2 executions are already buffered, as many as max_buffered allows"}},
		{"BUFFER_ALL with the turn does not queue", overlap{policy: queue, maxBuffered: 2, ahead: 3, queued: 2, holdsTurn: true}, decision{step: stepTake}},
		{"BUFFER_ALL frees what an ended holder left", overlap{policy: queue, maxBuffered: 2, tried: true, holder: "h", holderOver: true}, decision{step: stepFree}},

		{"CANCEL_OTHER tries to take the workflow first", overlap{policy: cancel}, decision{step: stepTake}},
		{"CANCEL_OTHER starts when it took it", overlap{policy: cancel, tried: true}, decision{step: stepStart}},
		{"CANCEL_OTHER replaces a holder", overlap{policy: cancel, tried: true, holder: "h"}, decision{step: stepReplace}},
		{"CANCEL_OTHER frees what an ended holder left", overlap{policy: cancel, tried: true, holder: "h", holderOver: true}, decision{step: stepFree}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, decideOverlap(tc.in), cmp.AllowUnexported(decision{})); diff != "" {
				t.Errorf("decideOverlap(%+v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
