package scheduling

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/metrics/generic"
	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/logging/logtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

type fakeLocker struct {
	ok       bool
	err      error
	recorded bool
	keys     []string
	released []string
	marked   []string
}

func (l *fakeLocker) TryLock(_ context.Context, key string, _ time.Duration) (string, bool, error) {
	l.keys = append(l.keys, key)
	return "token-" + key, l.ok, l.err
}

func (l *fakeLocker) Release(_ context.Context, _, token string) error {
	l.released = append(l.released, token)
	return errors.New("Redis went away")
}

func (l *fakeLocker) MarkRecorded(_ context.Context, _, token string) error {
	l.marked = append(l.marked, token)
	return nil
}

func (l *fakeLocker) Recorded(context.Context, string) (bool, error) { return l.recorded, nil }

type fakeExecutions struct {
	created bool
	err     error
	mu      sync.Mutex
	got     []workflow.Execution
}

func (f *fakeExecutions) inserted() []workflow.Execution {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func (f *fakeExecutions) CreateExecution(_ context.Context, e *workflow.Execution) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, *e)
	if f.created {
		e.ID = "exec-1"
	}
	return f.created, f.err
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	slot := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	fire := Fire{Trigger: workflow.CronTrigger{TriggerID: "t1", DeploymentID: "d1", DeploymentVersion: 3, WorkflowID: "wf"},
		Slot: slot, At: slot.Add(42*time.Second + 7*time.Millisecond), Lag: 3 * time.Millisecond}
	firedAt := slot.Add(43 * time.Second)

	for _, tc := range []struct {
		name       string
		locker     *fakeLocker
		store      *fakeExecutions
		wantErr    bool
		wantInsert bool
		wantDup    float64
		wantLog    string
	}{
		{"wins the slot", &fakeLocker{ok: true}, &fakeExecutions{created: true}, false, true, 0, "workflow_fired"},
		{"another replica holds the lock and recorded the slot", &fakeLocker{ok: false, recorded: true}, &fakeExecutions{created: true}, false, false, 1, ""},
		{"another replica holds the lock and died", &fakeLocker{ok: false}, &fakeExecutions{created: true}, false, true, 1, "slot recorded by a replica kept out of it"},
		{"Redis down: the database decides", &fakeLocker{err: errors.New("connection refused")}, &fakeExecutions{created: true}, false, true, 0, "slot lock unavailable"},
		{"the row exists already", &fakeLocker{ok: true}, &fakeExecutions{created: false}, false, true, 1, ""},
		{"the database fails", &fakeLocker{ok: true}, &fakeExecutions{err: errors.New("database down")}, true, true, 0, ""},
		{"no Redis at all", nil, &fakeExecutions{created: true}, false, true, 0, "workflow_fired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf logtest.Buffer
			dups := generic.NewCounter("dups")
			r := &Recorder{Store: tc.store, KeyPrefix: "wfr:", Logger: log.NewJSONLogger(&buf), Duplicates: dups,
				ConfirmAfter: time.Millisecond, Now: func() time.Time { return firedAt }}
			if tc.locker != nil {
				r.Locker = tc.locker
			}
			err := r.Record(context.Background(), fire)
			require.Equal(t, tc.wantErr, err != nil, "error: %v", err)
			if tc.locker != nil && !tc.locker.ok && tc.locker.err == nil {
				// The check of a slot another replica holds comes later.
				time.Sleep(20 * time.Millisecond)
				if tc.wantLog != "" {
					require.Eventually(t, func() bool { return strings.Contains(buf.String(), tc.wantLog) }, time.Second, time.Millisecond)
				}
			}
			require.Equal(t, tc.wantInsert, len(tc.store.inserted()) == 1)
			require.Equal(t, tc.wantDup, dups.Value())
			if tc.wantLog != "" {
				require.Contains(t, buf.String(), tc.wantLog)
			}
			if tc.locker != nil {
				require.Equal(t, []string{"wfr:slot:t1:1772366400000"}, tc.locker.keys)
				if tc.wantErr {
					require.Equal(t, []string{"token-wfr:slot:t1:1772366400000"}, tc.locker.released, "a failed write gives the slot back")
					require.Contains(t, buf.String(), "slot lock not released")
				} else {
					require.Empty(t, tc.locker.released, "a recorded or taken slot stays locked")
				}
				if tc.locker.ok && !tc.wantErr {
					require.Equal(t, []string{"token-wfr:slot:t1:1772366400000"}, tc.locker.marked, "the holder marks its slot recorded")
				}
			}
			if tc.wantInsert {
				e := tc.store.inserted()[0]
				require.Equal(t, workflow.ExecutionPending, e.Status)
				require.True(t, e.ScheduledTime.Equal(slot))
				require.True(t, e.FiredTime.Equal(firedAt))
				require.EqualValues(t, 42, e.JitterSeconds)
				require.Equal(t, "cron:t1", e.TriggeredBy)
				require.Len(t, e.TraceID, 32)
			}
		})
	}

	// A stopped recorder confirms nothing more.
	held := &fakeLocker{}
	execs := &fakeExecutions{created: true}
	stopped := &Recorder{Store: execs, Locker: held, ConfirmAfter: 10 * time.Millisecond}
	require.NoError(t, stopped.Record(context.Background(), fire))
	require.NoError(t, stopped.Stop(context.Background()))
	require.NoError(t, stopped.Record(context.Background(), fire))
	time.Sleep(50 * time.Millisecond)
	require.Empty(t, execs.inserted(), "no confirmation after Stop")

	// The owner of a sharded trigger is the slot's only firer: it writes
	// without the lock, which this locker would refuse.
	refusing := &fakeLocker{}
	ownerExecs := &fakeExecutions{created: true}
	owner := &Recorder{Store: ownerExecs, Locker: refusing}
	owned := fire
	owned.Owned = true
	require.NoError(t, owner.Record(context.Background(), owned))
	require.Len(t, ownerExecs.inserted(), 1)
	require.Empty(t, refusing.keys, "no lock taken")
	require.Empty(t, refusing.marked)

	var nilDeps Recorder
	nilDeps.Store = &fakeExecutions{created: true}
	require.NoError(t, nilDeps.Record(context.Background(), fire), "a Recorder's optional parts may be left out")
}
