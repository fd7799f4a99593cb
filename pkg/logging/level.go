package logging

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-kit/log/level"
)

const (
	debugRank int32 = iota
	infoRank
	warnRank
	errorRank
)

var levelNames = [...]string{debugRank: "debug", infoRank: "info", warnRank: "warn", errorRank: "error"}

// Level is the minimum level of the logger New returned it with. It changes
// while the service runs (the admin route, SIGUSR1/SIGUSR2); the filter
// reads it with one atomic load, so that logging takes no lock for it.
type Level struct {
	min        atomic.Int32
	configured int32
	out        *core
}

func newLevel(name string, out *core) (*Level, error) {
	r, err := parseLevel(name)
	if err != nil {
		return nil, err
	}
	l := &Level{configured: r, out: out}
	l.min.Store(r)
	return l, nil
}

func parseLevel(name string) (int32, error) {
	for r, n := range levelNames {
		if n == name {
			return int32(r), nil
		}
	}
	return 0, fmt.Errorf("logging: unknown level %q", name)
}

// String returns the current minimum level: debug, info, warn or error.
func (l *Level) String() string { return levelNames[l.min.Load()] }

// Configured returns the level the logger started with, which Reset restores.
func (l *Level) Configured() string { return levelNames[l.configured] }

// Set changes the minimum level to name and logs the change, naming by as
// its cause. The change line is written whatever the new level, because an
// operator looking for why lines vanished must find it.
func (l *Level) Set(name, by string) error {
	r, err := parseLevel(name)
	if err != nil {
		return err
	}
	l.set(r, by)
	return nil
}

// Reset restores the configured level and logs the change.
func (l *Level) Reset(by string) { l.set(l.configured, by) }

func (l *Level) set(r int32, by string) {
	old := l.min.Swap(r)
	_ = l.out.write([]any{level.Key(), level.InfoValue(), "msg", "log level changed",
		"from", levelNames[old], "to", levelNames[r], "by", by})
}

// allows reports whether a line of keyvals passes the minimum level.
func (l *Level) allows(keyvals []any) bool {
	for i := 0; i+1 < len(keyvals); i += 2 {
		if keyvals[i] == level.Key() {
			r, ok := rank(keyvals[i+1])
			return !ok || r >= l.min.Load()
		}
	}
	return true
}

// NotifySignals lets signals change the level until stop is called: SIGUSR1
// sets debug, SIGUSR2 restores the configured level. Two fixed meanings
// rather than a cycle, so that an operator never has to know the current
// level to get where they want.
func (l *Level) NotifySignals() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				if sig == syscall.SIGUSR1 {
					l.set(debugRank, "SIGUSR1")
				} else {
					l.Reset("SIGUSR2")
				}
			}
		}
	}()
	return sync.OnceFunc(func() {
		signal.Stop(ch)
		close(done)
		<-stopped
	})
}
