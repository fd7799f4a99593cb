package postgres_test

import (
	"testing"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/storetest"
)

// TestContract runs the store contract on PostgreSQL, each case on a
// database of its own.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Store { return pgtest.NewStore(t) })
}
