// Package transport holds what the gRPC and HTTP ports share: the bounds on
// their connections and the memory budget of the requests they decode.
package transport

import (
	"net"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// Listener is a port's listener that holds at most a fixed number of
// connections and closes a connection that has made no admitted call within
// a time: a call with valid credentials, or one to an open path or service
// (probes, health checks). A connection costs memory from its handshake on (TLS and
// HTTP/2 buffers, about 40 KB), before any credential is seen: the cap bounds
// that cost, and the pre-auth timeout keeps a client that only answers pings
// from holding its place.
type Listener struct {
	net.Listener
	preAuth time.Duration

	mu sync.Mutex
	// waiting holds, by remote address, the connections that have made no
	// admitted call yet.
	waiting map[string]*conn
}

// NewListener wraps lis. At most maxConns of its connections are open at
// once (0: no cap): Accept waits for one to close, and clients wait in the
// kernel's backlog. A connection that has not been marked Admitted within
// preAuth is closed (0: never).
func NewListener(lis net.Listener, maxConns int, preAuth time.Duration) *Listener {
	if maxConns > 0 {
		// LimitListener releases a place when the server closes the
		// connection, which it does once a close below fails its reads.
		lis = netutil.LimitListener(lis, maxConns)
	}
	return &Listener{Listener: lis, preAuth: preAuth, waiting: map[string]*conn{}}
}

// Accept returns the next connection, closed after the pre-auth timeout
// unless an admitted call is made on it first.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.preAuth <= 0 {
		return c, err
	}
	tc := &conn{Conn: c, l: l, key: c.RemoteAddr().String()}
	// Under the lock, so that neither Admitted nor the timer's Close
	// sees the connection half registered.
	l.mu.Lock()
	tc.timer = time.AfterFunc(l.preAuth, func() { _ = tc.Close() })
	l.waiting[tc.key] = tc
	l.mu.Unlock()
	return tc, nil
}

// Admitted marks the connection from remoteAddr as having made an admitted
// call: it is no longer closed for want of one.
func (l *Listener) Admitted(remoteAddr string) {
	l.mu.Lock()
	c, ok := l.waiting[remoteAddr]
	delete(l.waiting, remoteAddr)
	l.mu.Unlock()
	if ok {
		c.timer.Stop()
	}
}

// Waiting is the number of open connections that have made no admitted call
// yet.
func (l *Listener) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiting)
}

// conn is a connection of a Listener with a pre-auth timeout.
type conn struct {
	net.Conn
	l     *Listener
	key   string
	timer *time.Timer
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	// Read under the lock: the timer may fire before Accept has stored it.
	c.timer.Stop()
	if c.l.waiting[c.key] == c {
		delete(c.l.waiting, c.key)
	}
	c.l.mu.Unlock()
	return c.Conn.Close()
}
