package grpc

import (
	"time"

	"google.golang.org/grpc"
)

// Drain stops s gracefully: it lets in-flight calls finish, and cuts them
// off when timeout passes, so that a stop never outlasts its budget.
func Drain(s *grpc.Server, timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.Stop()
	}
}
