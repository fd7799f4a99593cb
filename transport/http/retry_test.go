package http

import (
	stderrors "errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestRetryAfter: the header is the RetryInfo delay in whole seconds,
// rounded up and at least 1; without RetryInfo there is none.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	withDelay := func(d time.Duration) error {
		st, err := status.New(codes.ResourceExhausted, "full").WithDetails(
			&errdetails.BadRequest{}, &errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		require.NoError(t, err)
		return st.Err()
	}
	for _, tt := range []struct {
		err  error
		want string
		ok   bool
	}{
		{withDelay(2500 * time.Millisecond), "3", true},
		{withDelay(30 * time.Second), "30", true},
		{withDelay(10 * time.Millisecond), "1", true},
		{status.Error(codes.ResourceExhausted, "no advice"), "", false},
		{stderrors.New("not a status"), "", false},
	} {
		got, ok := RetryAfter(tt.err)
		require.Equal(t, tt.ok, ok, "%v", tt.err)
		require.Equal(t, tt.want, got, "%v", tt.err)
	}
}
