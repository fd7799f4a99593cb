package shard

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Heartbeat is this replica's entry in the live set, beating in a loop of
// its own between Start and Stop (lock.Replicas).
type Heartbeat interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	OnBeat(f func(sent time.Time, live []string, err error))
	Interval() time.Duration
	LiveWithin() time.Duration
}

// Mode is how this replica picks the cron triggers it fires.
type Mode int

const (
	// ModeAll fires every trigger, as without Redis: the live set is not
	// known, and the database's slot key decides between replicas.
	ModeAll Mode = iota
	// ModeNone fires none: this replica's beat is too old for it to be sure
	// that the others still count it (fenced), or it has joined too lately
	// for all of them to have seen it (joining).
	ModeNone
	// ModeSharded fires the triggers that Owner gives this replica.
	ModeSharded
)

func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeSharded:
		return "sharded"
	default:
		return "all"
	}
}

// View is what this replica fires, as of its latest beat.
type View struct {
	Mode    Mode
	Self    string
	Members Members
	// FreshUntil bounds, in ModeSharded, the time this replica may fire:
	// its last successful beat plus the self-fence. Only comparisons on one
	// process's clock use it.
	FreshUntil time.Time
}

// Owns reports whether this replica fires triggerID under the view.
func (v View) Owns(triggerID string) bool {
	switch v.Mode {
	case ModeAll:
		return true
	case ModeSharded:
		return v.Members.Owner(triggerID) == v.Self
	default:
		return false
	}
}

