package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// parsePages parses each page's template with the layout and the shared
// parts, so that every page defines its own "content" and "live-*" blocks.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", name)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"short": short,
		"lower": func(v protoreflect.Enum) string { return strings.ToLower(short(v)) },
		"when":  when,
		"ago":   func(ts *timestamppb.Timestamp) string { return ago(ts, c.opts.Now()) },
		"took":  took,
		// An unset duration is the API's default, which the template names.
		"duration": func(d *durationpb.Duration) string {
			if d == nil || d.AsDuration() == 0 {
				return ""
			}
			return d.AsDuration().String()
		},
		"ms":    func(v float64) string { return fmt.Sprintf("%.1f ms", v) },
		"count": func(m map[string]int64, key string) int64 { return m[key] },
		"ended": func(s pb.ExecutionStatus) bool {
			return s != pb.ExecutionStatus_EXECUTION_STATUS_PENDING && s != pb.ExecutionStatus_EXECUTION_STATUS_RUNNING
		},
		"query":              query,
		"add":                func(a, b float64) float64 { return a + b },
		"sub":                func(a, b float64) float64 { return a - b },
		"half":               func(a float64) float64 { return a / 2 },
		"uptime":             func(s int64) string { return (time.Duration(s) * time.Second).String() },
		"executionStatuses":  func() []string { return executionStatuses },
		"deploymentStatuses": func() []string { return deploymentStatuses },
	}
}

// short is an enum value's name without its type's prefix:
// DEPLOYMENT_STATUS_PAUSED is PAUSED.
func short(v protoreflect.Enum) string {
	name := string(v.Descriptor().Values().ByNumber(v.Number()).Name())
	prefix := strings.ToUpper(camelToSnake(string(v.Descriptor().Name()))) + "_"
	return strings.TrimPrefix(name, prefix)
}

// camelToSnake turns an enum's type name into the prefix of its values:
// DeploymentStatus into Deployment_Status.
func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// when is a timestamp in UTC to the second, or a dash without one.
func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "—"
	}
	return ts.AsTime().UTC().Format("2006-01-02 15:04:05")
}

// ago is how long before or after now a timestamp is, roughly.
func ago(ts *timestamppb.Timestamp, now time.Time) string {
	if ts == nil {
		return ""
	}
	d := now.Sub(ts.AsTime())
	if d < 0 {
		return "in " + roughly(-d)
	}
	return roughly(d) + " ago"
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// took is the time from one timestamp to another, or "" when either is
// missing.
func took(from, to *timestamppb.Timestamp) string {
	if from == nil || to == nil {
		return ""
	}
	d := to.AsTime().Sub(from.AsTime())
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// query is the query string of name and value pairs, leaving out empty
// values.
func query(pairs ...string) template.URL {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			v.Set(pairs[i], pairs[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return template.URL("?" + v.Encode()) //nolint:gosec // G203: a query string that url.Values encoded, whatever the values hold
}

// indentJSON is JSON text indented for reading, or the text as it is when
// it is not JSON.
func indentJSON(s string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		return s
	}
	return b.String()
}
