// Package health checks the service's dependencies and folds their states
// into the service's: unhealthy when a critical one fails, degraded when
// another one does.
package health

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Dependency and overall states, as API.md spells them.
const (
	StatusHealthy   = "healthy"
	StatusDegraded  = "degraded"
	StatusUnhealthy = "unhealthy"
	StatusDisabled  = "disabled"
)

// Check reports whether a dependency answers.
type Check func(ctx context.Context) error

// Dependency is one thing the service needs. A nil Check means it is not configured.
type Dependency struct {
	Name     string
	Check    Check
	Critical bool
	// ReadinessOnly checks count for readiness, as critical ones, and are
	// left out of Check's report: they check the service itself (that calls
	// reach the API), not something it depends on.
	ReadinessOnly bool
}

// DependencyReport is one dependency's state.
type DependencyReport struct {
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// Report is the service's state: the JSON that /health serves.
type Report struct {
	Status       string                      `json:"status"`
	Timestamp    time.Time                   `json:"timestamp"`
	Version      string                      `json:"version"`
	Dependencies map[string]DependencyReport `json:"dependencies"`
}

// Checker runs the checks and tracks readiness.
type Checker struct {
	deps    []Dependency
	version string
	timeout time.Duration
	ready   atomic.Bool
	// flights[0] coalesces full checks, flights[1] readiness checks.
	flights [2]flight
}

// flight is the check of one kind now running, if any. Callers that come
// while it runs share its report instead of starting their own: probes are
// open to anyone who reaches the port, and a flood of them must cost one
// database connection at a time, not one each.
type flight struct {
	mu   sync.Mutex
	done chan struct{}
	last Report
}

// NewChecker returns a Checker that is not ready until SetReady(true);
// each check is given timeout.
func NewChecker(version string, timeout time.Duration, deps ...Dependency) *Checker {
	return &Checker{deps: deps, version: version, timeout: timeout}
}

// SetReady marks the service as able (or no longer able, while draining) to take traffic.
func (c *Checker) SetReady(ready bool) { c.ready.Store(ready) }

// Ready reports whether the service takes traffic: set ready and its critical
// dependencies healthy. Only those are checked, so that a slow optional
// dependency cannot hold up a readiness probe.
func (c *Checker) Ready(ctx context.Context) bool {
	return c.ready.Load() && c.shared(ctx, true).Status != StatusUnhealthy
}

// Check runs every dependency's check concurrently and reports.
func (c *Checker) Check(ctx context.Context) Report { return c.shared(ctx, false) }

// shared runs a check of the kind asked for, or waits for the one running
// and returns its report. The check runs to its own timeouts whatever ctx
// does, since its report serves other callers too.
func (c *Checker) shared(ctx context.Context, criticalOnly bool) Report {
	f := &c.flights[0]
	if criticalOnly {
		f = &c.flights[1]
	}
	f.mu.Lock()
	if done := f.done; done != nil {
		f.mu.Unlock()
		<-done
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.last
	}
	done := make(chan struct{})
	f.done = done
	f.mu.Unlock()

	r := c.check(context.WithoutCancel(ctx), criticalOnly)
	f.mu.Lock()
	f.last, f.done = r, nil
	f.mu.Unlock()
	close(done)
	return r
}

func (c *Checker) check(ctx context.Context, criticalOnly bool) Report {
	r := Report{Status: StatusHealthy, Timestamp: time.Now().UTC(), Version: c.version, Dependencies: map[string]DependencyReport{}}
	results := make([]DependencyReport, len(c.deps))
	var wg sync.WaitGroup
	for i, d := range c.deps {
		if !d.counts(criticalOnly) {
			continue
		}
		if d.Check == nil {
			results[i] = DependencyReport{Status: StatusDisabled}
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			start := time.Now()
			err := d.Check(cctx)
			dr := DependencyReport{Status: StatusHealthy, LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				dr.Status, dr.Error = StatusUnhealthy, err.Error()
			}
			results[i] = dr
		})
	}
	wg.Wait()
	for i, d := range c.deps {
		if !d.counts(criticalOnly) {
			continue
		}
		r.Dependencies[d.Name] = results[i]
		if results[i].Status != StatusUnhealthy {
			continue
		}
		if d.Critical || d.ReadinessOnly {
			r.Status = StatusUnhealthy
		} else if r.Status == StatusHealthy {
			r.Status = StatusDegraded
		}
	}
	return r
}

// counts reports whether d is checked for readiness (criticalOnly) or for
// the full report.
func (d Dependency) counts(criticalOnly bool) bool {
	if criticalOnly {
		return d.Critical || d.ReadinessOnly
	}
	return !d.ReadinessOnly
}