// same reports whether v and o pick the same triggers.
func (v View) same(o View) bool {
	if v.Mode != o.Mode {
		return false
	}
	if v.Mode != ModeSharded {
		return true
	}
	a, b := v.Members.ids, o.Members.ids
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Membership turns each heartbeat's reading of the live set into the view
// of which cron triggers this replica fires, and tells the scheduler when it
// changes. The timing, with the beat interval I and LiveWithin L (the
// others drop a replica whose last beat is older than L):
//   - self-fence: a replica fires its triggers only while its last
//     successful beat is under SelfFence = 2 I old; one that loses Redis or
//     is stopped fires nothing from then on, before the others, after L >
//     SelfFence + I, can count it gone and take its triggers;
//   - hand-off: a replica that (re)joins fires nothing for Handoff = 3 I
//     after its first successful beat, unless it is alone. Every other
//     live replica has by then read a live set with it (and dropped the
//     triggers it takes) or fenced itself, because its last read without
//     it came from a beat sent before the join;
//   - fallback: without a successful beat for L (or ever), it fires every
//     trigger, as without Redis: its triggers are others' by then, and the
//     database decides between them.
//
// The slots a hand-off leaves unfired are the catch-up's of the new owner,
// which reads the trigger's last accounted slot when it takes it.
type Membership struct {
	hb     Heartbeat
	self   string
	logger log.Logger
	now    func() time.Time
	fence  time.Duration
	handoff,
	fallback time.Duration

	// first closes at the first beat's outcome.
	first     chan struct{}
	firstBeat sync.Once

	mu       sync.Mutex
	lastOK   time.Time
	joined   time.Time
	lapsed   bool
	view     atomic.Pointer[View]
	onChange []func(View)
}

// NewMembership returns the membership of replica self, beating through hb.
// It fires nothing until its first beat tells it more (ModeNone). LiveWithin must
// exceed SelfFence by a beat interval at least: the margin for clocks' rates
// and a beat's round trip.
func NewMembership(hb Heartbeat, self string, logger log.Logger, now func() time.Time) (*Membership, error) {
	interval, live := hb.Interval(), hb.LiveWithin()
	if interval <= 0 || live < 3*interval {
		return nil, fmt.Errorf("shard: a replica's TTL (%s) must be at least 3 beat intervals (%s)", live, interval)
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	if now == nil {
		now = time.Now
	}
	m := &Membership{hb: hb, self: self, logger: logger, now: now,
		fence: 2 * interval, handoff: 3 * interval, fallback: live, first: make(chan struct{})}
	m.view.Store(&View{Mode: ModeNone, Self: self})
	hb.OnBeat(m.observe)
	return m, nil
}

// OnChange makes f hear every change of view, from the beat loop; call it
// before Start.
func (m *Membership) OnChange(f func(View)) { m.onChange = append(m.onChange, f) }

// Start beats until Stop (startstop.Service), and returns once the first
// beat has told the view, or after a beat interval, or when ctx ends: so
// that the scheduler, started next, loads what this replica owns, not
// everything.
func (m *Membership) Start(ctx context.Context) error {
	if err := m.hb.Start(ctx); err != nil {
		return err
	}
	t := time.NewTimer(m.hb.Interval())
	defer t.Stop()
	select {
	case <-m.first:
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// Stop ends the beats and leaves the live set.
func (m *Membership) Stop(ctx context.Context) error { return m.hb.Stop(ctx) }

// View returns the current view.
func (m *Membership) View() View { return *m.view.Load() }

// MayFire reports whether this replica may fire triggerID now: it owns it,
// and in ModeSharded its last beat is fresh. A stale beat is remembered, so
// that the next successful one counts as a join: the slots passed over in
// the meantime are then caught up once the triggers are taken again.
func (m *Membership) MayFire(triggerID string) bool {
	v := m.View()
	if v.Mode == ModeSharded && !m.now().Before(v.FreshUntil) {
		m.mu.Lock()
		m.lapsed = true
		m.mu.Unlock()
		return false
	}
	return v.Owns(triggerID)
}

// observe takes one beat's outcome: sent is when the beat went out.
func (m *Membership) observe(sent time.Time, live []string, err error) {
	m.mu.Lock()
	prev := m.View()
	cand := prev
	if err == nil {
		if m.lastOK.IsZero() || m.lapsed || sent.Sub(m.lastOK) > m.fence {
			m.joined, m.lapsed = sent, false
		}
		m.lastOK = sent
		cand.Members, cand.FreshUntil = NewMembers(append(live, m.self)), sent.Add(m.fence)
	}
	next := m.evaluate(cand, m.now())
	m.view.Store(&next)
	m.mu.Unlock()
	m.firstBeat.Do(func() { close(m.first) })
	if next.Mode != prev.Mode {
		level.Info(m.logger).Log("msg", "cron triggers: "+next.describe(), "mode", next.Mode, "live_replicas", next.Members.Len(), "err", err)
	}
	if !next.same(prev) {
		for _, f := range m.onChange {
			f(next)
		}
	}
}

// evaluate decides the view at now from the last beats. m.mu is held.
func (m *Membership) evaluate(v View, now time.Time) View {
	next := v
	switch age := now.Sub(m.lastOK); {
	case m.lastOK.IsZero() || age > m.fallback:
		next.Mode = ModeAll
	case age > m.fence || m.lapsed:
		next.Mode = ModeNone
	case v.Members.Len() == 1 || now.Sub(m.joined) >= m.handoff:
		next.Mode = ModeSharded
	case v.Mode == ModeAll:
		// Back from the fallback: every trigger stays this replica's, as
		// it was, until the others have seen it.
	default:
		next.Mode = ModeNone
	}
	return next
}

func (v View) describe() string {
	switch v.Mode {
	case ModeSharded:
		return "this replica fires the ones it owns among the live replicas"
	case ModeNone:
		return "this replica fires none until its heartbeat is fresh and seen by the others"
	default:
		return "the live replicas are unknown (Redis unreachable); every replica fires every trigger and the database decides"
	}
}

// Check is the health check of the sharding (health.Check): it fails while
// this replica falls back to firing every trigger.
func (m *Membership) Check(context.Context) error {
	if m.View().Mode == ModeAll {
		return fmt.Errorf("live replicas unknown: every replica fires every cron trigger, the database decides")
	}
	return nil
}
