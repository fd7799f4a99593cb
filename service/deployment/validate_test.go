package deployment

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// violationFields is the sorted list of the fields that v names.
func violationFields(v errors.Violations) []string {
	fields := []string{}
	for _, x := range v {
		fields = append(fields, x.Field)
	}
	slices.Sort(fields)
	return fields
}

func requireViolations(t *testing.T, want []string, v errors.Violations) {
	t.Helper()
	want = append([]string{}, want...)
	slices.Sort(want)
	if diff := cmp.Diff(want, violationFields(v)); diff != "" {
		t.Errorf("violation fields (-want +got):\n%s\nviolations: %v", diff, v)
	}
}

// decodeDefinition decodes js as the transport would, so that numbers are float64.
func decodeDefinition(t *testing.T, js string) map[string]any {
	t.Helper()
	var def map[string]any
	require.NoError(t, json.Unmarshal([]byte(js), &def))
	return def
}

func TestValidateWorkflowID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, id string
		valid    bool
	}{
		{"short", "a", true},
		{"all characters", "Tenant_42:wf.prod-7", true},
		{"128 characters", strings.Repeat("x", 128), true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("x", 129), false},
		{"space", "my workflow", false},
		{"slash", "a/b", false},
		{"unicode", "café", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v errors.Violations
			validateWorkflowID(&v, tc.id)
			var want []string
			if !tc.valid {
				want = []string{"workflow_id"}
			}
			requireViolations(t, want, v)
		})
	}
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		in     workflow.Config
		want   workflow.Config
		fields []string
	}{
		{"zero", workflow.Config{}, workflow.Config{OverlapPolicy: "SKIP"}, nil},
		{
			"all set",
			workflow.Config{OverlapPolicy: "BUFFER_ONE", ExecutionTimeoutSeconds: 604800, CatchupWindowSeconds: 86400},
			workflow.Config{OverlapPolicy: "BUFFER_ONE", ExecutionTimeoutSeconds: 604800, CatchupWindowSeconds: 86400},
			nil,
		},
		{"allow all", workflow.Config{OverlapPolicy: "ALLOW_ALL"}, workflow.Config{OverlapPolicy: "ALLOW_ALL"}, nil},
		{"cancel other", workflow.Config{OverlapPolicy: "CANCEL_OTHER"}, workflow.Config{OverlapPolicy: "CANCEL_OTHER"}, nil},
		{"unknown policy", workflow.Config{OverlapPolicy: "skip"}, workflow.Config{OverlapPolicy: "skip"}, []string{"config.overlap_policy"}},
		{
			"negative timeouts", workflow.Config{ExecutionTimeoutSeconds: -1, CatchupWindowSeconds: -1},
			workflow.Config{OverlapPolicy: "SKIP", ExecutionTimeoutSeconds: -1, CatchupWindowSeconds: -1},
			[]string{"config.catchup_window_seconds", "config.execution_timeout_seconds"},
		},
		{
			"everything wrong", workflow.Config{OverlapPolicy: "QUEUE", ExecutionTimeoutSeconds: 604801, CatchupWindowSeconds: 86401},
			workflow.Config{OverlapPolicy: "QUEUE", ExecutionTimeoutSeconds: 604801, CatchupWindowSeconds: 86401},
			[]string{"config.catchup_window_seconds", "config.execution_timeout_seconds", "config.overlap_policy"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v errors.Violations
			got := validateConfig(&v, "config", tc.in)
			requireViolations(t, tc.fields, v)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormalizeWebhookPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "orders/created", want: "orders/created"},
		{in: "/orders/created/", want: "orders/created"},
		{in: "/Orders/Created", want: "Orders/Created"},
		{in: "a", want: "a"},
		{in: "v1.2/~user:name@host-x_y", want: "v1.2/~user:name@host-x_y"},
		{in: "..a/b..", want: "..a/b.."},
		{in: strings.Repeat("a", 512), want: strings.Repeat("a", 512)},
		{in: "/" + strings.Repeat("a", 512) + "/", want: strings.Repeat("a", 512)},
		{in: "", err: "must not be empty"},
		{in: "/", err: "must not be empty"},
		{in: "//", err: "must not be empty"},
		{in: "///", err: "must not contain an empty segment (//)"},
		{in: "a//b", err: "must not contain an empty segment (//)"},
		{in: "//a", err: "must not contain an empty segment (//)"},
		{in: "a//", err: "must not contain an empty segment (//)"},
		{in: "./a", err: `must not contain a "." segment`},
		{in: "a/../b", err: `must not contain a ".." segment`},
		{in: "a b", err: `must not contain " ": segments may use only A-Z, a-z, 0-9 and . _ ~ : @ -`},
		{in: "a?x=1", err: `must not contain "?"`},
		{in: "a%20b", err: `must not contain "%"`},
		{in: "café", err: `must not contain "é"`},
		{in: "\u212aelvin/hook", err: "must not contain \"\u212a\""},
		{in: strings.Repeat("a", 513), err: "is 513 bytes long; at most 512"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := workflow.NormalizeWebhookPath(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.Empty(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestValidateTriggers(t *testing.T) {
	t.Parallel()
	cronT := func(expr string) workflow.Trigger {
		return workflow.Trigger{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: expr}}
	}
	hook := func(path string) workflow.Trigger {
		return workflow.Trigger{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: path}}
	}
	hookOut := func(path string) workflow.Trigger {
		return workflow.Trigger{Type: workflow.TriggerWebhook, Enabled: true,
			Webhook: &workflow.WebhookSpec{Path: path, Methods: []string{"POST"}, ResponseMode: "ASYNC"}}
	}
	manual := workflow.Trigger{Type: workflow.TriggerManual}
	many := make([]workflow.Trigger, 101)
	for i := range many {
		many[i] = hook(fmt.Sprintf("hooks/%d", i))
	}
	for _, tc := range []struct {
		name   string
		in     []workflow.Trigger
		want   []workflow.Trigger // nil: don't compare
		fields []string
	}{
		{name: "none", in: nil, want: []workflow.Trigger{}},
		{
			name: "cron",
			in: []workflow.Trigger{{ID: "t1", Type: workflow.TriggerCron, Cron: &workflow.CronSpec{
				Expression: "*/5 * * * *", Timezone: "Europe/London", JitterWindowSeconds: new(int32(60))}}},
			want: []workflow.Trigger{{ID: "t1", Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{
				Expression: "*/5 * * * *", Timezone: "Europe/London", JitterWindowSeconds: new(int32(60))}}},
		},
		{
			name: "cron without jitter",
			in:   []workflow.Trigger{{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "@daily", JitterWindowSeconds: new(int32(0))}}},
			want: []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "@daily", JitterWindowSeconds: new(int32(0))}}},
		},
		{name: "webhook defaults", in: []workflow.Trigger{hook("/orders/created/")}, want: []workflow.Trigger{hookOut("orders/created")}},
		{
			name: "webhook normalised",
			in: []workflow.Trigger{{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{
				Path: "Orders", Methods: []string{"get", "Post", "GET", "options"}, ResponseMode: "SYNC", SyncTimeoutSeconds: 300,
				Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "plain secret"}}}},
			want: []workflow.Trigger{{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{
				Path: "Orders", Methods: []string{"GET", "POST", "OPTIONS"}, ResponseMode: "SYNC", SyncTimeoutSeconds: 300,
				Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "plain secret"}}}},
		},
		{
			name: "one of each",
			in:   []workflow.Trigger{cronT("0 9 * * MON-FRI"), hook("a"), hook("b"), manual},
			want: []workflow.Trigger{
				{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "0 9 * * MON-FRI"}},
				hookOut("a"), hookOut("b"),
				{Type: workflow.TriggerManual, Enabled: true},
			},
		},
		{name: "unspecified type", in: []workflow.Trigger{{}}, fields: []string{"triggers[0].type"}},
		{name: "unknown type", in: []workflow.Trigger{{Type: "EMAIL"}}, fields: []string{"triggers[0].type"}},
		{
			name:   "unknown type, its spec still checked",
			in:     []workflow.Trigger{{Type: "cron", Cron: &workflow.CronSpec{Expression: "bad"}}},
			fields: []string{"triggers[0].type", "triggers[0].cron.expression"},
		},
		{name: "cron without spec", in: []workflow.Trigger{{Type: workflow.TriggerCron}}, fields: []string{"triggers[0].cron"}},
		{
			name:   "cron with webhook",
			in:     []workflow.Trigger{{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "@daily"}, Webhook: &workflow.WebhookSpec{Path: "a"}}},
			fields: []string{"triggers[0].webhook"},
		},
		{name: "webhook without spec", in: []workflow.Trigger{{Type: workflow.TriggerWebhook}}, fields: []string{"triggers[0].webhook"}},
		{
			name:   "manual with specs",
			in:     []workflow.Trigger{{Type: workflow.TriggerManual, Cron: &workflow.CronSpec{Expression: "@daily"}, Webhook: &workflow.WebhookSpec{Path: "a"}}},
			fields: []string{"triggers[0].cron", "triggers[0].webhook"},
		},
		{name: "empty expression", in: []workflow.Trigger{cronT("")}, fields: []string{"triggers[0].cron.expression"}},
		{name: "bad expression", in: []workflow.Trigger{cronT("0 25 * * *")}, fields: []string{"triggers[0].cron.expression"}},
		{
			name:   "bad zone and jitter",
			in:     []workflow.Trigger{{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "@daily", Timezone: "Mars/Olympus", JitterWindowSeconds: new(int32(-1))}}},
			fields: []string{"triggers[0].cron.jitter_window_seconds", "triggers[0].cron.timezone"},
		},
		{
			name:   "local zone, jitter too long",
			in:     []workflow.Trigger{{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "@daily", Timezone: "Local", JitterWindowSeconds: new(int32(86401))}}},
			fields: []string{"triggers[0].cron.jitter_window_seconds", "triggers[0].cron.timezone"},
		},
		{name: "bad path", in: []workflow.Trigger{hook("a//b")}, fields: []string{"triggers[0].webhook.path"}},
		{
			name: "bad webhook settings",
			in: []workflow.Trigger{{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{
				Path: "a", Methods: []string{"POST", "FETCH", "TRACE"}, ResponseMode: "sync", SyncTimeoutSeconds: 301,
				Secrets: []string{"ok", "", "whsec_!!notbase64", "whsec_", "whsec_dGVzdA=="}}}},
			fields: []string{
				"triggers[0].webhook.methods[1]", "triggers[0].webhook.methods[2]", "triggers[0].webhook.response_mode",
				"triggers[0].webhook.sync_timeout_seconds", "triggers[0].webhook.secrets[1]", "triggers[0].webhook.secrets[2]",
				"triggers[0].webhook.secrets[3]",
			},
		},
		{
			name:   "negative sync timeout",
			in:     []workflow.Trigger{{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "a", SyncTimeoutSeconds: -1}}},
			fields: []string{"triggers[0].webhook.sync_timeout_seconds"},
		},
		{
			name:   "duplicate paths, case-insensitive",
			in:     []workflow.Trigger{hook("/Orders"), hook("b"), hook("orders/"), hook("ORDERS"), hook("a//b"), hook("a//b")},
			fields: []string{"triggers[2].webhook.path", "triggers[3].webhook.path", "triggers[4].webhook.path", "triggers[5].webhook.path"},
		},
		{name: "two manual triggers", in: []workflow.Trigger{manual, cronT("@daily"), manual}, fields: []string{"triggers[2].type"}},
		{name: "too many", in: many, fields: []string{"triggers"}},
		{
			name: "several at once",
			in: []workflow.Trigger{
				cronT("61 * * * *"), {Type: "X"}, hook(""), manual, manual, hook("ok"), hook("OK"),
				{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "x", Methods: []string{"BREW"}}},
			},
			fields: []string{
				"triggers[0].cron.expression", "triggers[1].type", "triggers[2].webhook.path", "triggers[4].type",
				"triggers[6].webhook.path", "triggers[7].webhook.methods[0]",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v errors.Violations
			got := validateTriggers(&v, tc.in)
			requireViolations(t, tc.fields, v)
			require.Len(t, got, len(tc.in))
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("triggers (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestValidateTriggersUnnamedFields checks that parts whose field path is
// empty, because a violation was recorded there already, are not reported again.
func TestValidateTriggersUnnamedFields(t *testing.T) {
	t.Parallel()
	var v errors.Violations
	got := checkTrigger(&v, triggerFields{}, workflow.Trigger{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{
		Path: "a//b", Methods: []string{"BREW"}, ResponseMode: "LATER", Secrets: []string{""}}})
	require.Empty(t, v)
	require.Equal(t, "a//b", got.Webhook.Path)
}

func TestValidateConfigUnrooted(t *testing.T) {
	t.Parallel()
	var v errors.Violations
	validateConfig(&v, "", workflow.Config{OverlapPolicy: "NEVER"})
	requireViolations(t, []string{"overlap_policy"}, v)
}

func TestValidateTriggersMessages(t *testing.T) {
	t.Parallel()
	secret := "whsec_sup3r$ecret"
	var v errors.Violations
	validateTriggers(&v, []workflow.Trigger{
		{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "0 25 * * *"}},
		{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "a", Secrets: []string{secret}}},
		{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "A"}},
	})
	want := errors.Violations{
		{Field: "triggers[0].cron.expression", Description: `hour field "25": value out of range 0-23`},
		{Field: "triggers[1].webhook.secrets[0]", Description: "a whsec_ secret must continue with a standard base64 key"},
		{Field: "triggers[2].webhook.path", Description: "duplicates triggers[1].webhook.path"},
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	require.NotContains(t, fmt.Sprint(v), "sup3r")
}

