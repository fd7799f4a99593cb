package transport

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// serve accepts on l until it closes, handing each connection to conns.
func serve(t *testing.T, l net.Listener) <-chan net.Conn {
	t.Helper()
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	return conns
}

func listen(t *testing.T, maxConns int, preAuth time.Duration) *Listener {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return NewListener(raw, maxConns, preAuth)
}

func dial(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c: a read ends with EOF
// (or a reset) instead of the deadline.
func closedByServer(t *testing.T, c net.Conn, within time.Duration) bool {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(within)))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestListenerClosesConnectionsThatNeverAuthenticate(t *testing.T) {
	t.Parallel()
	l := listen(t, 0, 50*time.Millisecond)
	conns := serve(t, l)

	idle := dial(t, l)
	<-conns
	authed := dial(t, l)
	server := <-conns
	l.Admitted(server.RemoteAddr().String())

	require.True(t, closedByServer(t, idle, 10*time.Second), "a connection without an authenticated call stays open")
	require.False(t, closedByServer(t, authed, 200*time.Millisecond), "an authenticated connection was closed")
	require.Equal(t, 0, l.Waiting())
	require.NoError(t, server.Close())
	require.True(t, closedByServer(t, authed, 10*time.Second))
}

func TestListenerCapsConnections(t *testing.T) {
	t.Parallel()
	l := listen(t, 2, 0)
	conns := serve(t, l)

	dial(t, l)
	first := <-conns
	dial(t, l)
	<-conns
	// The third handshake completes in the kernel's backlog, but the
	// server does not take the connection while two are open.
	third := dial(t, l)
	select {
	case <-conns:
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, first.Close())
	c := <-conns
	require.Equal(t, third.LocalAddr().String(), c.RemoteAddr().String())
	_, err := io.WriteString(third, "x")
	require.NoError(t, err)
}
