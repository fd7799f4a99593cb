package sqlstore

import (
	"context"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// preparedOnSQLite returns `SELECT 1` prepared on an in-memory SQLite
// database, both closed at the test's end. Its tests do not run in
// parallel: opening a connection on the driver reads the functions that
// the first sqlite.Open registers, which a parallel test of this binary may
// be doing (the race detector caught it).
func preparedOnSQLite(t *testing.T) *prepared {
	t.Helper()
	db, err := sqlx.Open("sqlite", ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	p := newPrepared(db, `SELECT 1`)
	t.Cleanup(func() { require.NoError(t, p.close()) })
	return p
}

// A prepared statement is prepared again each time its uses double, and a
// version a caller still holds is closed only once that caller releases it.
func TestPreparedRenewsAsUsesDouble(t *testing.T) {
	ctx := context.Background()
	p := preparedOnSQLite(t)

	var (
		renewals []int
		last     *sqlx.Stmt
	)
	for use := 1; use <= 1000; use++ {
		stmt, release, err := p.get(ctx) //nolint:sqlclosecheck // p's, closed by p.close or a renewal
		require.NoError(t, err)
		if stmt != last {
			renewals = append(renewals, use)
			last = stmt
		}
		var one int
		require.NoError(t, stmt.GetContext(ctx, &one))
		release()
	}
	require.Equal(t, []int{1, 65, 193, 449, 961}, renewals, "prepared on the first use and after 64, 128, 256 and 512 more")

	held, release, err := p.get(ctx)
	require.NoError(t, err)
	var wg sync.WaitGroup
	renewed := make(chan struct{})
	wg.Go(func() {
		defer close(renewed)
		for range p.renewAt {
			stmt, release, err := p.get(ctx) //nolint:sqlclosecheck // p's, closed by a renewal
			if err != nil {
				t.Error(err)
				return
			}
			release()
			if stmt != held {
				return
			}
		}
	})
	var one int
	require.NoError(t, held.GetContext(ctx, &one), "a held version stays open while the renewal waits")
	select {
	case <-renewed:
		t.Fatal("the renewal returned before the held version was released")
	default:
	}
	release()
	wg.Wait()
	require.Error(t, held.GetContext(ctx, &one), "a version is closed once its last caller released it")
}

// A renewal that fails to prepare keeps the version in use, and the next
// call tries again.
func TestPreparedKeepsItsVersionWhenARenewalFails(t *testing.T) {
	ctx := context.Background()
	p := preparedOnSQLite(t)

	first, release, err := p.get(ctx)
	require.NoError(t, err)
	release()
	p.query = `SELECT FROM nowhere WHERE`
	for range 2 * firstRenewal {
		stmt, release, err := p.get(ctx) //nolint:sqlclosecheck // p's, closed by p.close
		require.NoError(t, err, "a failed renewal is no failed call")
		require.Same(t, first, stmt)
		var one int
		require.NoError(t, stmt.GetContext(ctx, &one))
		release()
	}
	p.query = `SELECT 1`
	renewed, release, err := p.get(ctx)
	require.NoError(t, err)
	release()
	require.NotSame(t, first, renewed, "the next call after the failures renews")
}
