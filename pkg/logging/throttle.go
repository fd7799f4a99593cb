package logging

import (
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"golang.org/x/time/rate"
)

// Throttled is a logger for lines that callers can provoke at will, such as
// refused calls: it writes at most rate lines a second, in bursts of burst,
// and drops the others, counting them: the next line written carries the
// count in "suppressed". Pair it with a metric that counts every event.
type Throttled struct {
	now        func() time.Time
	logger     log.Logger
	limiter    *rate.Limiter
	suppressed atomic.Int64
}

// NewThrottled returns logger throttled to perSecond lines a second.
func NewThrottled(logger log.Logger, perSecond float64, burst int) *Throttled {
	return &Throttled{now: time.Now, logger: logger, limiter: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// Log writes keyvals unless the rate is spent.
func (t *Throttled) Log(keyvals ...any) error {
	if !t.limiter.AllowN(t.now(), 1) {
		t.suppressed.Add(1)
		return nil
	}
	if n := t.suppressed.Swap(0); n > 0 {
		keyvals = append(slices.Clip(keyvals), "suppressed", n)
	}
	return t.logger.Log(keyvals...)
}

// Truncate returns s cut to at most n bytes, saying how long it was, so that
// a caller cannot make one log line as long as its request.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	// Back off to a rune boundary.
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}
