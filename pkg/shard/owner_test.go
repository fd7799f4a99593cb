package shard

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOwnerSpreadAndLeave(t *testing.T) {
	const n = 100_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("trigger-%d", i)
	}
	four := []string{"replica-a", "replica-b", "replica-c", "replica-d"}
	before := make([]string, n)
	counts := map[string]int{}
	m := NewMembers(four)
	for i, id := range ids {
		before[i] = m.Owner(id)
		counts[before[i]]++
	}
	for _, r := range four {
		assert.InDelta(t, 0.25, float64(counts[r])/n, 0.03, "share of %s among 4", r)
	}

	three := []string{"replica-a", "replica-b", "replica-d"}
	m = NewMembers(three)
	counts = map[string]int{}
	for i, id := range ids {
		after := m.Owner(id)
		counts[after]++
		if before[i] != "replica-c" {
			require.Equal(t, before[i], after, "trigger %s moved though its owner stayed", id)
		}
	}
	for _, r := range three {
		assert.InDelta(t, 1.0/3, float64(counts[r])/n, 0.03, "share of %s among 3", r)
	}
}

func TestOwnerJoinTakesOnlyFromOthers(t *testing.T) {
	old := NewMembers([]string{"r1", "r2", "r3"})
	grown := NewMembers([]string{"r1", "r2", "r3", "r4"})
	moved := 0
	for i := range 20_000 {
		id := fmt.Sprintf("t-%d", i)
		was, now := old.Owner(id), grown.Owner(id)
		if was != now {
			require.Equal(t, "r4", now, "a join moves triggers only to the joiner")
			moved++
		}
	}
	assert.InDelta(t, 0.25, float64(moved)/20_000, 0.03)
}

func TestOwnerEdges(t *testing.T) {
	tests := []struct {
		name     string
		replicas []string
		want     string
	}{
		{"no replica", nil, ""},
		{"one replica", []string{"only"}, "only"},
		{"duplicates count once", []string{"only", "only"}, "only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Owner("trigger", tc.replicas))
		})
	}
	// The order the live set is read in does not matter.
	assert.Equal(t, Owner("x", []string{"a", "b", "c"}), Owner("x", []string{"c", "a", "b"}))
	m := NewMembers([]string{"b", "a", "b"})
	assert.Equal(t, []string{"a", "b"}, m.IDs())
	assert.Equal(t, 2, m.Len())
	assert.True(t, m.Contains("a"))
	assert.False(t, m.Contains("c"))
}

// The weights must not depend on the process: a value computed once is
// pinned, so that a change of hash, which would move every trigger in a
// rolling upgrade, fails here.
func TestOwnerIsStableAcrossBuilds(t *testing.T) {
	assert.Equal(t, uint64(0xaf63dc4c8601ec8c), hash("a"))
	assert.Equal(t, uint64(0x51a9bbf4738a6e3e), mix(hash("trigger-1")^mix(hash("replica-a"))))
}
