package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
)

// errAborted is what the test dialect calls a conflict between writers.
var errAborted = errors.New("deadlock")

func testStore() *Store {
	return &Store{d: Dialect{Name: "test", Kind: func(err error) errors.Kind {
		if errors.Is(err, errAborted) {
			return errors.Aborted
		}
		return errors.Internal
	}}}
}

func TestFail(t *testing.T) {
	t.Parallel()
	s := testStore()
	for _, tc := range []struct {
		name     string
		err      error
		kind     errors.Kind
		sentinel error
	}{
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, errors.Unavailable, store.ErrUnavailable},
		{"bad connection", driver.ErrBadConn, errors.Unavailable, store.ErrUnavailable},
		{"connection done", sql.ErrConnDone, errors.Unavailable, store.ErrUnavailable},
		{"connection cut mid-answer", io.ErrUnexpectedEOF, errors.Unavailable, store.ErrUnavailable},
		{"cancelled", context.Canceled, errors.Unavailable, context.Canceled},
		{"conflict", fmt.Errorf("update: %w", errAborted), errors.Aborted, store.ErrConcurrentChange},
		{"not found", store.ErrNotFound, errors.NotFound, store.ErrNotFound},
		{"bad cursor", store.ErrBadCursor, errors.Invalid, store.ErrBadCursor},
		{"stale", store.ErrStale, errors.FailedPrecondition, store.ErrStale},
		{"active deployment", &store.ActiveDeploymentError{}, errors.AlreadyExists, nil},
		{"webhook path", &store.WebhookPathError{}, errors.AlreadyExists, nil},
		{"a kind already given", errors.E(errors.PermissionDenied, "no"), errors.PermissionDenied, nil},
		{"anything else", errors.New("syntax"), errors.Internal, nil},
	} {
		err := tc.err
		s.fail("Op", &err)
		require.Equal(t, tc.kind, errors.KindOf(err), "%s: %v", tc.name, err)
		require.ErrorIs(t, err, tc.err, "%s: the cause stays in the chain", tc.name)
		if tc.sentinel != nil {
			require.ErrorIs(t, err, tc.sentinel, tc.name)
		}
		require.Equal(t, tc.kind == errors.Unavailable && !errors.Is(tc.sentinel, context.Canceled),
			errors.Is(err, store.ErrUnavailable), tc.name)
		require.Contains(t, err.Error(), "test.Op: ", tc.name)
	}
	var err error
	s.fail("Op", &err)
	require.NoError(t, err, "nil stays nil")
}

// A batch that fails because the database cannot serve fails whole: its
// rows are not written one by one against a database that is down.
func TestGroupDoesNotSplitWhenUnavailable(t *testing.T) {
	t.Parallel()
	s := testStore()
	for _, tc := range []struct {
		err    error
		writes int
	}{
		{driver.ErrBadConn, 1},
		{context.DeadlineExceeded, 1},
		{errors.New("a row refused"), 7}, // 4 rows: the batch, two halves, four rows
	} {
		writes := 0
		g := &group[int, int]{s: s, write: func(context.Context, []int) ([]int, []error, error) {
			writes++
			return nil, nil, tc.err
		}}
		batch := make([]*groupCall[int, int], 4)
		for i := range batch {
			batch[i] = &groupCall[int, int]{in: i, done: make(chan struct{})}
		}
		g.flush(batch)
		require.Equal(t, tc.writes, writes, "%v", tc.err)
		for _, c := range batch {
			require.ErrorIs(t, c.err, tc.err)
		}
	}
}
