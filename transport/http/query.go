package http

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
)

const opQuery errors.Op = "rest.query"

// check is the gateway's middleware: it runs once the gateway has chosen the
// route, and refuses a request whose path variables or query the route
// cannot take, naming each bad parameter. Without it an unknown parameter
// is ignored (a misspelt filter answers everything, unfiltered) and a value
// that is not UTF-8 fails to marshal into the gRPC request, which answers
// INTERNAL.
func (g *gateway) check(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			g.fail(w, r, errors.Errorf(opQuery, errors.Invalid, "the query string is malformed: %v", err))
			return
		}
		var vs errors.Violations
		for _, name := range slices.Sorted(maps.Keys(pathParams)) {
			if !utf8.ValidString(pathParams[name]) {
				vs.Addf(name, "is not valid UTF-8")
			}
		}
		// Every route the gateway serves is in the document (TestRoutesCoverEveryBinding).
		if pattern, ok := runtime.HTTPPattern(r.Context()); ok {
			if op, ok := g.routes.operation(r.Method, pattern.String()); ok {
				vs = append(vs, op.checkQuery(query)...)
			}
		}
		if err := vs.Err(opQuery); err != nil {
			g.fail(w, r, err)
			return
		}
		withBody := *r
		withBody.Body = &body{ReadCloser: r.Body}
		next(w, &withBody, pathParams)
	}
}

// checkQuery returns a violation for each query parameter that o does not
// take and each value that its parameter cannot hold.
func (o *operation) checkQuery(query url.Values) errors.Violations {
	var vs errors.Violations
	for _, name := range slices.Sorted(maps.Keys(query)) {
		values := query[name]
		p, ok := o.query[name]
		switch {
		case !ok:
			vs.Addf(strings.ToValidUTF8(name, "\uFFFD"), "is not a query parameter of %s, which takes %s", o.route, o.queryNames)
			continue
		case p.Items == nil && len(values) > 1:
			vs.Addf(name, "is given %d times; it takes one value", len(values))
			continue
		case p.Items != nil:
			p = *p.Items
		}
		for _, v := range values {
			if problem := p.refuse(v); problem != "" {
				vs.Addf(name, "%s", problem)
			}
		}
	}
	return vs
}

// refuse says why p cannot hold v, or returns "" when it can. It judges
// the kinds of value the API's query parameters have, which the gateway
// would refuse in its parser's words (or, for UTF-8, not at all); a kind
// that a new parameter brings is left to the gateway until it is added here.
func (p parameter) refuse(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	if len(p.Enum) > 0 {
		if slices.Contains(p.Enum, v) {
			return ""
		}
		return fmt.Sprintf("%q is not one of %s", v, strings.Join(p.Enum, ", "))
	}
	var err error
	var want string
	switch p.Format {
	case "int32":
		_, err = strconv.ParseInt(v, 10, 32)
		want = "a 32-bit integer"
	case "date-time":
		_, err = time.Parse(time.RFC3339Nano, v)
		want = "an RFC 3339 time such as 2026-11-30T12:00:00Z"
	}
	if err != nil {
		return fmt.Sprintf("%q is not %s", v, want)
	}
	return ""
}
