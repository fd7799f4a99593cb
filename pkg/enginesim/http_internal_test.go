package enginesim

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	writeJSON(rec, map[string]int{"n": 1})
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.JSONEq(t, `{"n": 1}`, rec.Body.String())

	rec = httptest.NewRecorder()
	writeJSON(rec, []Run{{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}})
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Contains(t, rec.Body.String(), "engine-sim: encoding the answer: ")
}
