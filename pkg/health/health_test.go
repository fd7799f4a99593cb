package health

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"
)

func ok(context.Context) error { return nil }

func failing(msg string) Check {
	return func(context.Context) error { return errors.New(msg) }
}

// blocking is a check that only returns when its context ends.
func blocking(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// counting returns a check that counts its calls and then runs c.
func counting(n *atomic.Int32, c Check) Check {
	return func(ctx context.Context) error {
		n.Add(1)
		return c(ctx)
	}
}

var ignoreLatency = cmpopts.IgnoreFields(DependencyReport{}, "LatencyMS")

func TestCheck(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		deps []Dependency
		want Report
	}{
		{
			name: "no dependencies",
			want: Report{Status: StatusHealthy, Version: "v1", Dependencies: map[string]DependencyReport{}},
		},
		{
			name: "all healthy",
			deps: []Dependency{
				{Name: "postgres", Check: ok, Critical: true},
				{Name: "redis", Check: ok},
			},
			want: Report{Status: StatusHealthy, Version: "v1", Dependencies: map[string]DependencyReport{
				"postgres": {Status: StatusHealthy},
				"redis":    {Status: StatusHealthy},
			}},
		},
		{
			name: "non-critical down: degraded",
			deps: []Dependency{
				{Name: "postgres", Check: ok, Critical: true},
				{Name: "engine", Check: failing("connection refused")},
			},
			want: Report{Status: StatusDegraded, Version: "v1", Dependencies: map[string]DependencyReport{
				"postgres": {Status: StatusHealthy},
				"engine":   {Status: StatusUnhealthy, Error: "connection refused"},
			}},
		},
		{
			name: "critical down: unhealthy",
			deps: []Dependency{
				{Name: "postgres", Check: failing("no route to host"), Critical: true},
				{Name: "redis", Check: ok},
			},
			want: Report{Status: StatusUnhealthy, Version: "v1", Dependencies: map[string]DependencyReport{
				"postgres": {Status: StatusUnhealthy, Error: "no route to host"},
				"redis":    {Status: StatusHealthy},
			}},
		},
		{
			name: "critical down wins over non-critical down, whatever the order",
			deps: []Dependency{
				{Name: "engine", Check: failing("engine down")},
				{Name: "postgres", Check: failing("db down"), Critical: true},
				{Name: "redis", Check: failing("redis down")},
			},
			want: Report{Status: StatusUnhealthy, Version: "v1", Dependencies: map[string]DependencyReport{
				"engine":   {Status: StatusUnhealthy, Error: "engine down"},
				"postgres": {Status: StatusUnhealthy, Error: "db down"},
				"redis":    {Status: StatusUnhealthy, Error: "redis down"},
			}},
		},
		{
			name: "nil check: disabled, not a failure",
			deps: []Dependency{
				{Name: "postgres", Check: ok, Critical: true},
				{Name: "redis"},
				{Name: "engine", Critical: true},
			},
			want: Report{Status: StatusHealthy, Version: "v1", Dependencies: map[string]DependencyReport{
				"postgres": {Status: StatusHealthy},
				"redis":    {Status: StatusDisabled},
				"engine":   {Status: StatusDisabled},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			c := NewChecker("v1", time.Second, tt.deps...)
			before := time.Now().UTC()
			got := c.Check(context.Background())
			after := time.Now().UTC()

			if got.Timestamp.Before(before) || got.Timestamp.After(after) || got.Timestamp.Location() != time.UTC {
				t.Errorf("Timestamp = %v, want a UTC time between %v and %v", got.Timestamp, before, after)
			}
			if diff := cmp.Diff(tt.want, got, ignoreLatency, cmpopts.IgnoreFields(Report{}, "Timestamp")); diff != "" {
				t.Errorf("Check() mismatch (-want +got):\n%s", diff)
			}
			for name, d := range got.Dependencies {
				if d.LatencyMS < 0 {
					t.Errorf("%s: LatencyMS = %v, want >= 0", name, d.LatencyMS)
				}
			}
		})
	}
}

func TestCheckTimeout(t *testing.T) {
	t.Parallel()

	// The slow check blocks until its deadline and measures how long it ran.
	var ran atomic.Int64 // microseconds
	slow := func(ctx context.Context) error {
		start := time.Now()
		err := blocking(ctx)
		ran.Store(time.Since(start).Microseconds())
		return err
	}
	c := NewChecker("v1", 20*time.Millisecond,
		Dependency{Name: "engine", Check: slow},
		Dependency{Name: "postgres", Check: ok, Critical: true},
	)
	got := c.Check(context.Background())

	want := map[string]DependencyReport{
		"engine":   {Status: StatusUnhealthy, Error: context.DeadlineExceeded.Error()},
		"postgres": {Status: StatusHealthy},
	}
	if diff := cmp.Diff(want, got.Dependencies, ignoreLatency); diff != "" {
		t.Errorf("Check() dependencies mismatch (-want +got):\n%s", diff)
	}
	if got.Status != StatusDegraded {
		t.Errorf("Status = %q, want %q", got.Status, StatusDegraded)
	}
	// The reported latency spans the check's run, so it is at least what the
	// check measured itself: an ordering, not a timing assumption.
	latency, floor := got.Dependencies["engine"].LatencyMS, float64(ran.Load())/1000
	if latency <= 0 || latency < floor {
		t.Errorf("engine LatencyMS = %v, want > 0 and >= %v (the check's own run time)", latency, floor)
	}
}

// TestCheckOutlivesCallerContext: a check's report may serve other callers,
// so a caller that gives up does not cut it short: it runs to its own
// timeout, and reads as what the dependency did, not as the caller's cancel.
func TestCheckOutlivesCallerContext(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := NewChecker("v1", 20*time.Millisecond, Dependency{Name: "postgres", Check: blocking, Critical: true})

	got := c.Check(ctx)
	want := Report{Status: StatusUnhealthy, Version: "v1", Dependencies: map[string]DependencyReport{
		"postgres": {Status: StatusUnhealthy, Error: context.DeadlineExceeded.Error()},
	}}
	if diff := cmp.Diff(want, got, ignoreLatency, cmpopts.IgnoreFields(Report{}, "Timestamp")); diff != "" {
		t.Errorf("Check() mismatch (-want +got):\n%s", diff)
	}
}

// TestConcurrentChecksShareOne: probes that come while a check runs share
// its report, so that a flood of them costs one check at a time.
func TestConcurrentChecksShareOne(t *testing.T) {
	t.Parallel()

	var runs atomic.Int64
	release := make(chan struct{})
	db := func(context.Context) error {
		runs.Add(1)
		<-release
		return nil
	}
	c := NewChecker("v1", time.Minute, Dependency{Name: "postgres", Check: db, Critical: true})
	c.SetReady(true)

	const callers = 50
	results := make(chan bool, callers)
	for range callers {
		go func() { results <- c.Ready(context.Background()) }()
	}
	// Wait until the first check runs, give the others time to queue
	// behind it, then let it answer.
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	for range callers {
		if !<-results {
			t.Fatal("a caller read not ready")
		}
	}
	if n := runs.Load(); n >= callers {
		t.Errorf("%d checks for %d concurrent callers, want them shared", n, callers)
	}
	if !c.Ready(context.Background()) || runs.Load() == 0 {
		t.Error("a later caller starts a check of its own")
	}
}

func TestReady(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		setReady    []bool // SetReady calls, in order
		critical    Check
		nonCritical Check
		want        bool
	}{
		{name: "not ready before SetReady", critical: ok, nonCritical: ok, want: false},
		{name: "ready after SetReady(true)", setReady: []bool{true}, critical: ok, nonCritical: ok, want: true},
		{name: "not ready after SetReady(false)", setReady: []bool{true, false}, critical: ok, nonCritical: ok, want: false},
		{name: "critical check fails", setReady: []bool{true}, critical: failing("db down"), nonCritical: ok, want: false},
		{name: "critical check times out", setReady: []bool{true}, critical: blocking, nonCritical: ok, want: false},
		{name: "non-critical failure ignored", setReady: []bool{true}, critical: ok, nonCritical: failing("engine down"), want: true},
		{name: "non-critical slow check ignored", setReady: []bool{true}, critical: ok, nonCritical: blocking, want: true},
		{name: "critical check disabled", setReady: []bool{true}, critical: nil, nonCritical: failing("engine down"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var criticalCalls, nonCriticalCalls atomic.Int32
			critical := tt.critical
			if critical != nil {
				critical = counting(&criticalCalls, critical)
			}
			c := NewChecker("v1", 20*time.Millisecond,
				Dependency{Name: "postgres", Check: critical, Critical: true},
				Dependency{Name: "engine", Check: counting(&nonCriticalCalls, tt.nonCritical)},
			)
			for _, r := range tt.setReady {
				c.SetReady(r)
			}

			if got := c.Ready(context.Background()); got != tt.want {
				t.Errorf("Ready() = %v, want %v", got, tt.want)
			}
			if n := nonCriticalCalls.Load(); n != 0 {
				t.Errorf("Ready() ran the non-critical check %d times, want 0", n)
			}
			// A replica that is not set ready answers without checking anything.
			wantCritical := int32(0)
			if tt.critical != nil && len(tt.setReady) > 0 && tt.setReady[len(tt.setReady)-1] {
				wantCritical = 1
			}
			if n := criticalCalls.Load(); n != wantCritical {
				t.Errorf("Ready() ran the critical check %d times, want %d", n, wantCritical)
			}
		})
	}
}

