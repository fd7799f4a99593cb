// Package startstop is the lifecycle that every background component of the
// runtime shares (the coordinator, the scheduler and its recorder, the
// webhook index, the replica heartbeat), after River's
// rivershared/startstop: one shape, so that serve starts them in one order
// and stops them in another, each step written out.
package startstop

import (
	"context"
	"sync"
	"time"
)

// Service is a component that works in the background between Start and
// Stop.
type Service interface {
	// Start begins the work and returns once it has begun, or with why it
	// could not (then nothing runs). ctx bounds the start only (a first
	// load, say): the work runs until Stop, so that when each component
	// stops is its caller's decision, not the end of a shared context.
	Start(ctx context.Context) error
	// Stop ends the work and returns once it has ended, or with ctx's error
	// when ctx ends first. Stop before Start, and a second Stop, return nil.
	Stop(ctx context.Context) error
}

// Loops runs a Service's background goroutines: each gets a context that
// keeps the values of the one it was started with and ends at Stop. The
// zero value is ready; after Stop it can run goroutines again.
type Loops struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Go runs f in a goroutine until Stop, with ctx's values.
func (l *Loops) Go(ctx context.Context, f func(context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel == nil {
		l.cancel = func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopOthers := l.cancel
	l.cancel = func() {
		stopOthers()
		cancel()
	}
	l.wg.Go(func() { f(ctx) })
}

// Stop ends the goroutines' contexts and waits for them to return, or for
// ctx to end.
func (l *Loops) Stop(ctx context.Context) error {
	l.mu.Lock()
	cancel := l.cancel
	l.cancel = nil
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Every calls f every interval until ctx ends: the loop of a component that
// polls or reloads. A tick that comes with the end is not a call: select
// picks either of two ready cases.
func Every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ctx.Err() != nil {
				return
			}
			f(ctx)
		}
	}
}
