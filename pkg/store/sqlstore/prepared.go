package sqlstore

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// firstRenewal is the number of uses after which a prepared statement is
// first prepared again; each renewal doubles it.
const firstRenewal = 64

// prepared is a hot statement of a pool, prepared on its first use rather
// than when the store is made, so that a store opened while the database is
// down still starts. database/sql then prepares it once on each connection
// that runs it and keeps it there: PostgreSQL parses and plans it once per
// connection (a generic plan after a few runs, its parameters being arrays
// of any length) instead of for every batch, and lib/pq sends one round
// trip per run instead of two. A statement that fails to prepare is tried
// again by the next call.
//
// It is prepared again each time its uses double. PostgreSQL keeps a
// connection's generic plan until the table's statistics change, which
// autovacuum does at most once a minute; a plan made while the table was
// small (a fresh database, its first burst) hashes a sequential scan of the
// whole table, and kept while the burst grows the table it cost 8 ms a
// batch at 30,000 rows where a plan by the primary key costs under one. The
// table grows about as the uses do, so renewing at each doubling keeps
// every plan made at no less than half the size it serves, for a number
// of preparations that grows as the logarithm of the uses.
type prepared struct {
	db    *sqlx.DB
	query string
	mu    sync.Mutex
	cur   *preparedVersion
	// uses counts the calls of get since cur was prepared; renewAt is the
	// count at which it is prepared again.
	uses, renewAt int
}

// preparedVersion is one preparation of a statement, and its callers that
// have not released it.
type preparedVersion struct {
	stmt  *sqlx.Stmt
	users sync.WaitGroup
}

func newPrepared(db *sqlx.DB, query string) *prepared {
	return &prepared{db: db, query: query, renewAt: firstRenewal}
}

// get returns the statement, preparing it if no call has yet or if its
// uses have reached the next renewal, and the release that the caller
// calls once it is done with it. A version replaced by a renewal is closed
// by the call that replaced it, once its last caller has released it; a
// renewal that fails to prepare keeps the version in use, and the next
// call tries again.
func (p *prepared) get(ctx context.Context) (stmt *sqlx.Stmt, release func(), err error) {
	p.mu.Lock()
	var old *preparedVersion
	if p.cur == nil || p.uses >= p.renewAt {
		stmt, err := p.db.PreparexContext(ctx, p.query)
		switch {
		case err != nil && p.cur == nil:
			p.mu.Unlock()
			return nil, nil, err
		case err == nil:
			old, p.cur = p.cur, &preparedVersion{stmt: stmt}
			if old != nil {
				p.uses, p.renewAt = 0, 2*p.renewAt
			}
		}
	}
	v := p.cur
	p.uses++
	v.users.Add(1)
	p.mu.Unlock()
	if old != nil {
		// No call takes old any more; those that hold it end their batch
		// first. Other calls meanwhile take the new version.
		old.users.Wait()
		_ = old.stmt.Close()
	}
	return v.stmt, v.users.Done, nil
}

// close closes the statement on every connection it was prepared on.
func (p *prepared) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return nil
	}
	err := p.cur.stmt.Close()
	p.cur = nil
	return err
}
