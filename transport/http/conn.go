package http

import (
	"net/http"

	"github.com/workflow-runtime/workflow-runtime/transport"
)

// MarkAdmitted tells lis of each request that reaches next, so that lis
// keeps its connection open past the pre-auth timeout. It stands inside the
// authentication middleware, which passes only the requests it admits.
func MarkAdmitted(lis *transport.Listener, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lis.Admitted(r.RemoteAddr)
		next.ServeHTTP(w, r)
	})
}
