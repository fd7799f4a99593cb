package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
)

// TestTextArraysRoundTrip: what the store sends as text[] is what
// PostgreSQL reads back, element for element, whatever the elements hold,
// NULLs and the empty array included.
func TestTextArraysRoundTrip(t *testing.T) {
	t.Parallel()
	db := pgtest.NewStore(t).DB()
	ctx := context.Background()
	tricky := []string{"", "plain", `a "quoted" word`, `back\slash`, `\"`, `{braces}`, "a,comma", "NULL", " spaced ",
		"tab\tand\nnewline", "ünïcødé ✓", `{"n": 1, "s": "x\"y"}`, "'single'"}

	var got []sql.NullString
	require.NoError(t, db.QueryRowContext(ctx, `SELECT $1::text[]`, postgres.Texts(tricky)).Scan(pq.Array(&got)))
	require.Len(t, got, len(tricky))
	for i, s := range tricky {
		require.Equal(t, sql.NullString{String: s, Valid: true}, got[i], "element %d", i)
	}

	withNulls := make([]*string, 0, 2*len(tricky))
	for i := range tricky {
		withNulls = append(withNulls, &tricky[i], nil)
	}
	got = nil
	require.NoError(t, db.QueryRowContext(ctx, `SELECT $1::text[]`, postgres.NullTexts(withNulls)).Scan(pq.Array(&got)))
	require.Len(t, got, len(withNulls))
	for i, s := range withNulls {
		if s == nil {
			require.False(t, got[i].Valid, "element %d", i)
			continue
		}
		require.Equal(t, sql.NullString{String: *s, Valid: true}, got[i], "element %d", i)
	}

	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT cardinality($1::text[])`, postgres.Texts(nil)).Scan(&n))
	require.Zero(t, n, "nil is the empty array, not NULL")
	require.NoError(t, db.QueryRowContext(ctx, `SELECT cardinality($1::text[])`, postgres.NullTexts(nil)).Scan(&n))
	require.Zero(t, n)
}
