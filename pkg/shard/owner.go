// Package shard decides which live replica owns each cron trigger, and keeps
// this replica's view of the live replicas from the heartbeat set.
package shard

import (
	"hash/fnv"
	"slices"
)

// Members is a set of live replica ids, with each one's hash computed once,
// so that deciding the owner of many triggers costs one hash of each trigger.
// The zero value has no members and owns nothing.
type Members struct {
	ids    []string
	hashes []uint64
}

// NewMembers returns the set of ids, duplicates dropped.
func NewMembers(ids []string) Members {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	m := Members{ids: sorted, hashes: make([]uint64, len(sorted))}
	for i, id := range sorted {
		m.hashes[i] = mix(hash(id))
	}
	return m
}

// IDs returns the members, sorted.
func (m Members) IDs() []string { return slices.Clone(m.ids) }

// Len is the number of members.
func (m Members) Len() int { return len(m.ids) }

// Contains reports whether id is a member.
func (m Members) Contains(id string) bool {
	_, ok := slices.BinarySearch(m.ids, id)
	return ok
}

// Owner returns the member that owns triggerID, "" when there is none: the
// one whose weight for the trigger is highest (rendezvous hashing), so that a
// member that joins takes about 1/N of the triggers, each from its owner, and
// one that leaves hands only its own on.
func (m Members) Owner(triggerID string) string {
	t := hash(triggerID)
	best, owner := uint64(0), ""
	for i, h := range m.hashes {
		if w := mix(t ^ h); owner == "" || w > best || (w == best && m.ids[i] > owner) {
			best, owner = w, m.ids[i]
		}
	}
	return owner
}

// Owner returns the replica of replicas that owns triggerID ("" when there
// is none): every replica, given the same live set, answers the same.
func Owner(triggerID string, replicas []string) string {
	return NewMembers(replicas).Owner(triggerID)
}

// hash is FNV-1a 64: defined by its algorithm, so that every replica, of any
// build, computes the same value (hash/maphash is seeded per process), and in
// the standard library.
func hash(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// mix is SplitMix64's finalizer. FNV-1a alone spreads ids that differ in
// their last bytes (trigger-1, trigger-2) poorly over the high bits that
// decide a comparison; the finalizer makes every input bit flip about half
// the output bits, so that weights of one trigger under different replicas
// behave as independent draws.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
