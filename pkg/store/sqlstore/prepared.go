package sqlstore

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// prepared is a hot statement of a pool, prepared on its first use rather
// than when the store is made, so that a store opened while the database is
// down still starts. database/sql then prepares it once on each connection
// that runs it and keeps it there: PostgreSQL parses and plans it once per
// connection (a generic plan after a few runs, its parameters being arrays
// of any length) instead of for every batch, and lib/pq sends one round
// trip per run instead of two. A statement that fails to prepare is tried
// again by the next call.
type prepared struct {
	db    *sqlx.DB
	query string
	mu    sync.Mutex
	stmt  *sqlx.Stmt
}

func newPrepared(db *sqlx.DB, query string) *prepared { return &prepared{db: db, query: query} }

// get returns the statement, preparing it if no call has yet.
func (p *prepared) get(ctx context.Context) (*sqlx.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		stmt, err := p.db.PreparexContext(ctx, p.query)
		if err != nil {
			return nil, err
		}
		p.stmt = stmt
	}
	return p.stmt, nil
}

// close closes the statement on every connection it was prepared on.
func (p *prepared) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		return nil
	}
	err := p.stmt.Close()
	p.stmt = nil
	return err
}
