package lock

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/workflow-runtime/workflow-runtime/pkg/tracing"
	"github.com/workflow-runtime/workflow-runtime/pkg/tracing/tracingtest"
)

// TestLockOperationsAreTraced checks that each lock operation is a client
// span under the caller's, that a lock held by another is an answer rather
// than a failure, and that losing a lock is a failure.
func TestLockOperationsAreTraced(t *testing.T) {
	m, rdb := newTestManager(t)
	exp := tracingtest.Install(t)
	slots := NewSlots(rdb)
	ctx, parent := tracing.StartSpan(context.Background(), "caller", trace.SpanKindInternal)

	l, err := m.AcquireLockFor(ctx, "wf-traced", "a", time.Minute)
	require.NoError(t, err)
	_, err = m.AcquireLockFor(ctx, "wf-traced", "b", time.Minute)
	require.ErrorIs(t, err, ErrLockHeld)
	_, err = m.Holder(ctx, "wf-traced")
	require.NoError(t, err)
	require.NoError(t, m.ExtendLock(ctx, l, time.Minute))
	require.NoError(t, m.ReleaseLock(ctx, l))
	require.ErrorIs(t, m.ReleaseLock(ctx, l), ErrNotHolder)

	key := m.Key("slot-traced")
	token, ok, err := slots.TryLock(ctx, key, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = slots.TryLock(ctx, key, time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, slots.MarkRecorded(ctx, key, token))
	_, err = slots.Recorded(ctx, key)
	require.NoError(t, err)
	require.NoError(t, slots.Release(ctx, key, token))
	parent.End()

	type span struct {
		Name     string
		Failed   bool
		Acquired string
		Key      string
	}
	var got []span
	for _, s := range exp.GetSpans() {
		if s.Name == "caller" {
			continue
		}
		require.Equal(t, parent.SpanContext().SpanID(), s.Parent.SpanID(), "parent of %s", s.Name)
		require.Equal(t, trace.SpanKindClient, s.SpanKind, "kind of %s", s.Name)
		sp := span{Name: s.Name, Failed: s.Status.Code == codes.Error}
		for _, kv := range s.Attributes {
			switch kv.Key {
			case "workflow_runtime.lock.acquired":
				sp.Acquired = kv.Value.String()
			case "workflow_runtime.lock.key":
				sp.Key = kv.Value.AsString()
			}
		}
		got = append(got, sp)
	}
	wf := m.Key("wf-traced")
	want := []span{
		{Name: "lock.AcquireLock", Key: wf},
		{Name: "lock.AcquireLock", Key: wf, Acquired: "false"},
		{Name: "lock.Holder", Key: wf},
		{Name: "lock.ExtendLock", Key: wf},
		{Name: "lock.ReleaseLock", Key: wf},
		{Name: "lock.ReleaseLock", Key: wf, Failed: true},
		{Name: "lock.TryLockSlot", Key: key, Acquired: "true"},
		{Name: "lock.TryLockSlot", Key: key, Acquired: "false"},
		{Name: "lock.MarkSlotRecorded", Key: key},
		{Name: "lock.SlotRecorded", Key: key},
		{Name: "lock.ReleaseSlot", Key: key},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lock spans mismatch (-want +got):\n%s", diff)
	}
}
