package deployment

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// Limits on requests (ARCHITECTURE.md "Workflow definition", API.md).
const (
	maxDefinitionBytes         = 1 << 20
	maxDefinitionDepth         = 64
	maxDefinitionNodes         = 1000
	maxDeploymentTriggers      = 100
	maxJitterWindowSeconds     = 86400
	maxSyncTimeoutSeconds      = 300
	maxExecutionTimeoutSeconds = 604800
	maxCatchupWindowSeconds    = 86400
	maxSecretBytes             = 1024
)

var (
	nodeTypes = []string{"TRIGGER", "AI_AGENT", "EXTERNAL_ACTION", "ACTION", "FLOW", "HUMAN_IN_THE_LOOP", "TOOL", "MEMORY"}

	webhookMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

	overlapPolicies = []string{workflow.OverlapSkip, workflow.OverlapAllowAll, workflow.OverlapBufferOne, workflow.OverlapCancelOther, workflow.OverlapBufferAll}

	catchupPolicies = []string{workflow.CatchupLatest, workflow.CatchupAll, workflow.CatchupNone}

	// secretText is a webhook secret's rule; its violations never quote it.
	secretText = workflow.TextRule{MaxBytes: maxSecretBytes}
)

func subField(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}

func indexField(field string, i int) string {
	return fmt.Sprintf("%s[%d]", field, i)
}

// Every validate function appends all the violations it finds to v, never
// stopping at the first, with field paths rooted at the request field it
// checks (or at field, where it takes one).

// validateWorkflowID checks a caller's workflow id (workflow.IDProblem).
func validateWorkflowID(v *errors.Violations, id string) {
	if p := workflow.IDProblem(id); p != "" {
		v.Addf("workflow_id", "%s", p)
	}
}

// validateConfig checks c and returns it with the overlap policy defaulted to
// SKIP; zero timeouts stay zero, meaning the service defaults.
func validateConfig(v *errors.Violations, field string, c workflow.Config) workflow.Config {
	if c.OverlapPolicy == "" {
		c.OverlapPolicy = workflow.OverlapSkip
	} else if !slices.Contains(overlapPolicies, c.OverlapPolicy) {
		v.Addf(subField(field, "overlap_policy"), "must be one of %s", strings.Join(overlapPolicies, ", "))
	}
	if c.ExecutionTimeoutSeconds < 0 || c.ExecutionTimeoutSeconds > maxExecutionTimeoutSeconds {
		v.Addf(subField(field, "execution_timeout_seconds"), "must be 0-%d (0 = service default)", maxExecutionTimeoutSeconds)
	}
	if c.CatchupWindowSeconds < 0 || c.CatchupWindowSeconds > maxCatchupWindowSeconds {
		v.Addf(subField(field, "catchup_window_seconds"), "must be 0-%d (0 = service default)", maxCatchupWindowSeconds)
	}
	if c.Retry != nil {
		c.Retry = validateRetry(v, subField(field, "retry_policy"), *c.Retry)
	}
	if c.PauseAfterFailures < 0 || c.PauseAfterFailures > maxPauseAfterFailures {
		v.Addf(subField(field, "pause_after_failures"), "must be 0-%d (0 = never pause)", maxPauseAfterFailures)
	}
	switch {
	case c.MaxConcurrency < 0 || c.MaxConcurrency > maxConcurrency:
		v.Addf(subField(field, "max_concurrency"), "must be 0-%d (0 = no bound)", maxConcurrency)
	case c.MaxConcurrency > 0 && c.OverlapPolicy != workflow.OverlapAllowAll:
		v.Addf(subField(field, "max_concurrency"), "bounds ALLOW_ALL only; overlap_policy is %s", c.OverlapPolicy)
	}
	queues := c.OverlapPolicy == workflow.OverlapBufferAll || c.MaxConcurrency > 0
	switch {
	case c.MaxBuffered < 0 || c.MaxBuffered > maxBuffered:
		v.Addf(subField(field, "max_buffered"), "must be 0-%d (0 = %d)", maxBuffered, workflow.DefaultMaxBuffered)
	case c.MaxBuffered > 0 && !queues:
		v.Addf(subField(field, "max_buffered"), "bounds the runs that wait under BUFFER_ALL or max_concurrency only")
	case queues && c.MaxBuffered == 0:
		c.MaxBuffered = workflow.DefaultMaxBuffered
	}
	return c
}

