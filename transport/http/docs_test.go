package http

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// httpRule is one binding of proto/workflowruntime/v1/http.yaml.
type httpRule struct {
	Selector           string     `yaml:"selector"`
	Get                string     `yaml:"get"`
	Post               string     `yaml:"post"`
	Patch              string     `yaml:"patch"`
	Delete             string     `yaml:"delete"`
	Body               string     `yaml:"body"`
	AdditionalBindings []httpRule `yaml:"additional_bindings"`
}

// routes returns the rule's bindings as "VERB /path".
func (r httpRule) routes() []string {
	var out []string
	for verb, path := range map[string]string{"GET": r.Get, "POST": r.Post, "PATCH": r.Patch, "DELETE": r.Delete} {
		if path != "" {
			out = append(out, verb+" "+path)
		}
	}
	for _, b := range r.AdditionalBindings {
		out = append(out, b.routes()...)
	}
	return out
}

// httpRules returns the rules of proto/workflowruntime/v1/http.yaml.
func httpRules(t *testing.T) []httpRule {
	t.Helper()
	rulesFile, err := os.ReadFile("../../proto/workflowruntime/v1/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HTTP struct {
			Rules []httpRule `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(rulesFile, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.HTTP.Rules
}

// TestAPIDocsNameEveryRPC: docs/api/workflow-runtime-api.md has a section
// for every RPC of both services, headed by the RPC's name and each of its
// REST routes, so that the page cannot fall behind the contract unnoticed.
func TestAPIDocsNameEveryRPC(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api/workflow-runtime-api.md")
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]httpRule{}
	for _, r := range httpRules(t) {
		rules[r.Selector] = r
	}
	headings := map[string]string{}
	for line := range strings.SplitSeq(string(doc), "\n") {
		if name, rest, ok := strings.Cut(strings.TrimPrefix(line, "### "), " — "); ok && strings.HasPrefix(line, "### ") {
			headings[name] = rest
		}
	}
	for _, svc := range []grpc.ServiceDesc{pb.WorkflowRuntimeService_ServiceDesc, pb.MonitoringService_ServiceDesc} {
		for _, m := range svc.Methods {
			rule, ok := rules[svc.ServiceName+"."+m.MethodName]
			if !ok {
				t.Errorf("%s.%s has no REST rule in http.yaml", svc.ServiceName, m.MethodName)
				continue
			}
			heading, ok := headings[m.MethodName]
			if !ok {
				t.Errorf("the API docs have no \"### %s — ...\" section", m.MethodName)
				continue
			}
			for _, route := range rule.routes() {
				if !strings.Contains(heading, "`"+route+"`") {
					t.Errorf("the API docs' %s heading does not name its route `%s`", m.MethodName, route)
				}
			}
			if !strings.Contains(string(doc), svc.ServiceName+"/"+m.MethodName) {
				t.Errorf("the API docs have no grpcurl example of %s/%s", svc.ServiceName, m.MethodName)
			}
		}
	}
}
