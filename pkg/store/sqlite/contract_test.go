package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/storetest"
)

// TestContract runs the store contract on SQLite, each case on a file of its own.
func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return open(t, filepath.Join(t.TempDir(), "data", "wfr.db"))
	})
}

// open returns a store on the file at path, closed when the test ends.
func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}
