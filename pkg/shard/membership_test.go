package shard

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/clock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock"
	"github.com/workflow-runtime/workflow-runtime/pkg/lock/redistest"
)

var errRedis = errors.New("redis down")

// newTestMembership is the membership of "self" with a 1 s beat and a 6 s
// TTL, on a fake clock; the test tells it each beat's outcome itself.
func newTestMembership(t *testing.T) (*Membership, *clock.Fake, *[]View) {
	t.Helper()
	rdb, prefix := redistest.New(t)
	r := lock.NewReplicas(rdb, prefix+"replicas", "self")
	r.SetTiming(time.Second, 6*time.Second)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m, err := NewMembership(r, "self", nil, clk.Now)
	require.NoError(t, err)
	var changes []View
	m.OnChange(func(v View) { changes = append(changes, v) })
	return m, clk, &changes
}

// ownedOf returns a trigger id that owner owns among members.
func ownedOf(t *testing.T, owner string, members ...string) string {
	t.Helper()
	for i := range 1000 {
		id := fmt.Sprintf("t-%d", i)
		if Owner(id, members) == owner {
			return id
		}
	}
	t.Fatal("no trigger found")
	return ""
}

func TestMembershipTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	m, clk, changes := newTestMembership(t)
	mine := ownedOf(t, "self", "self", "other")
	theirs := ownedOf(t, "other", "self", "other")
	beat := func(live []string, err error) {
		m.observe(clk.Now(), live, err)
	}

	// Before any beat it fires nothing; with Redis unreachable from the
	// start, every trigger: the database decides.
	require.Equal(t, ModeNone, m.View().Mode)
	beat(nil, errRedis)
	require.Equal(t, ModeAll, m.View().Mode)
	require.True(t, m.MayFire(theirs))
	require.Error(t, m.Check(context.Background()))

	// Redis comes back with another replica live: this one keeps firing
	// everything until the others have seen it (3 beats), then its own.
	beat([]string{"other"}, nil)
	require.Equal(t, ModeAll, m.View().Mode)
	clk.Advance(2 * time.Second)
	beat([]string{"other", "self"}, nil)
	require.Equal(t, ModeAll, m.View().Mode)
	clk.Advance(time.Second)
	beat([]string{"other", "self"}, nil)
	require.Equal(t, ModeSharded, m.View().Mode)
	require.NoError(t, m.Check(context.Background()))
	require.True(t, m.MayFire(mine))
	require.False(t, m.MayFire(theirs))

	// Redis lost: after the self-fence (2 beats) it fires nothing, though
	// the others still count it; past the TTL it fires everything.
	clk.Advance(time.Second)
	beat(nil, errRedis)
	require.Equal(t, ModeSharded, m.View().Mode)
	require.True(t, m.MayFire(mine))
	clk.Advance(1500 * time.Millisecond)
	require.False(t, m.MayFire(mine), "the beat is over 2 intervals old: fenced at fire time")
	beat(nil, errRedis)
	require.Equal(t, ModeNone, m.View().Mode)
	require.False(t, m.MayFire(mine))
	clk.Advance(3 * time.Second)
	beat(nil, errRedis)
	require.Equal(t, ModeNone, m.View().Mode)
	clk.Advance(time.Second)
	beat(nil, errRedis)
	require.Equal(t, ModeAll, m.View().Mode, "past the TTL the others have taken its triggers")

	// Back: it counts as joining again.
	clk.Advance(time.Second)
	beat([]string{"other", "self"}, nil)
	require.Equal(t, ModeAll, m.View().Mode)
	for range 3 {
		clk.Advance(time.Second)
		beat([]string{"other", "self"}, nil)
	}
	require.Equal(t, ModeSharded, m.View().Mode)

	// A stale beat seen at fire time makes the next beat a join, even when
	// that beat was sent before the fire was refused: the slots refused
	// meanwhile are caught up after the hand-off.
	clk.Advance(2500 * time.Millisecond)
	require.False(t, m.MayFire(mine))
	beat([]string{"other", "self"}, nil)
	require.Equal(t, ModeNone, m.View().Mode)
	for range 3 {
		clk.Advance(time.Second)
		beat([]string{"other", "self"}, nil)
	}
	require.Equal(t, ModeSharded, m.View().Mode)

	// The other leaves: its triggers are this replica's at once.
	clk.Advance(time.Second)
	beat([]string{"self"}, nil)
	require.True(t, m.MayFire(theirs))

	modes := make([]Mode, len(*changes))
	for i, v := range *changes {
		modes[i] = v.Mode
	}
	assert.Equal(t, []Mode{ModeAll, ModeSharded, ModeNone, ModeAll, ModeSharded, ModeNone, ModeSharded, ModeSharded}, modes,
		"each change of what this replica fires is told once")
}

func TestMembershipJoinAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	m, clk, _ := newTestMembership(t)
	m.observe(clk.Now(), []string{"self"}, nil)
	require.Equal(t, ModeSharded, m.View().Mode, "alone, nobody else can hold a trigger: no hand-off wait")
	require.True(t, m.MayFire("any"))

	m2, clk2, _ := newTestMembership(t)
	m2.observe(clk2.Now(), []string{"other"}, nil)
	require.Equal(t, ModeNone, m2.View().Mode, "joining beside another replica: nothing until it has seen this one")
	require.Equal(t, []string{"other", "self"}, m2.View().Members.IDs())
}

func TestMembershipTTLTooShort(t *testing.T) {
	rdb, prefix := redistest.New(t)
	r := lock.NewReplicas(rdb, prefix+"replicas", "self")
	r.SetTiming(time.Second, 2*time.Second)
	_, err := NewMembership(r, "self", nil, nil)
	require.ErrorContains(t, err, "at least 3 beat intervals")
}

// TestMembershipStartStop runs on the real heartbeat: Start returns with
// the first beat's view, and Stop leaves the live set.
func TestMembershipStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis")
	}
	rdb, prefix := redistest.New(t)
	r := lock.NewReplicas(rdb, prefix+"replicas", "self")
	r.SetTiming(50*time.Millisecond, time.Second)
	m, err := NewMembership(r, "self", nil, nil)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background()))
	require.Equal(t, ModeSharded, m.View().Mode)
	require.Equal(t, "sharded", m.View().Mode.String())
	require.Equal(t, "none", ModeNone.String())
	require.Equal(t, "all", ModeAll.String())
	require.NoError(t, m.Stop(context.Background()))
	live, err := r.Live(context.Background())
	require.NoError(t, err)
	require.Empty(t, live)
}
