package http

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// routes is the REST API as the generated OpenAPI document describes it.
// protoc-gen-openapiv2 writes that document from the request messages and
// the HTTP rules (proto/workflowruntime/v1/http.yaml), and `make proto-check`
// keeps it current, so that a new RPC is checked here without anyone listing
// its parameters again.
type routes struct {
	paths []*path
	// ops holds every operation by its method and its path in the form that
	// grpc-gateway's runtime.Pattern prints ("GET /a/{id=*}"), so that a
	// routed request finds the very operation the gateway chose.
	ops map[string]*operation
}

// path is one path template of the API and the methods it takes.
type path struct {
	segments []string // literals, and {variables} that match one segment each
	methods  []string
}

// operation is one method on a path.
type operation struct {
	route      string // "GET /api/v1/deployments", to name it in errors
	query      map[string]parameter
	queryNames string // the names of query, in the document's order
}

// parameter is an OpenAPI v2 parameter; Items describes the elements of a
// repeated one.
type parameter struct {
	Name   string     `json:"name"`
	In     string     `json:"in"`
	Type   string     `json:"type"`
	Format string     `json:"format"`
	Enum   []string   `json:"enum"`
	Items  *parameter `json:"items"`
}

// variable is a path variable as the OpenAPI document writes it.
var variable = regexp.MustCompile(`\{([^}=]+)\}`)

// newRoutes reads the paths, methods and parameters of an OpenAPI v2 document.
func newRoutes(doc []byte) (*routes, error) {
	var api struct {
		Paths map[string]map[string]struct {
			Parameters []parameter `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &api); err != nil {
		return nil, fmt.Errorf("reading the OpenAPI document: %w", err)
	}
	rt := &routes{ops: map[string]*operation{}}
	for template, methods := range api.Paths {
		pattern := variable.ReplaceAllString(template, "{$1=*}")
		var allow []string
		for method, op := range methods {
			method = strings.ToUpper(method)
			allow = append(allow, method)
			o := &operation{route: method + " " + template, query: map[string]parameter{}}
			var names []string
			for _, p := range op.Parameters {
				if p.In == "query" {
					o.query[p.Name] = p
					names = append(names, p.Name)
				}
			}
			o.queryNames = strings.Join(names, ", ")
			if o.queryNames == "" {
				o.queryNames = "none"
			}
			rt.ops[method+" "+pattern] = o
		}
		rt.paths = append(rt.paths, &path{segments: strings.Split(strings.TrimPrefix(template, "/"), "/"), methods: allow})
	}
	return rt, nil
}

// operation returns the operation that grpc-gateway routed a request to,
// given the request's method and the pattern the gateway matched.
func (rt *routes) operation(method, pattern string) (*operation, bool) {
	o, ok := rt.ops[method+" "+pattern]
	return o, ok
}

// allow returns the methods that the escaped path urlPath takes, as an
// Allow header lists them, or "" when no template matches it.
func (rt *routes) allow(urlPath string) string {
	segs := strings.Split(strings.TrimPrefix(urlPath, "/"), "/")
	var methods []string
	for _, p := range rt.paths {
		if p.matches(segs) {
			methods = append(methods, p.methods...)
		}
	}
	slices.Sort(methods)
	return strings.Join(slices.Compact(methods), ", ")
}

// matches reports whether a path's segments fit p, as grpc-gateway matches
// them: a literal matches itself, a variable any one segment.
func (p *path) matches(segs []string) bool {
	if len(segs) != len(p.segments) {
		return false
	}
	for i, s := range p.segments {
		if !strings.HasPrefix(s, "{") && s != segs[i] {
			return false
		}
	}
	return true
}