// Bounds of the overlap settings: past them a bound is no bound.
const (
	maxConcurrency = 1000
	maxBuffered    = 10000
)

// maxPauseAfterFailures bounds pause_after_failures: past it, pausing
// would come too late to be what anyone asked for.
const maxPauseAfterFailures = 10000

// Retry policy limits and defaults (API guide, "Retry policy").
const (
	maxAttempts               = 100
	maxRetryInterval          = 7 * 24 * time.Hour
	defaultInitialInterval    = time.Second
	defaultBackoffCoefficient = 2
	// defaultMaxIntervalFactor times the initial interval is the default
	// cap on a wait, as in Temporal.
	defaultMaxIntervalFactor = 100
)

// retryableStatuses are the outcomes a retry policy may name: CANCELLED
// was meant to stop, and SKIPPED did not run.
var retryableStatuses = []workflow.ExecutionStatus{workflow.ExecutionFailed, workflow.ExecutionTimedOut}

// validateRetry checks a retry policy and returns it with its defaults
// filled in, so that a deployment shows the policy it runs with.
func validateRetry(v *errors.Violations, field string, p workflow.RetryPolicy) *workflow.RetryPolicy {
	if p.MaxAttempts < 1 || p.MaxAttempts > maxAttempts {
		v.Addf(subField(field, "max_attempts"), "must be 1-%d (1 = no retry)", maxAttempts)
	}
	if p.InitialInterval == 0 {
		p.InitialInterval = defaultInitialInterval
	}
	if p.BackoffCoefficient == 0 {
		p.BackoffCoefficient = defaultBackoffCoefficient
	}
	if p.MaxInterval == 0 {
		p.MaxInterval = min(defaultMaxIntervalFactor*p.InitialInterval, maxRetryInterval)
	}
	okInterval := true
	for _, iv := range []struct {
		name string
		d    time.Duration
	}{{"initial_interval", p.InitialInterval}, {"max_interval", p.MaxInterval}} {
		if iv.d < 0 || iv.d > maxRetryInterval {
			v.Addf(subField(field, iv.name), "must be 0-%v (0 = default)", maxRetryInterval)
			okInterval = false
		}
	}
	if okInterval && p.InitialInterval > p.MaxInterval {
		v.Addf(subField(field, "initial_interval"), "must not be more than max_interval (%v)", p.MaxInterval)
	}
	if p.BackoffCoefficient < 1 || math.IsNaN(p.BackoffCoefficient) || math.IsInf(p.BackoffCoefficient, 0) {
		v.Addf(subField(field, "backoff_coefficient"), "must be at least 1 (0 = default %d)", defaultBackoffCoefficient)
	}
	// A copy, sorted below: the caller's list stays as it was.
	p.RetryOn = slices.Clone(p.RetryOn)
	if len(p.RetryOn) == 0 {
		p.RetryOn = slices.Clone(retryableStatuses)
	}
	for i, st := range p.RetryOn {
		if !slices.Contains(retryableStatuses, st) {
			v.Addf(indexField(subField(field, "retry_on"), i), "%s never retries; only FAILED and TIMED_OUT do", cmp.Or(string(st), "UNSPECIFIED"))
		}
	}
	slices.Sort(p.RetryOn)
	p.RetryOn = slices.Compact(p.RetryOn)
	return &p
}

// triggerFields are the field paths of a trigger's parts. A path left empty
// is not checked again: either the part cannot be wrong or a violation has
// already been recorded there.
type triggerFields struct {
	// trigger names the trigger itself; typ is also where a second MANUAL
	// trigger is reported.
	trigger, typ, cron, webhook  string
	expression, timezone, jitter string
	catchup, repeated, skipped   string
	startTime, endTime, maxRuns  string
	path, methods, secrets       string
	responseMode, syncTimeout    string
}

