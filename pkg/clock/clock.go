// Package clock is the time that components read. A component takes its
// clock as an option Now func() time.Time (scheduling, monitoring and
// coordination all do), time.Now in production; Fake is the clock tests
// hold still and move by hand, so that no test waits for time to pass.
//
// Only readings go through the clock: a component still waits with real
// timers, and a test waits for what the component does on its signals.
package clock

import (
	"sync"
	"time"
)

// Fake is a clock that stands still until it is moved. It is safe for
// concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a clock that reads at until it is moved.
func NewFake(at time.Time) *Fake { return &Fake{now: at} }

// Now reads the clock; pass f.Now where a component takes a clock.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock d forward (back, for a negative d).
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}
