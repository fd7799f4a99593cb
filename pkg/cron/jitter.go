package cron

import (
	"crypto/md5" //nolint:gosec // G501: the seed's jitter hash, not a security use
	"encoding/binary"
	"time"
)

// Hash is the seed's jitter hash, int(md5(workflowID).hexdigest()[:8], 16):
// the first four bytes of the MD5 digest read big-endian.
func Hash(workflowID string) uint32 {
	sum := md5.Sum([]byte(workflowID)) //nolint:gosec // G401: see the import
	return binary.BigEndian.Uint32(sum[:4])
}

// JitterSeconds is Hash mod window, the seed's calculate_jitter for a window of
// window seconds. A window of 0 or less gives 0.
func JitterSeconds(workflowID string, window int) int {
	if window <= 0 {
		return 0
	}
	return int(uint64(Hash(workflowID)) % uint64(window))
}

// Offset is how long after a nominal slot a workflow's run fires: whole seconds
// Hash mod min(window, gap), both truncated to seconds, plus a spread of
// int(md5hex[8:12], 16) mod 1000 milliseconds so that workflows that share a
// second do not fire at the same instant. gap is the time to the next slot.
// When that minimum is under one second (a window of 0 disables jitter, a gap
// of 0 or less means the next slot is unknown) the offset is 0. Otherwise the
// offset is below gap and below window.
func Offset(workflowID string, window, gap time.Duration) time.Duration {
	limit := min(window/time.Second, gap/time.Second)
	if limit <= 0 {
		return 0
	}
	sum := md5.Sum([]byte(workflowID)) //nolint:gosec // G401: see the import
	secs := uint64(binary.BigEndian.Uint32(sum[:4])) % uint64(limit)
	spread := uint64(binary.BigEndian.Uint16(sum[4:6])) % 1000
	// No clamp is needed to stay under gap: secs is at most limit-1, limit is
	// gap in whole seconds rounded down, and the spread is under one second,
	// so secs+spread < limit <= gap.
	return time.Duration(secs)*time.Second + time.Duration(spread)*time.Millisecond
}