func requestTriggerFields(field string) triggerFields {
	return triggerFields{
		trigger:      field,
		typ:          subField(field, "type"),
		cron:         subField(field, "cron"),
		webhook:      subField(field, "webhook"),
		expression:   subField(field, "cron.expression"),
		timezone:     subField(field, "cron.timezone"),
		jitter:       subField(field, "cron.jitter_window_seconds"),
		catchup:      subField(field, "cron.catchup_policy"),
		repeated:     subField(field, "cron.repeated_time_policy"),
		skipped:      subField(field, "cron.skipped_time_policy"),
		startTime:    subField(field, "cron.start_time"),
		endTime:      subField(field, "cron.end_time"),
		maxRuns:      subField(field, "cron.max_runs"),
		path:         subField(field, "webhook.path"),
		methods:      subField(field, "webhook.methods"),
		secrets:      subField(field, "webhook.secrets"),
		responseMode: subField(field, "webhook.response_mode"),
		syncTimeout:  subField(field, "webhook.sync_timeout_seconds"),
	}
}

// validateTriggers checks a request's triggers and returns normalised copies,
// index for index, with their ids as given: methods upper-cased, deduplicated
// and defaulted to POST, response mode defaulted to ASYNC, paths normalised.
func validateTriggers(v *errors.Violations, ts []workflow.Trigger) []workflow.Trigger {
	const field = "triggers"
	if len(ts) > maxDeploymentTriggers {
		v.Addf(field, "has %d triggers; at most %d", len(ts), maxDeploymentTriggers)
	}
	out := make([]workflow.Trigger, len(ts))
	seen := newTriggerSet()
	for i, t := range ts {
		f := requestTriggerFields(indexField(field, i))
		out[i] = checkTrigger(v, f, t)
		seen.check(v, f, out[i])
		if t.ExecutionTimeoutSeconds < 0 || t.ExecutionTimeoutSeconds > maxExecutionTimeoutSeconds {
			v.Addf(subField(indexField(field, i), "execution_timeout_seconds"), "must be 0-%d (0 = the deployment's)", maxExecutionTimeoutSeconds)
		}
	}
	return out
}

