package http

import (
	"net/http"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
	"github.com/workflow-runtime/workflow-runtime/transport"
)

// MarkAuthenticated tells lis of each authenticated request, so that lis
// keeps its connection open past the pre-auth timeout. It stands inside the
// authentication middleware, which marks the requests it authenticated.
func MarkAuthenticated(lis *transport.Listener, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth.Authenticated(r.Context()) {
			lis.Authenticated(r.RemoteAddr)
		}
		next.ServeHTTP(w, r)
	})
}