func TestValidateTriggersCopies(t *testing.T) {
	t.Parallel()
	in := []workflow.Trigger{
		{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "@daily", JitterWindowSeconds: new(int32(5))}},
		{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "/a/", Methods: []string{"get"}, Secrets: []string{"s"}}},
	}
	var v errors.Violations
	out := validateTriggers(&v, in)
	require.Empty(t, v)
	*in[0].Cron.JitterWindowSeconds = 9
	in[0].Cron.Expression = "@hourly"
	in[1].Webhook.Secrets[0] = "changed"
	require.Equal(t, "/a/", in[1].Webhook.Path)
	require.Equal(t, []string{"get"}, in[1].Webhook.Methods)
	require.Equal(t, int32(5), *out[0].Cron.JitterWindowSeconds)
	require.Equal(t, "@daily", out[0].Cron.Expression)
	require.Equal(t, []string{"s"}, out[1].Webhook.Secrets)
}

// validDefinition has two nodes connected in the flat form of the contract.
const validDefinition = `{
	"nodes": [
		{"id": "n1", "name": "Start", "type": "TRIGGER", "subtype": "MANUAL"},
		{"id": "n2", "name": "Work", "type": "ACTION", "subtype": "HTTP", "parameters": {"url": "https://example.com"}, "disabled": false}
	],
	"connections": {"Start": {"main": [{"node": "Work", "type": "MAIN", "index": 0}]}},
	"settings": {"timezone": "Europe/London", "timeout": 30}
}`