func TestReadyToggles(t *testing.T) {
	t.Parallel()

	c := NewChecker("v1", time.Second, Dependency{Name: "postgres", Check: ok, Critical: true})
	ctx := context.Background()
	require.False(t, c.Ready(ctx), "Ready() before SetReady")

	c.SetReady(true)
	if !c.Ready(ctx) {
		t.Errorf("Ready() after SetReady(true) = false, want true")
	}
	c.SetReady(false)
	if c.Ready(ctx) {
		t.Errorf("Ready() after SetReady(false) = true, want false (draining)")
	}
}

// TestReadinessOnly: a readiness-only check decides readiness like a
// critical one, and stays out of the full report.
func TestReadinessOnly(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name  string
		api   Check
		ready bool
	}{
		{"calls get through", ok, true},
		{"calls are stuck", blocking, false},
		{"calls fail", failing("no stream"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewChecker("v1", 20*time.Millisecond,
				Dependency{Name: "database", Check: ok, Critical: true},
				Dependency{Name: "api", Check: tt.api, ReadinessOnly: true},
			)
			c.SetReady(true)
			require.Equal(t, tt.ready, c.Ready(context.Background()))
			r := c.Check(context.Background())
			want := Report{Status: StatusHealthy, Version: "v1", Dependencies: map[string]DependencyReport{"database": {Status: StatusHealthy}}}
			if diff := cmp.Diff(want, r, ignoreLatency, cmpopts.IgnoreFields(Report{}, "Timestamp")); diff != "" {
				t.Errorf("Check() (-want +got):\n%s", diff)
			}
		})
	}
}