// checkTrigger checks t and returns a normalised deep copy of it.
func checkTrigger(v *errors.Violations, f triggerFields, t workflow.Trigger) workflow.Trigger {
	add := func(field, format string, args ...any) {
		if field != "" {
			v.Addf(field, format, args...)
		}
	}
	item := func(field string, i int) string {
		if field == "" {
			return ""
		}
		return indexField(field, i)
	}
	out := t
	// The API cannot disable a trigger: every one that is deployed is enabled.
	out.Enabled = true
	switch t.Type {
	case workflow.TriggerCron, workflow.TriggerWebhook, workflow.TriggerManual:
		if t.Type == workflow.TriggerCron && t.Cron == nil {
			add(f.cron, "is required for a CRON trigger")
		}
		if t.Type != workflow.TriggerCron && t.Cron != nil {
			add(f.cron, "must be empty for a %s trigger", t.Type)
		}
		if t.Type == workflow.TriggerWebhook && t.Webhook == nil {
			add(f.webhook, "is required for a WEBHOOK trigger")
		}
		if t.Type != workflow.TriggerWebhook && t.Webhook != nil {
			add(f.webhook, "must be empty for a %s trigger", t.Type)
		}
	default:
		add(f.typ, "must be CRON, WEBHOOK or MANUAL")
	}
	if t.Cron != nil {
		c := *t.Cron
		// A tab or a line break would parse as a space, yet be stored and
		// shown as sent.
		if p := workflow.LineText.Problem(c.Expression); p != "" {
			add(f.expression, "%s", p)
		} else if c.Expression == "" {
			add(f.expression, "is required")
		} else if _, err := cron.Parse(c.Expression); err != nil {
			add(f.expression, "%v", err)
		}
		if p := workflow.LineText.Problem(c.Timezone); p != "" {
			add(f.timezone, "%s", p)
		} else if !validZone(c.Timezone) {
			add(f.timezone, "unknown time zone %q", c.Timezone)
		}
		if c.JitterWindowSeconds != nil {
			w := *c.JitterWindowSeconds
			if w < 0 || w > maxJitterWindowSeconds {
				add(f.jitter, "must be 0-%d", maxJitterWindowSeconds)
			}
			c.JitterWindowSeconds = &w
		}
		checkCronPolicies(add, f, &c)
		out.Cron = &c
	}
	if t.Webhook != nil {
		w := *t.Webhook
		if p, err := workflow.NormalizeWebhookPath(w.Path); err != nil {
			add(f.path, "%v", err)
		} else {
			w.Path = p
		}
		w.Methods = nil
		for j, m := range t.Webhook.Methods {
			m = strings.ToUpper(m)
			switch {
			case !slices.Contains(webhookMethods, m):
				add(item(f.methods, j), "must be one of %s", strings.Join(webhookMethods, ", "))
			case !slices.Contains(w.Methods, m):
				w.Methods = append(w.Methods, m)
			}
		}
		if len(t.Webhook.Methods) == 0 {
			w.Methods = []string{"POST"}
		}
		switch w.ResponseMode {
		case "":
			w.ResponseMode = workflow.ResponseAsync
		case workflow.ResponseAsync, workflow.ResponseSync:
		default:
			add(f.responseMode, "must be ASYNC or SYNC")
		}
		if w.SyncTimeoutSeconds < 0 || w.SyncTimeoutSeconds > maxSyncTimeoutSeconds {
			add(f.syncTimeout, "must be 0-%d (0 = service default)", maxSyncTimeoutSeconds)
		}
		w.Secrets = slices.Clone(w.Secrets)
		for j, s := range w.Secrets {
			// Descriptions never quote a secret: violations reach logs and callers.
			if s == "" {
				add(item(f.secrets, j), "must not be empty")
			} else if secretText.Problem(s) != "" {
				add(item(f.secrets, j), "must be at most %d bytes of UTF-8 without control characters", maxSecretBytes)
			} else if key, ok := strings.CutPrefix(s, "whsec_"); ok {
				if _, err := base64.StdEncoding.DecodeString(key); err != nil || key == "" {
					add(item(f.secrets, j), "a whsec_ secret must continue with a standard base64 key")
				}
			}
		}
		out.Webhook = &w
	}
	return out
}

// checkCronPolicies checks c's policies and bounds, and normalises them: a
// policy named as the default is stored empty, as one left out is, so that
// specs compare equal whichever way they were written; bounds are stored in UTC.
func checkCronPolicies(add func(field, format string, args ...any), f triggerFields, c *workflow.CronSpec) {
	if c.CatchupPolicy != "" && !slices.Contains(catchupPolicies, c.CatchupPolicy) {
		add(f.catchup, "must be one of %s; got %q", strings.Join(catchupPolicies, ", "), c.CatchupPolicy)
	}
	if !cron.RepeatedTime(c.RepeatedTimePolicy).Valid() {
		add(f.repeated, "must be one of %s, %s, %s; got %q", cron.RepeatedFirst, cron.RepeatedLast, cron.RepeatedBoth, c.RepeatedTimePolicy)
	}
	if !cron.SkippedTime(c.SkippedTimePolicy).Valid() {
		add(f.skipped, "must be one of %s, %s; got %q", cron.SkippedShift, cron.SkippedSkip, c.SkippedTimePolicy)
	}
	c.CatchupPolicy = unlessDefault(c.CatchupPolicy, workflow.CatchupLatest)
	c.RepeatedTimePolicy = unlessDefault(c.RepeatedTimePolicy, string(cron.RepeatedFirst))
	c.SkippedTimePolicy = unlessDefault(c.SkippedTimePolicy, string(cron.SkippedShift))
	c.StartTime = checkBound(add, f.startTime, c.StartTime)
	c.EndTime = checkBound(add, f.endTime, c.EndTime)
	if c.StartTime != nil && c.EndTime != nil && !c.EndTime.After(*c.StartTime) {
		add(f.endTime, "must be after start_time %s; got %s", c.StartTime.Format(time.RFC3339Nano), c.EndTime.Format(time.RFC3339Nano))
	}
	if c.MaxRuns < 0 {
		add(f.maxRuns, "must be 0 (no limit) or more; got %d", c.MaxRuns)
	}
}

