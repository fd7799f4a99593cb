// Package sqlstore is the store's logic, written once for every SQL
// database: transactions, compare-and-set, paging and cursors, adoption, the
// group commit of the hot writes, row scanning and the error kinds. The
// postgres and sqlite packages each give it a Dialect, which holds only what
// their databases do differently: the SQL of the statements whose text must
// differ (list parameters, row locks, the batch and lease statements), how a
// list is sent, and what their drivers' error codes mean.
//
// The mechanism is a small dialect value rather than sqlc generating code
// for both databases, because the two share most of their SQL: a statement
// is written once, with $N placeholders, which lib/pq reads natively and
// modernc.org/sqlite binds to the N-th argument, so no rebinding is needed.
// Where a statement needs a dialect's words (an IN over a list, FOR UPDATE),
// it takes them from the Dialect. What is left to each database is where it
// has to be: PostgreSQL keeps its array-based batches, its SKIP LOCKED
// leases and its planner-friendly listings, and SQLite its JSON lists and
// its single writer. sqlc would generate a querier per database from two
// copies of nearly every query, which is the duplication this package ends.
//
// Time is the other difference. PostgreSQL stores timestamptz, SQLite unix
// microseconds; both drivers take a time.Time as an argument (the sqlite
// package asks its driver for microseconds), and Time scans either form. The
// clock of leases and of every stamped row is the database's now(): in
// PostgreSQL the server's, in SQLite a function that the sqlite package
// registers, reading the clock of the one process that has the database.
//
// Every error a Store returns carries a pkg/errors kind, and the store's
// sentinels stay in its chain (see Store.fail).
package sqlstore
