package pgtest_test

import (
	"context"
	"database/sql"
	"io/fs"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	db, err := sql.Open("postgres", pgtest.AdminURL())
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(),
		`SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n))
	return n == 1
}

func TestNewDatabase(t *testing.T) { //nolint:tparallel // "create" must end, its cleanup dropping the databases, before the checks after it
	t.Parallel()
	if testing.Short() {
		t.Skip("pgtest: skipping PostgreSQL integration test in -short mode")
	}
	var names []string
	t.Run("create", func(t *testing.T) {
		for range 2 {
			u, err := url.Parse(pgtest.NewDatabase(t))
			require.NoError(t, err)
			name := strings.TrimPrefix(u.Path, "/")
			if !strings.HasPrefix(name, pgtest.DatabasePrefix) || !databaseExists(t, name) {
				t.Errorf("NewDatabase made %q: want an existing database named %s<hex>", name, pgtest.DatabasePrefix)
			}
			names = append(names, name)
		}
		// A connection left open does not keep the database alive.
		db, err := sql.Open("postgres", pgtest.NewDatabase(t))
		require.NoError(t, err)
		require.NoError(t, db.Ping())
	})
	require.Len(t, names, 2)
	if names[0] == names[1] {
		t.Errorf("two databases named %s", names[0])
	}
	for _, name := range names {
		if databaseExists(t, name) {
			t.Errorf("database %s survived its test", name)
		}
	}
}

// TestNewStore checks that each store's database holds every migration and
// is a schema of its own: the copies of one template share nothing.
func TestNewStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.NewStore(t), pgtest.NewStore(t)
	var n int
	require.NoError(t, a.DB().GetContext(ctx, &n, `SELECT count(*) FROM deployments`))
	files, err := fs.Glob(migrations.Files(), "*.sql")
	require.NoError(t, err)
	require.NoError(t, a.DB().GetContext(ctx, &n, `SELECT count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0 AND is_applied`))
	require.Equal(t, len(files), n, "applied migrations")

	_, err = a.DB().ExecContext(ctx, `CREATE TABLE pgtest_probe (x int)`)
	require.NoError(t, err)
	var absent bool
	require.NoError(t, b.DB().GetContext(ctx, &absent, `SELECT to_regclass('pgtest_probe') IS NULL`))
	require.True(t, absent, "a table made in one store's database is in another's")
}

func TestNewStoreWithClock(t *testing.T) {
	t.Parallel()
	s, clock := pgtest.NewStoreWithClock(t)
	shift := func() time.Duration {
		var us int64
		require.NoError(t, s.DB().Get(&us, `SELECT (extract(epoch FROM now() - pg_catalog.now()) * 1000000)::bigint`))
		return time.Duration(us) * time.Microsecond
	}
	require.Equal(t, time.Duration(0), shift())
	clock.Set(t, time.Hour)
	require.Equal(t, time.Hour, shift())
	clock.Set(t, -90*time.Second)
	require.Equal(t, -90*time.Second, shift())
}