func unlessDefault(v, def string) string {
	if v == def {
		return ""
	}
	return v
}

// checkBound checks a bound and returns a copy of it in UTC.
func checkBound(add func(field, format string, args ...any), field string, t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	// The store keeps specs as JSON, whose times have four-digit years.
	if u.Year() < 1 || u.Year() > 9999 {
		add(field, "must lie in the years 0001-9999; got year %d", u.Year())
	}
	return &u
}

func validZone(name string) bool {
	if name == "" {
		return true
	}
	// "Local" would make a schedule depend on the replica that runs it.
	if name == "Local" {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// triggerSet finds the triggers of one deployment that collide.
type triggerSet struct {
	paths  map[string]string
	manual string
}

func newTriggerSet() *triggerSet { return &triggerSet{paths: map[string]string{}} }

func (s *triggerSet) check(v *errors.Violations, f triggerFields, t workflow.Trigger) {
	switch {
	case t.Type == workflow.TriggerManual && s.manual != "":
		v.Addf(f.typ, "only one MANUAL trigger is allowed; %s is one", s.manual)
	case t.Type == workflow.TriggerManual:
		s.manual = f.trigger
	case t.Webhook != nil:
		p, err := workflow.NormalizeWebhookPath(t.Webhook.Path)
		if err != nil {
			return
		}
		// Webhook paths are matched by their key, ignoring ASCII case.
		key := workflow.WebhookPathKey(p)
		if first, dup := s.paths[key]; dup {
			v.Addf(f.path, "duplicates %s", first)
			return
		}
		s.paths[key] = f.path
	}
}

// validateDefinition checks an n8n-style definition, as decoded from JSON or a
// protobuf Struct. It returns the definition encoded as JSON (nil when it
// cannot be) and the triggers its TRIGGER nodes yield, normalised as
// validateTriggers would; the service uses them when a request has none.
func validateDefinition(v *errors.Violations, def map[string]any) (encoded json.RawMessage, triggers []workflow.Trigger) {
	const field = "workflow_definition"
	if len(def) == 0 {
		v.Addf(field, "is required: an object with nodes and connections")
		return nil, nil
	}
	b, err := json.Marshal(def)
	if err != nil {
		v.Addf(field, "cannot be encoded as JSON: %v", err)
	} else if len(b) > maxDefinitionBytes {
		v.Addf(field, "is %d bytes encoded; at most %d (1 MiB)", len(b), maxDefinitionBytes)
	} else if p := nulPath(field, def); p != "" {
		v.Addf(p, "must not contain the character U+0000: PostgreSQL's JSONB cannot store it")
	}
	if jsonDepth(def, maxDefinitionDepth+1) > maxDefinitionDepth {
		v.Addf(field, "is nested more than %d levels deep", maxDefinitionDepth)
	}
	c := &definitionCheck{v: v, field: field, byName: map[string]int{}, edges: map[int][]int{}}
	c.checkNodes(def["nodes"])
	if len(c.nodes) > 0 {
		// Without nodes every connection would name no node: that says nothing new.
		c.checkConnections(def["connections"])
		c.checkCycles()
	}
	zone := c.checkSettings(def["settings"])
	return b, c.triggers(zone)
}

// nulPath returns the path, rooted at field, of the first string or object
// key in x (decoded JSON) that holds U+0000, or "" when none does. Other
// control characters are the definition's own business: JSONB stores them
// escaped, and a prompt or a script may need tabs and newlines.
func nulPath(field string, x any) string {
	switch x := x.(type) {
	case string:
		if strings.ContainsRune(x, 0) {
			return field
		}
	case []any:
		for i, item := range x {
			if p := nulPath(indexField(field, i), item); p != "" {
				return p
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if strings.ContainsRune(k, 0) {
				return field
			}
			if p := nulPath(subField(field, k), x[k]); p != "" {
				return p
			}
		}
	}
	return ""
}

// jsonDepth is the nesting depth of objects and arrays in x, counted no
// further than limit.
func jsonDepth(x any, limit int) int {
	if limit == 0 {
		return 0
	}
	var children []any
	switch x := x.(type) {
	case map[string]any:
		children = slices.Collect(maps.Values(x))
	case []any:
		children = x
	default:
		return 0
	}
	deepest := 0
	for _, child := range children {
		deepest = max(deepest, jsonDepth(child, limit-1))
		if deepest == limit-1 {
			break
		}
	}
	return deepest + 1
}

// definitionCheck walks one workflow definition.
type definitionCheck struct {
	v     *errors.Violations
	field string
	nodes []defNode
	// byName indexes nodes by their (unique) name, which connections use.
	byName map[string]int
	edges  map[int][]int
}

type defNode struct {
	field    string
	name     string
	typ      string
	subtype  string
	params   map[string]any
	disabled bool
}

func (n defNode) isLoop() bool { return n.typ == "FLOW" && strings.EqualFold(n.subtype, "LOOP") }

// str reads m[key] as a string. It returns the value and the key's field path,
// or "" as the path when it recorded a violation (absent counts as "" unless required).
func (c *definitionCheck) str(m map[string]any, field, key string, required bool) (string, string) {
	p := subField(field, key)
	raw, ok := m[key]
	if !ok || raw == nil {
		if required {
			c.v.Addf(p, "is required")
			return "", ""
		}
		return "", p
	}
	s, ok := raw.(string)
	if !ok {
		c.v.Addf(p, "must be a string")
		return "", ""
	}
	if required && s == "" {
		c.v.Addf(p, "must not be empty")
		return "", ""
	}
	return s, p
}

func (c *definitionCheck) checkNodes(raw any) {
	field := subField(c.field, "nodes")
	list, ok := raw.([]any)
	switch {
	case raw == nil:
		c.v.Addf(field, "is required: a non-empty array of nodes")
		return
	case !ok:
		c.v.Addf(field, "must be an array")
		return
	case len(list) == 0:
		c.v.Addf(field, "must not be empty")
		return
	case len(list) > maxDefinitionNodes:
		c.v.Addf(field, "has %d nodes; at most %d", len(list), maxDefinitionNodes)
	}
	ids := map[string]int{}
	for i, rn := range list {
		n := defNode{field: indexField(field, i)}
		m, ok := rn.(map[string]any)
		if !ok {
			c.v.Addf(n.field, "must be an object")
			c.nodes = append(c.nodes, n)
			continue
		}
		if id, _ := c.str(m, n.field, "id", true); id != "" {
			if j, dup := ids[id]; dup {
				c.v.Addf(subField(n.field, "id"), "duplicates nodes[%d].id", j)
			} else {
				ids[id] = i
			}
		}
		if name, _ := c.str(m, n.field, "name", true); name != "" {
			if j, dup := c.byName[name]; dup {
				c.v.Addf(subField(n.field, "name"), "duplicates nodes[%d].name", j)
			} else {
				c.byName[name], n.name = i, name
			}
		}
		if typ, p := c.str(m, n.field, "type", true); typ != "" {
			if slices.Contains(nodeTypes, typ) {
				n.typ = typ
			} else {
				c.v.Addf(p, "must be one of %s", strings.Join(nodeTypes, ", "))
			}
		}
		n.subtype, _ = c.str(m, n.field, "subtype", false)
		if raw, ok := m["parameters"]; ok && raw != nil {
			if n.params, ok = raw.(map[string]any); !ok {
				c.v.Addf(subField(n.field, "parameters"), "must be an object")
			}
		}
		if raw, ok := m["disabled"]; ok && raw != nil {
			if n.disabled, ok = raw.(bool); !ok {
				c.v.Addf(subField(n.field, "disabled"), "must be a boolean")
			}
		}
		c.nodes = append(c.nodes, n)
	}
}

func (c *definitionCheck) checkConnections(raw any) {
	field := subField(c.field, "connections")
	if raw == nil {
		return
	}
	sources, ok := raw.(map[string]any)
	if !ok {
		c.v.Addf(field, "must be an object keyed by source node name")
		return
	}
	for _, src := range slices.Sorted(maps.Keys(sources)) {
		sf := subField(field, src)
		from, known := c.byName[src]
		if !known {
			c.v.Addf(sf, "names no node: connections are keyed by source node name")
			from = -1
		}
		outputs, ok := sources[src].(map[string]any)
		if !ok {
			c.v.Addf(sf, "must be an object mapping output names to lists of connections")
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(outputs)) {
			of := subField(sf, name)
			list, ok := outputs[name].([]any)
			if !ok {
				c.v.Addf(of, "must be an array of connections")
				continue
			}
			for k, item := range list {
				// n8n itself nests one list of connections per output index;
				// both that and the flat form are accepted.
				if inner, ok := item.([]any); ok {
					for l, it := range inner {
						c.checkConnection(indexField(indexField(of, k), l), it, src, from)
					}
					continue
				}
				c.checkConnection(indexField(of, k), item, src, from)
			}
		}
	}
}

// checkConnection checks one {node, type, index} entry; from is the source
// node's index, or -1 when the source is unknown.
func (c *definitionCheck) checkConnection(field string, raw any, src string, from int) {
	m, ok := raw.(map[string]any)
	if !ok {
		c.v.Addf(field, "must be an object with node, type and index")
		return
	}
	if target, p := c.str(m, field, "node", true); target != "" {
		to, known := c.byName[target]
		switch {
		case !known:
			c.v.Addf(p, "names no node")
		case target == src:
			c.v.Addf(p, "connects node %q to itself", src)
		case from >= 0:
			c.edges[from] = append(c.edges[from], to)
		}
	}
	if raw, ok := m["type"]; ok {
		if s, _ := raw.(string); !strings.EqualFold(s, "MAIN") {
			c.v.Addf(subField(field, "type"), `must be "MAIN"`)
		}
	}
	if raw, ok := m["index"]; ok {
		if n, ok := wholeNumber(raw); !ok || n < 0 {
			c.v.Addf(subField(field, "index"), "must be a whole number >= 0")
		}
	}
}

// checkCycles reports one cycle that no LOOP node closes. Such a cycle exists
// exactly when the graph without its LOOP nodes has a cycle.
func (c *definitionCheck) checkCycles() {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(c.nodes))
	var path []int
	var visit func(n int) []int
	visit = func(n int) []int {
		state[n] = onPath
		path = append(path, n)
		for _, m := range c.edges[n] {
			if c.nodes[m].isLoop() {
				continue
			}
			switch state[m] {
			case onPath:
				return append(slices.Clone(path[slices.Index(path, m):]), m)
			case unseen:
				if cycle := visit(m); cycle != nil {
					return cycle
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for n := range c.nodes {
		if state[n] != unseen || c.nodes[n].isLoop() {
			continue
		}
		if cycle := visit(n); cycle != nil {
			names := make([]string, len(cycle))
			for i, m := range cycle {
				names[i] = c.nodes[m].name
			}
			c.v.Addf(subField(c.field, "connections"),
				"nodes %s form a cycle; only a FLOW node of subtype LOOP may close one", strings.Join(names, " -> "))
			return
		}
	}
}

// checkSettings checks the settings and returns their time zone when valid.
func (c *definitionCheck) checkSettings(raw any) string {
	field := subField(c.field, "settings")
	if raw == nil {
		return ""
	}
	m, ok := raw.(map[string]any)
	if !ok {
		c.v.Addf(field, "must be an object")
		return ""
	}
	zone, p := c.str(m, field, "timezone", false)
	if !validZone(zone) {
		c.v.Addf(p, "unknown time zone %q", zone)
		zone = ""
	}
	if raw, ok := m["timeout"]; ok && raw != nil {
		if n, ok := number(raw); !ok || !(n > 0) || math.IsInf(n, 1) {
			c.v.Addf(subField(field, "timeout"), "must be a number of seconds > 0")
		}
	}
	return zone
}

// triggers derives a trigger from each enabled TRIGGER node of subtype CRON,
// WEBHOOK or MANUAL. Cron nodes without a time zone take the settings' zone.
func (c *definitionCheck) triggers(zone string) []workflow.Trigger {
	var out []workflow.Trigger
	seen := newTriggerSet()
	for _, n := range c.nodes {
		if n.typ != "TRIGGER" || n.disabled {
			continue
		}
		pf := subField(n.field, "parameters")
		f := triggerFields{trigger: n.field, typ: subField(n.field, "subtype")}
		var t workflow.Trigger
		switch strings.ToUpper(n.subtype) {
		case "CRON":
			spec := &workflow.CronSpec{}
			spec.Expression, f.expression = c.str(n.params, pf, "cron_expression", false)
			spec.Timezone, f.timezone = c.str(n.params, pf, "timezone", false)
			if spec.Timezone == "" {
				spec.Timezone = zone
			}
			spec.JitterWindowSeconds = c.jitterWindow(n.params, pf)
			t = workflow.Trigger{Type: workflow.TriggerCron, Cron: spec}
		case "WEBHOOK":
			spec := &workflow.WebhookSpec{}
			spec.Path, f.path = c.str(n.params, pf, "path", false)
			spec.Methods, f.methods = c.stringList(n.params, pf, "methods")
			spec.ResponseMode, f.responseMode = c.str(n.params, pf, "response_mode", false)
			t = workflow.Trigger{Type: workflow.TriggerWebhook, Webhook: spec}
		case "MANUAL":
			t = workflow.Trigger{Type: workflow.TriggerManual}
		default:
			continue
		}
		t = checkTrigger(c.v, f, t)
		seen.check(c.v, f, t)
		out = append(out, t)
	}
	if len(out) > maxDeploymentTriggers {
		c.v.Addf(subField(c.field, "nodes"), "yields %d triggers; at most %d", len(out), maxDeploymentTriggers)
	}
	return out
}

// jitterWindow reads parameters.jitter_window_seconds; absent means the service default.
func (c *definitionCheck) jitterWindow(params map[string]any, field string) *int32 {
	raw, ok := params["jitter_window_seconds"]
	if !ok || raw == nil {
		return nil
	}
	n, ok := wholeNumber(raw)
	if !ok || n < 0 || n > maxJitterWindowSeconds {
		c.v.Addf(subField(field, "jitter_window_seconds"), "must be 0-%d", maxJitterWindowSeconds)
		return nil
	}
	w := int32(n)
	return &w
}

// stringList reads an optional list of strings, returning its field path or ""
// when it recorded a violation.
func (c *definitionCheck) stringList(m map[string]any, field, key string) ([]string, string) {
	p := subField(field, key)
	raw, ok := m[key]
	if !ok || raw == nil {
		return nil, p
	}
	list, ok := raw.([]any)
	if !ok {
		c.v.Addf(p, "must be an array of strings")
		return nil, ""
	}
	out := make([]string, len(list))
	bad := false
	for i, item := range list {
		if out[i], ok = item.(string); !ok {
			c.v.Addf(indexField(p, i), "must be a string")
			bad = true
		}
	}
	if bad {
		return nil, ""
	}
	return out, p
}

// number reads a JSON number: float64 once decoded from JSON or a protobuf
// Struct, but a definition built in Go may hold ints.
func number(raw any) (float64, bool) {
	switch n := raw.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// wholeNumber reads a JSON number that must be a whole number.
func wholeNumber(raw any) (int64, bool) {
	n, ok := number(raw)
	// Beyond 2^53 a float64 no longer tells whole numbers apart.
	if !ok || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
		return 0, false
	}
	return int64(n), true
}