func TestValidateDefinition(t *testing.T) {
	t.Parallel()
	var nodes []string
	for i := range 1001 {
		nodes = append(nodes, fmt.Sprintf(`{"id": "n%d", "name": "N%d", "type": "ACTION"}`, i, i))
	}
	tooMany := `{"nodes": [` + strings.Join(nodes, ",") + `]}`
	deep := `{"nodes": [{"id": "a", "name": "A", "type": "ACTION", "parameters": {"x": ` +
		strings.Repeat("[", 61) + strings.Repeat("]", 61) + `}}]}`
	veryDeep := `{"nodes": [{"id": "a", "name": "A", "type": "ACTION", "parameters": {"x": ` +
		strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}]}`
	notDeep := `{"nodes": [{"id": "a", "name": "A", "type": "ACTION", "parameters": {"x": ` +
		strings.Repeat("[", 60) + strings.Repeat("]", 60) + `}}]}`
	big := `{"nodes": [{"id": "a", "name": "A", "type": "ACTION", "parameters": {"x": "` + strings.Repeat("x", 1<<20) + `"}}]}`
	for _, tc := range []struct {
		name   string
		def    string
		fields []string
	}{
		{"valid", validDefinition, nil},
		{"every node type", `{"nodes": [
			{"id": "1", "name": "a", "type": "TRIGGER"}, {"id": "2", "name": "b", "type": "AI_AGENT"},
			{"id": "3", "name": "c", "type": "EXTERNAL_ACTION"}, {"id": "4", "name": "d", "type": "ACTION"},
			{"id": "5", "name": "e", "type": "FLOW"}, {"id": "6", "name": "f", "type": "HUMAN_IN_THE_LOOP"},
			{"id": "7", "name": "g", "type": "TOOL"}, {"id": "8", "name": "h", "type": "MEMORY"}]}`, nil},
		{"n8n nested connections", `{"nodes": [
			{"id": "1", "name": "A", "type": "ACTION"}, {"id": "2", "name": "B", "type": "ACTION"}, {"id": "3", "name": "C", "type": "ACTION"}],
			"connections": {"A": {"main": [[{"node": "B", "type": "main", "index": 0}], [{"node": "C", "type": "Main", "index": 1}]]}}}`, nil},
		{"connection without type and index", `{"nodes": [{"id": "1", "name": "A", "type": "ACTION"}, {"id": "2", "name": "B", "type": "ACTION"}],
			"connections": {"A": {"main": [{"node": "B"}]}}}`, nil},
		{"null optionals", `{"nodes": [{"id": "1", "name": "A", "type": "ACTION", "subtype": null, "parameters": null, "disabled": null}],
			"connections": null, "settings": {"timezone": null, "timeout": null}}`, nil},
		{"diamond", `{"nodes": [
			{"id": "1", "name": "A", "type": "ACTION"}, {"id": "2", "name": "B", "type": "ACTION"},
			{"id": "3", "name": "C", "type": "ACTION"}, {"id": "4", "name": "D", "type": "ACTION"}],
			"connections": {"A": {"main": [{"node": "B"}, {"node": "C"}]}, "B": {"main": [{"node": "D"}]}, "C": {"main": [{"node": "D"}]}}}`, nil},
		{"loop closes the cycle", `{"nodes": [
			{"id": "1", "name": "Each", "type": "FLOW", "subtype": "LOOP"}, {"id": "2", "name": "Work", "type": "ACTION"},
			{"id": "3", "name": "More", "type": "ACTION"}],
			"connections": {"Each": {"main": [{"node": "Work"}]}, "Work": {"main": [{"node": "More"}]}, "More": {"main": [{"node": "Each"}]}}}`, nil},
		{"two loops, nested", `{"nodes": [
			{"id": "1", "name": "Outer", "type": "FLOW", "subtype": "loop"}, {"id": "2", "name": "Inner", "type": "FLOW", "subtype": "LOOP"},
			{"id": "3", "name": "Work", "type": "ACTION"}],
			"connections": {"Outer": {"main": [{"node": "Inner"}]}, "Inner": {"main": [{"node": "Work"}, {"node": "Outer"}]}, "Work": {"main": [{"node": "Inner"}]}}}`, nil},
		{"nesting at the limit", notDeep, nil},

		{"empty", `{}`, []string{"workflow_definition"}},
		{"nodes missing", `{"connections": {"A": {"main": [{"node": "B"}]}}}`, []string{"workflow_definition.nodes"}},
		{"nodes not an array", `{"nodes": {"id": "a"}}`, []string{"workflow_definition.nodes"}},
		{"nodes empty", `{"nodes": []}`, []string{"workflow_definition.nodes"}},
		{"too many nodes", tooMany, []string{"workflow_definition.nodes"}},
		{"one level too deep", deep, []string{"workflow_definition"}},
		{"far too deep", veryDeep, []string{"workflow_definition"}},
		{"too big", big, []string{"workflow_definition"}},
		{"node not an object", `{"nodes": ["a", {"id": "b", "name": "B", "type": "ACTION"}]}`, []string{"workflow_definition.nodes[0]"}},
		{"node fields missing", `{"nodes": [{}]}`, []string{
			"workflow_definition.nodes[0].id", "workflow_definition.nodes[0].name", "workflow_definition.nodes[0].type",
		}},
		{"node fields empty", `{"nodes": [{"id": "", "name": "", "type": ""}]}`, []string{
			"workflow_definition.nodes[0].id", "workflow_definition.nodes[0].name", "workflow_definition.nodes[0].type",
		}},
		{"node fields of the wrong type", `{"nodes": [{"id": 1, "name": true, "type": ["ACTION"], "subtype": 2, "parameters": [], "disabled": "no"}]}`, []string{
			"workflow_definition.nodes[0].disabled", "workflow_definition.nodes[0].id", "workflow_definition.nodes[0].name",
			"workflow_definition.nodes[0].parameters", "workflow_definition.nodes[0].subtype", "workflow_definition.nodes[0].type",
		}},
		{"unknown node type", `{"nodes": [{"id": "a", "name": "A", "type": "action"}]}`, []string{"workflow_definition.nodes[0].type"}},
		{"duplicate id and name", `{"nodes": [
			{"id": "a", "name": "A", "type": "ACTION"}, {"id": "b", "name": "B", "type": "ACTION"},
			{"id": "a", "name": "C", "type": "ACTION"}, {"id": "d", "name": "B", "type": "ACTION"}]}`, []string{
			"workflow_definition.nodes[2].id", "workflow_definition.nodes[3].name",
		}},
		{"connections not an object", `{"nodes": [{"id": "a", "name": "A", "type": "ACTION"}], "connections": []}`, []string{"workflow_definition.connections"}},
		{"bad connections", `{"nodes": [{"id": "a", "name": "A", "type": "ACTION"}, {"id": "b", "name": "B", "type": "ACTION"}],
			"connections": {
				"Nobody": {"main": [{"node": "B"}]},
				"A": {"main": [{"node": "Ghost"}, {"node": "A"}, {"node": "B", "type": "error", "index": -1}, {"node": "B", "index": 1.5}, "B", {"type": "MAIN"}, {"node": 7}],
				      "other": {"node": "B"}},
				"B": "A"}}`, []string{
			"workflow_definition.connections.A.main[0].node",
			"workflow_definition.connections.A.main[1].node",
			"workflow_definition.connections.A.main[2].index",
			"workflow_definition.connections.A.main[2].type",
			"workflow_definition.connections.A.main[3].index",
			"workflow_definition.connections.A.main[4]",
			"workflow_definition.connections.A.main[5].node",
			"workflow_definition.connections.A.main[6].node",
			"workflow_definition.connections.A.other",
			"workflow_definition.connections.B",
			"workflow_definition.connections.Nobody",
		}},
		{"cycle", `{"nodes": [
			{"id": "1", "name": "A", "type": "ACTION"}, {"id": "2", "name": "B", "type": "ACTION"}, {"id": "3", "name": "C", "type": "ACTION"}],
			"connections": {"A": {"main": [{"node": "B"}]}, "B": {"main": [{"node": "C"}]}, "C": {"main": [{"node": "A"}]}}}`,
			[]string{"workflow_definition.connections"}},
		{"cycle through a FLOW node that is not a loop", `{"nodes": [
			{"id": "1", "name": "If", "type": "FLOW", "subtype": "IF"}, {"id": "2", "name": "B", "type": "ACTION"}],
			"connections": {"If": {"main": [{"node": "B"}]}, "B": {"main": [{"node": "If"}]}}}`,
			[]string{"workflow_definition.connections"}},
		{"cycle beside a loop", `{"nodes": [
			{"id": "1", "name": "Each", "type": "FLOW", "subtype": "LOOP"}, {"id": "2", "name": "B", "type": "ACTION"}, {"id": "3", "name": "C", "type": "ACTION"}],
			"connections": {"Each": {"main": [{"node": "B"}]}, "B": {"main": [{"node": "C"}, {"node": "Each"}]}, "C": {"main": [{"node": "B"}]}}}`,
			[]string{"workflow_definition.connections"}},
		{"settings not an object", `{"nodes": [{"id": "a", "name": "A", "type": "ACTION"}], "settings": "UTC"}`, []string{"workflow_definition.settings"}},
		{"bad settings", `{"nodes": [{"id": "a", "name": "A", "type": "ACTION"}], "settings": {"timezone": "Nowhere/City", "timeout": 0}}`, []string{
			"workflow_definition.settings.timeout", "workflow_definition.settings.timezone",
		}},
		{"settings of the wrong type", `{"nodes": [{"id": "a", "name": "A", "type": "ACTION"}], "settings": {"timezone": 1, "timeout": "30"}}`, []string{
			"workflow_definition.settings.timeout", "workflow_definition.settings.timezone",
		}},
		{"several at once", `{"nodes": [
			{"id": "a", "name": "A", "type": "ACTION"}, {"id": "a", "name": "B", "type": "WIDGET"},
			{"id": "c", "name": "C", "type": "TRIGGER", "subtype": "CRON", "parameters": {"cron_expression": "* * *"}}],
			"connections": {"A": {"main": [{"node": "A"}, {"node": "Z"}]}},
			"settings": {"timeout": -5}}`, []string{
			"workflow_definition.connections.A.main[0].node", "workflow_definition.connections.A.main[1].node",
			"workflow_definition.nodes[1].id", "workflow_definition.nodes[1].type",
			"workflow_definition.nodes[2].parameters.cron_expression", "workflow_definition.settings.timeout",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v errors.Violations
			validateDefinition(&v, decodeDefinition(t, tc.def))
			requireViolations(t, tc.fields, v)
		})
	}
}

func TestValidateDefinitionNil(t *testing.T) {
	t.Parallel()
	var v errors.Violations
	def, triggers := validateDefinition(&v, nil)
	require.Nil(t, def)
	require.Nil(t, triggers)
	requireViolations(t, []string{"workflow_definition"}, v)
}

// TestValidateDefinitionGoValues covers definitions built in Go rather than
// decoded: ints where JSON has float64, and values JSON cannot encode.
func TestValidateDefinitionGoValues(t *testing.T) {
	t.Parallel()
	def := map[string]any{
		"nodes": []any{
			map[string]any{"id": "a", "name": "A", "type": "ACTION"},
			map[string]any{"id": "b", "name": "B", "type": "ACTION", "parameters": map[string]any{"ratio": math.NaN()}},
		},
		"connections": map[string]any{"A": map[string]any{"main": []any{map[string]any{"node": "B", "index": int64(0)}}}},
		"settings":    map[string]any{"timeout": 30},
	}
	var v errors.Violations
	validateDefinition(&v, def)
	requireViolations(t, []string{"workflow_definition"}, v)
	require.Contains(t, v[0].Description, "cannot be encoded as JSON")
}

func TestValidateDefinitionCycleMessage(t *testing.T) {
	t.Parallel()
	var v errors.Violations
	validateDefinition(&v, decodeDefinition(t, `{"nodes": [
		{"id": "1", "name": "Start", "type": "TRIGGER", "subtype": "MANUAL"},
		{"id": "2", "name": "A", "type": "ACTION"}, {"id": "3", "name": "B", "type": "ACTION"}],
		"connections": {"Start": {"main": [{"node": "A"}]}, "A": {"main": [{"node": "B"}]}, "B": {"main": [{"node": "A"}]}}}`))
	want := errors.Violations{{
		Field:       "workflow_definition.connections",
		Description: "nodes A -> B -> A form a cycle; only a FLOW node of subtype LOOP may close one",
	}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

func TestValidateDefinitionDerivedTriggers(t *testing.T) {
	t.Parallel()
	node := func(i int, subtype, params string) string {
		return fmt.Sprintf(`{"id": "n%d", "name": "N%d", "type": "TRIGGER", "subtype": %q, "parameters": %s}`, i, i, subtype, params)
	}
	def := func(settings string, nodes ...string) string {
		s := `{"nodes": [` + strings.Join(nodes, ",") + `]`
		if settings != "" {
			s += `, "settings": ` + settings
		}
		return s + "}"
	}
	var crons []string
	for i := range 101 {
		crons = append(crons, node(i, "CRON", `{"cron_expression": "@hourly"}`))
	}
	const p = "workflow_definition.nodes"
	for _, tc := range []struct {
		name   string
		def    string
		want   []workflow.Trigger
		fields []string
	}{
		{
			name: "cron",
			def:  def("", node(0, "CRON", `{"cron_expression": "0 9 * * MON-FRI", "timezone": "America/New_York", "jitter_window_seconds": 60}`)),
			want: []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{
				Expression: "0 9 * * MON-FRI", Timezone: "America/New_York", JitterWindowSeconds: new(int32(60))}}},
		},
		{
			name: "cron takes the settings' zone",
			def:  def(`{"timezone": "Europe/London"}`, node(0, "cron", `{"cron_expression": "@daily", "jitter_window_seconds": 0}`)),
			want: []workflow.Trigger{{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{
				Expression: "@daily", Timezone: "Europe/London", JitterWindowSeconds: new(int32(0))}}},
		},
		{
			name: "webhook",
			def:  def("", node(0, "WEBHOOK", `{"path": "/hooks/Orders/", "methods": ["get", "post", "GET"], "response_mode": "SYNC"}`)),
			want: []workflow.Trigger{{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{
				Path: "hooks/Orders", Methods: []string{"GET", "POST"}, ResponseMode: "SYNC"}}},
		},
		{
			name: "webhook defaults",
			def:  def("", node(0, "WEBHOOK", `{"path": "orders"}`)),
			want: []workflow.Trigger{{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{
				Path: "orders", Methods: []string{"POST"}, ResponseMode: "ASYNC"}}},
		},
		{
			name: "manual, others skipped",
			def: def("",
				node(0, "MANUAL", `null`),
				node(1, "EMAIL", `{}`),
				`{"id": "d", "name": "Disabled", "type": "TRIGGER", "subtype": "CRON", "disabled": true, "parameters": {"cron_expression": "bad"}}`,
				`{"id": "f", "name": "Flow", "type": "FLOW", "subtype": "CRON"}`,
				`{"id": "s", "name": "NoSubtype", "type": "TRIGGER"}`),
			want: []workflow.Trigger{{Type: workflow.TriggerManual, Enabled: true}},
		},
		{
			name: "one of each, in node order",
			def: def("",
				node(0, "WEBHOOK", `{"path": "a"}`), node(1, "MANUAL", `{}`), node(2, "CRON", `{"cron_expression": "0 0 12 * * ?"}`)),
			want: []workflow.Trigger{
				{Type: workflow.TriggerWebhook, Enabled: true, Webhook: &workflow.WebhookSpec{Path: "a", Methods: []string{"POST"}, ResponseMode: "ASYNC"}},
				{Type: workflow.TriggerManual, Enabled: true},
				{Type: workflow.TriggerCron, Enabled: true, Cron: &workflow.CronSpec{Expression: "0 0 12 * * ?"}},
			},
		},
		{name: "cron expression missing", def: def("", node(0, "CRON", `{}`)), fields: []string{p + "[0].parameters.cron_expression"}},
		{name: "cron without parameters", def: def("", node(0, "CRON", `null`)), fields: []string{p + "[0].parameters.cron_expression"}},
		{name: "bad cron expression", def: def("", node(0, "CRON", `{"cron_expression": "0 0 32 * *"}`)), fields: []string{p + "[0].parameters.cron_expression"}},
		{
			name: "cron parameters of the wrong type",
			def:  def("", node(0, "CRON", `{"cron_expression": 5, "timezone": 1, "jitter_window_seconds": "60"}`)),
			fields: []string{
				p + "[0].parameters.cron_expression", p + "[0].parameters.jitter_window_seconds", p + "[0].parameters.timezone",
			},
		},
		{
			name:   "bad cron zone and jitter",
			def:    def("", node(0, "CRON", `{"cron_expression": "@daily", "timezone": "Utopia", "jitter_window_seconds": 1.5}`)),
			fields: []string{p + "[0].parameters.jitter_window_seconds", p + "[0].parameters.timezone"},
		},
		{
			name:   "jitter out of range",
			def:    def("", node(0, "CRON", `{"cron_expression": "@daily", "jitter_window_seconds": 86401}`), node(1, "CRON", `{"cron_expression": "@daily", "jitter_window_seconds": -1}`)),
			fields: []string{p + "[0].parameters.jitter_window_seconds", p + "[1].parameters.jitter_window_seconds"},
		},
		{name: "webhook path missing", def: def("", node(0, "WEBHOOK", `{}`)), fields: []string{p + "[0].parameters.path"}},
		{name: "bad webhook path", def: def("", node(0, "WEBHOOK", `{"path": "a/../b"}`)), fields: []string{p + "[0].parameters.path"}},
		{
			name:   "webhook parameters of the wrong type",
			def:    def("", node(0, "WEBHOOK", `{"path": 3, "methods": "GET", "response_mode": true}`), node(1, "WEBHOOK", `{"path": "b", "methods": ["GET", 1]}`)),
			fields: []string{p + "[0].parameters.methods", p + "[0].parameters.path", p + "[0].parameters.response_mode", p + "[1].parameters.methods[1]"},
		},
		{
			name:   "bad webhook values",
			def:    def("", node(0, "WEBHOOK", `{"path": "a", "methods": ["GET", "BREW"], "response_mode": "LATER"}`)),
			fields: []string{p + "[0].parameters.methods[1]", p + "[0].parameters.response_mode"},
		},
		{
			name:   "duplicate webhook paths",
			def:    def("", node(0, "WEBHOOK", `{"path": "Orders"}`), node(1, "WEBHOOK", `{"path": "/orders/"}`)),
			fields: []string{p + "[1].parameters.path"},
		},
		{name: "two manual triggers", def: def("", node(0, "MANUAL", `{}`), node(1, "MANUAL", `{}`)), fields: []string{p + "[1].subtype"}},
		{name: "too many triggers", def: def("", crons...), fields: []string{p}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v errors.Violations
			_, got := validateDefinition(&v, decodeDefinition(t, tc.def))
			requireViolations(t, tc.fields, v)
			if tc.fields == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("triggers (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestValidateStoredText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		check  func(v *errors.Violations)
		fields []string
	}{
		{"NUL in a definition value", func(v *errors.Violations) {
			validateDefinition(v, map[string]any{"nodes": []any{
				map[string]any{"id": "a", "name": "A\x00", "type": "ACTION"}}})
		}, []string{"workflow_definition.nodes[0].name"}},
		{"NUL in a definition key", func(v *errors.Violations) {
			validateDefinition(v, map[string]any{"x\x00": 1, "nodes": []any{
				map[string]any{"id": "a", "name": "A", "type": "ACTION"}}})
		}, []string{"workflow_definition"}},
		{"NUL deep in a definition", func(v *errors.Violations) {
			validateDefinition(v, map[string]any{"nodes": []any{
				map[string]any{"id": "a", "name": "A", "type": "ACTION", "parameters": map[string]any{"list": []any{"x", "y\x00"}}}}})
		}, []string{"workflow_definition.nodes[0].parameters.list[1]"}},
		{"other controls and an escaped NUL's text in a definition", func(v *errors.Violations) {
			validateDefinition(v, map[string]any{"nodes": []any{
				map[string]any{"id": "a", "name": "A", "type": "ACTION", "parameters": map[string]any{
					"prompt": "line 1\n\tline 2\x01\x1b[0m", `C:\u0000`: `\u0000`}}}})
		}, nil},
		{"control character in a secret", func(v *errors.Violations) {
			validateTriggers(v, []workflow.Trigger{{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "p", Secrets: []string{"a\x00b"}}}})
		}, []string{"triggers[0].webhook.secrets[0]"}},
		{"overlong secret", func(v *errors.Violations) {
			validateTriggers(v, []workflow.Trigger{{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "p", Secrets: []string{strings.Repeat("s", maxSecretBytes+1)}}}})
		}, []string{"triggers[0].webhook.secrets[0]"}},
		{"control characters in a cron expression and its zone", func(v *errors.Violations) {
			validateTriggers(v, []workflow.Trigger{
				{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "0\t*\t*\t*\t*", Timezone: "UTC\x00"}},
				{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "0 * * * *\n"}},
			})
		}, []string{"triggers[0].cron.expression", "triggers[0].cron.timezone", "triggers[1].cron.expression"}},
		{"control character in a cron node", func(v *errors.Violations) {
			validateDefinition(v, map[string]any{"nodes": []any{
				map[string]any{"id": "t", "name": "T", "type": "TRIGGER", "subtype": "CRON", "parameters": map[string]any{"cron_expression": "0 * * * *\r"}}}})
		}, []string{"workflow_definition.nodes[0].parameters.cron_expression"}},
		{"control character in the actor", func(v *errors.Violations) { workflow.ActorText.Check(v, "deployed_by", "al\x00ice") }, []string{"deployed_by"}},
		{"line break in the actor", func(v *errors.Violations) { workflow.ActorText.Check(v, "deployed_by", "alice\nbob") }, []string{"deployed_by"}},
		{"overlong actor", func(v *errors.Violations) { workflow.ActorText.Check(v, "deployed_by", strings.Repeat("a", 257)) }, []string{"deployed_by"}},
		{"plain actor", func(v *errors.Violations) { workflow.ActorText.Check(v, "deployed_by", "alice@example.com") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v errors.Violations
			tc.check(&v)
			var got []string
			for _, x := range v {
				got = append(got, x.Field)
			}
			if diff := cmp.Diff(tc.fields, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}
