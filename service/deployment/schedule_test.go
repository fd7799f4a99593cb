package deployment

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/cron"
	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres/pgtest"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/sqlite"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

func ptrTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// cronWith is a CRON trigger of expr with its spec edited by edit.
func cronWith(expr string, edit func(c *workflow.CronSpec)) workflow.Trigger {
	t := cronTrigger(expr)
	edit(t.Cron)
	return t
}

// TestScheduleErrors runs the bad requests of schedules, previews and dry
// runs against one seeded database: each gets its error, naming the field
// and the offending part, and writes nothing.
func TestScheduleErrors(t *testing.T) { //nolint:tparallel // runErrorCases runs its cases one at a time: each compares the whole database before and after its call
	t.Parallel()
	svc, st := newTestService(t)
	s := seed(t, svc)
	manualDef := workflowDef(t, triggerNode("m", "MANUAL", `{}`))
	deploy := func(triggers ...workflow.Trigger) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-new", Definition: manualDef, Triggers: triggers})
			return err
		}
	}
	preview := func(req PreviewRequest) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := svc.Preview(ctx, req)
			return err
		}
	}
	many := make([]workflow.Trigger, 11)
	for i := range many {
		many[i] = cronTrigger("@hourly")
	}
	manyCrons := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-many-crons", Definition: manualDef, Triggers: many})

	runErrorCases(t, st, []errorCase{
		{
			name:   "deploy/unknown catch-up policy",
			call:   deploy(cronWith("@daily", func(c *workflow.CronSpec) { c.CatchupPolicy = "SOMETIMES" })),
			kind:   errors.Invalid,
			fields: []string{"triggers[0].cron.catchup_policy"},
			msg:    []string{`must be one of LATEST, ALL, NONE; got "SOMETIMES"`},
		},
		{
			// An enum number the proto does not define reaches the service as its digits.
			name:   "deploy/unknown repeated-time policy",
			call:   deploy(cronWith("@daily", func(c *workflow.CronSpec) { c.RepeatedTimePolicy = "7" })),
			kind:   errors.Invalid,
			fields: []string{"triggers[0].cron.repeated_time_policy"},
			msg:    []string{`must be one of FIRST, LAST, BOTH; got "7"`},
		},
		{
			name:   "deploy/unknown skipped-time policy",
			call:   deploy(cronWith("@daily", func(c *workflow.CronSpec) { c.SkippedTimePolicy = "DROP" })),
			kind:   errors.Invalid,
			fields: []string{"triggers[0].cron.skipped_time_policy"},
			msg:    []string{`must be one of SHIFT, SKIP; got "DROP"`},
		},
		{
			name: "deploy/end before start",
			call: deploy(webhookTrigger("fine/path"), cronWith("@daily", func(c *workflow.CronSpec) {
				c.StartTime, c.EndTime = ptrTime("2026-06-01T00:00:00Z"), ptrTime("2026-05-31T23:59:59+02:00")
			})),
			kind:   errors.Invalid,
			fields: []string{"triggers[1].cron.end_time"},
			msg:    []string{"must be after start_time 2026-06-01T00:00:00Z; got 2026-05-31T21:59:59Z"},
		},
		{
			name: "deploy/end at start",
			call: deploy(cronWith("@daily", func(c *workflow.CronSpec) {
				c.StartTime, c.EndTime = ptrTime("2026-06-01T00:00:00Z"), ptrTime("2026-06-01T02:00:00+02:00")
			})),
			kind:   errors.Invalid,
			fields: []string{"triggers[0].cron.end_time"},
		},
		{
			name:   "deploy/negative max runs",
			call:   deploy(cronWith("@daily", func(c *workflow.CronSpec) { c.MaxRuns = -1 })),
			kind:   errors.Invalid,
			fields: []string{"triggers[0].cron.max_runs"},
			msg:    []string{"must be 0 (no limit) or more; got -1"},
		},
		{
			name: "deploy/start past the year 9999",
			call: deploy(cronWith("@daily", func(c *workflow.CronSpec) {
				t := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
				c.StartTime = &t
			})),
			kind:   errors.Invalid,
			fields: []string{"triggers[0].cron.start_time"},
			msg:    []string{"got year 10000"},
		},
		{
			name: "deploy/every schedule violation at once",
			call: deploy(cronWith("@daily", func(c *workflow.CronSpec) {
				c.CatchupPolicy, c.RepeatedTimePolicy, c.SkippedTimePolicy, c.MaxRuns = "X", "Y", "Z", -5
				c.StartTime, c.EndTime = ptrTime("2027-01-01T00:00:00Z"), ptrTime("2026-01-01T00:00:00Z")
			})),
			kind: errors.Invalid,
			fields: []string{"triggers[0].cron.catchup_policy", "triggers[0].cron.end_time", "triggers[0].cron.max_runs",
				"triggers[0].cron.repeated_time_policy", "triggers[0].cron.skipped_time_policy"},
		},
		{
			name: "deploy/validate only, bad policy",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-new", Definition: manualDef, ValidateOnly: true,
					Triggers: []workflow.Trigger{cronWith("@daily", func(c *workflow.CronSpec) { c.CatchupPolicy = "EVERY" })}})
				return err
			},
			kind: errors.Invalid, fields: []string{"triggers[0].cron.catchup_policy"},
		},
		{
			name: "deploy/validate only, workflow has an active deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-paused", Definition: manualDef, ValidateOnly: true})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.paused.ID},
		},
		{
			name: "deploy/validate only, webhook path of another active deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Deploy(ctx, DeployRequest{WorkflowID: "wf-new", Definition: manualDef, ValidateOnly: true,
					Triggers: []workflow.Trigger{webhookTrigger("Orders/Created")}})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.deployed.ID, "Orders/Created"},
		},
		{
			name: "update/bad schedule",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, Triggers: []workflow.Trigger{
					cronWith("@daily", func(c *workflow.CronSpec) { c.SkippedTimePolicy, c.MaxRuns = "NEVER", -2 }),
				}})
				return err
			},
			kind: errors.Invalid, fields: []string{"triggers[0].cron.max_runs", "triggers[0].cron.skipped_time_policy"},
		},
		{
			name: "update/validate only, bad schedule",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, ValidateOnly: true, Triggers: []workflow.Trigger{
					cronWith("@daily", func(c *workflow.CronSpec) {
						c.EndTime, c.StartTime = ptrTime("2020-01-01T00:00:00Z"), ptrTime("2021-01-01T00:00:00Z")
					}),
				}})
				return err
			},
			kind: errors.Invalid, fields: []string{"triggers[0].cron.end_time"},
		},
		{
			name: "update/validate only, ARCHIVED",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.archived.ID, ValidateOnly: true, Triggers: []workflow.Trigger{cronTrigger("@daily")}})
				return err
			},
			kind: errors.FailedPrecondition, msg: []string{"ARCHIVED"},
		},
		{
			name: "update/validate only, stale version",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.deployed.ID, ValidateOnly: true, ExpectedVersion: 7,
					Triggers: []workflow.Trigger{cronTrigger("@daily")}})
				return err
			},
			kind: errors.Aborted, msg: []string{"not the expected 7"},
		},
		{
			name: "update/validate only, unknown deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: uuid.NewString(), ValidateOnly: true, Triggers: []workflow.Trigger{cronTrigger("@daily")}})
				return err
			},
			kind: errors.NotFound,
		},
		{
			name: "update/validate only, webhook path of another active deployment",
			call: func(ctx context.Context) error {
				_, err := svc.Update(ctx, UpdateRequest{DeploymentID: s.paused.ID, ValidateOnly: true,
					Triggers: []workflow.Trigger{webhookTrigger("orders/CREATED")}})
				return err
			},
			kind: errors.AlreadyExists, msg: []string{s.deployed.ID, "orders/CREATED"},
		},
		{
			name:   "preview/count over 1,000",
			call:   preview(PreviewRequest{DeploymentID: s.deployed.ID, Count: 1001}),
			kind:   errors.Invalid,
			fields: []string{"count"},
			msg:    []string{"must be 0-1000 (0 means 10); got 1001"},
		},
		{
			name: "preview/negative count", call: preview(PreviewRequest{DeploymentID: s.deployed.ID, Count: -1}),
			kind: errors.Invalid, fields: []string{"count"},
		},
		{
			name:   "preview/1,000 fires of each of 11 cron triggers",
			call:   preview(PreviewRequest{DeploymentID: manyCrons.ID, Count: 1000}),
			kind:   errors.Invalid,
			fields: []string{"count"},
			msg:    []string{"1000 fires for each of the deployment's 11 cron triggers make more than 10000: ask for at most 909"},
		},
		{
			name:   "preview/bare spec, bad expression",
			call:   preview(PreviewRequest{WorkflowID: "wf-new", Cron: &workflow.CronSpec{Expression: "61 * * * *"}}),
			kind:   errors.Invalid,
			fields: []string{"cron.expression"},
			msg:    []string{`minute field "61"`},
		},
		{
			name:   "preview/bare spec, unknown time zone",
			call:   preview(PreviewRequest{WorkflowID: "wf-new", Cron: &workflow.CronSpec{Expression: "@daily", Timezone: "Mars/Olympus_Mons"}}),
			kind:   errors.Invalid,
			fields: []string{"cron.timezone"},
			msg:    []string{`unknown time zone "Mars/Olympus_Mons"`},
		},
		{
			name:   "preview/bare spec, bad policy and bounds",
			call:   preview(PreviewRequest{WorkflowID: "wf-new", Cron: &workflow.CronSpec{Expression: "@daily", RepeatedTimePolicy: "TWICE", MaxRuns: -1}}),
			kind:   errors.Invalid,
			fields: []string{"cron.max_runs", "cron.repeated_time_policy"},
		},
		{
			name: "preview/bare spec without workflow", call: preview(PreviewRequest{Cron: &workflow.CronSpec{Expression: "@daily"}}),
			kind: errors.Invalid, fields: []string{"workflow_id"},
		},
		{
			name: "preview/neither deployment nor spec", call: preview(PreviewRequest{WorkflowID: "wf-new"}),
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},
		{
			name: "preview/both deployment and spec",
			call: preview(PreviewRequest{DeploymentID: s.deployed.ID, Cron: &workflow.CronSpec{Expression: "@daily"}}),
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},
		{
			name: "preview/deployment with a workflow id", call: preview(PreviewRequest{DeploymentID: s.deployed.ID, WorkflowID: "wf-other"}),
			kind: errors.Invalid, fields: []string{"workflow_id"},
		},
		{
			name: "preview/malformed deployment id", call: preview(PreviewRequest{DeploymentID: "42"}),
			kind: errors.Invalid, fields: []string{"deployment_id"},
		},
		{
			name: "preview/unknown deployment", call: preview(PreviewRequest{DeploymentID: uuid.NewString()}),
			kind: errors.NotFound,
		},
	})
}

// previewEntries writes a preview's entries as "slot fire effect local",
// with the fire left out when it is the slot (no jitter) or absent.
func previewEntries(fires []cron.Upcoming) []string {
	var out []string
	for _, u := range fires {
		e := u.Slot.Format(time.RFC3339)
		if !u.Fire.IsZero() && !u.Fire.Equal(u.Slot) {
			e += " fires " + u.Fire.Format(time.RFC3339Nano)
		}
		out = append(out, e+" "+string(u.Effect)+" "+u.LocalTime)
	}
	return out
}

func TestPreview(t *testing.T) {
	t.Parallel()
	svc, _ := newTestService(t)
	ctx := context.Background()
	none := int32(0)
	d := mustDeploy(t, svc, DeployRequest{
		WorkflowID: "wf-preview",
		Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
		Triggers: []workflow.Trigger{
			webhookTrigger("preview/hook"),
			cronWith("30 2 * * *", func(c *workflow.CronSpec) {
				c.Timezone, c.SkippedTimePolicy, c.JitterWindowSeconds = "America/New_York", "SKIP", &none
			}),
			cronWith("30 1 * * *", func(c *workflow.CronSpec) {
				c.Timezone, c.RepeatedTimePolicy, c.JitterWindowSeconds = "Europe/London", "LAST", &none
				c.StartTime = ptrTime("2026-10-25T00:00:00Z")
			}),
		},
	})

	t.Run("deployment", func(t *testing.T) {
		t.Parallel()
		got, err := svc.Preview(ctx, PreviewRequest{DeploymentID: d.ID, Count: 2, From: *ptrTime("2026-03-07T05:00:00Z")})
		require.NoError(t, err)
		require.Len(t, got.Triggers, 2)
		// New York skips 02:30 on 03-08, when 02:00 EST jumps to 03:00 EDT
		// (07:00Z); the entry stands at the jump.
		require.Equal(t, d.Triggers[1].ID, got.Triggers[0].TriggerID)
		require.Equal(t, 1, got.Triggers[0].Index)
		require.Equal(t, []string{
			"2026-03-07T02:30:00-05:00 NONE 2026-03-07T02:30:00",
			"2026-03-08T03:00:00-04:00 SKIPPED 2026-03-08T02:30:00",
			"2026-03-09T02:30:00-04:00 NONE 2026-03-09T02:30:00",
		}, previewEntries(got.Triggers[0].Fires))
		// London starts on 10-25, the night 01:00-02:00 runs twice: LAST
		// fires its second 01:30, in GMT.
		require.Equal(t, 2, got.Triggers[1].Index)
		require.Equal(t, []string{
			"2026-10-25T01:30:00Z REPEATED_SECOND 2026-10-25T01:30:00",
			"2026-10-26T01:30:00Z NONE 2026-10-26T01:30:00",
		}, previewEntries(got.Triggers[1].Fires))
		require.False(t, got.Triggers[0].Ended || got.Triggers[1].Ended)
	})

	t.Run("deployment, default count from now", func(t *testing.T) {
		t.Parallel()
		got, err := svc.Preview(ctx, PreviewRequest{DeploymentID: d.ID})
		require.NoError(t, err)
		require.Len(t, got.Triggers[0].Fires, defaultPreviewCount)
		require.Equal(t, "2025-03-15T02:30:00-04:00", got.Triggers[0].Fires[0].Slot.Format(time.RFC3339), "the first slot after testNow")
	})

	t.Run("bare spec with jitter", func(t *testing.T) {
		t.Parallel()
		const wf = "wf-bare"
		got, err := svc.Preview(ctx, PreviewRequest{WorkflowID: wf, Cron: &workflow.CronSpec{Expression: "15 2 * * *", Timezone: "Australia/Lord_Howe"},
			Count: 3, From: *ptrTime("2026-10-03T00:00:00+10:30")})
		require.NoError(t, err)
		require.Len(t, got.Triggers, 1)
		// Lord Howe skips 02:00-02:30 on 10-04: 02:15 fires at 02:45 +11:00.
		slots := []time.Time{*ptrTime("2026-10-03T02:15:00+10:30"), *ptrTime("2026-10-04T02:45:00+11:00"),
			*ptrTime("2026-10-05T02:15:00+11:00"), *ptrTime("2026-10-06T02:15:00+11:00")}
		var want []string
		for i, effect := range []string{"NONE 2026-10-03T02:15:00", "SHIFTED 2026-10-04T02:15:00", "NONE 2026-10-05T02:15:00"} {
			fire := slots[i].Add(cron.Offset(wf, testJitterWindow, slots[i+1].Sub(slots[i])))
			want = append(want, slots[i].Format(time.RFC3339)+" fires "+fire.Format(time.RFC3339Nano)+" "+effect)
		}
		fires := got.Triggers[0].Fires
		if diff := cmp.Diff(want, previewEntries(fires)); diff != "" {
			t.Errorf("preview (-want +got):\n%s", diff)
		}
		require.Empty(t, got.Triggers[0].TriggerID)
		require.Contains(t, fires[1].Note, "02:15 does not occur on 2026-10-04 in Australia/Lord_Howe")
	})

	t.Run("bare spec that ends", func(t *testing.T) {
		t.Parallel()
		got, err := svc.Preview(ctx, PreviewRequest{WorkflowID: "wf-bare", Count: 5, From: *ptrTime("2026-01-01T00:00:00Z"),
			Cron: &workflow.CronSpec{Expression: "@daily", EndTime: ptrTime("2026-01-03T00:00:00Z")}})
		require.NoError(t, err)
		require.True(t, got.Triggers[0].Ended)
		require.Len(t, got.Triggers[0].Fires, 2)
	})
}

// TestValidateOnly: a dry run answers what the call then does, with the
// upcoming fires, and writes nothing.
func TestValidateOnly(t *testing.T) {
	t.Parallel()
	svc, st := newTestService(t)
	ctx := context.Background()
	// What a dry run cannot know: the ids and times the store assigns.
	ignoreStored := cmp.Options{
		cmpopts.IgnoreFields(workflow.Deployment{}, "ID", "CreatedAt", "UpdatedAt", "Definition"),
		ignoreTriggerIDs,
		cmpopts.IgnoreFields(Deployment{}, "Upcoming"),
	}
	req := DeployRequest{
		WorkflowID: "wf-dry", DeployedBy: "alice",
		Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
		Triggers: []workflow.Trigger{
			webhookTrigger("dry/hook"),
			cronWith("30 1 * * *", func(c *workflow.CronSpec) {
				c.Timezone, c.RepeatedTimePolicy, c.CatchupPolicy = "Europe/London", "BOTH", "ALL"
			}),
		},
		ValidateOnly: true,
	}
	before := snapshot(t, st)
	dry, err := svc.Deploy(ctx, req)
	require.NoError(t, err)
	if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
		t.Fatalf("a dry run wrote to the store (-before +after):\n%s", diff)
	}
	require.Empty(t, dry.ID)
	require.Len(t, dry.Upcoming, 1)
	require.Equal(t, 1, dry.Upcoming[0].Index)
	require.Len(t, dry.Upcoming[0].Fires, defaultPreviewCount)
	require.NotNil(t, dry.TriggerStatuses[1].NextFireTime)
	require.True(t, dry.Upcoming[0].Fires[0].Fire.Equal(*dry.TriggerStatuses[1].NextFireTime), "the preview starts at the next fire")

	req.ValidateOnly = false
	deployed := mustDeploy(t, svc, req)
	if diff := cmp.Diff(deployed, dry, ignoreStored); diff != "" {
		t.Errorf("dry run and deploy differ (-deploy +dry run):\n%s", diff)
	}

	update := UpdateRequest{
		DeploymentID: deployed.ID, ExpectedVersion: 1, ValidateOnly: true,
		Triggers: []workflow.Trigger{
			webhookTrigger("dry/hook"),
			cronWith("30 1 * * *", func(c *workflow.CronSpec) {
				c.Timezone, c.RepeatedTimePolicy, c.CatchupPolicy = "Europe/London", "BOTH", "ALL"
			}),
			cronWith("0 9 * * MON-FRI", func(c *workflow.CronSpec) { c.EndTime = ptrTime("2025-03-01T00:00:00Z") }),
		},
	}
	before = snapshot(t, st)
	dryUpdate, err := svc.Update(ctx, update)
	require.NoError(t, err)
	if diff := cmp.Diff(before, snapshot(t, st)); diff != "" {
		t.Fatalf("a dry run wrote to the store (-before +after):\n%s", diff)
	}
	require.Equal(t, deployed.ID, dryUpdate.ID)
	require.EqualValues(t, 2, dryUpdate.Version)
	require.Equal(t, deployed.Triggers[0].ID, dryUpdate.Triggers[0].ID, "an unchanged trigger keeps its id")
	require.Empty(t, dryUpdate.Triggers[2].ID, "a new trigger has none yet")
	require.Len(t, dryUpdate.Upcoming, 2)
	require.True(t, dryUpdate.TriggerStatuses[2].Ended, "ended before testNow")
	require.True(t, dryUpdate.Upcoming[1].Ended)
	require.Empty(t, dryUpdate.Upcoming[1].Fires)
	require.False(t, dryUpdate.ScheduleEnded, "one cron trigger is still live")

	update.ValidateOnly = false
	updated := mustUpdate(t, svc, update)
	if diff := cmp.Diff(updated, dryUpdate, ignoreStored); diff != "" {
		t.Errorf("dry run and update differ (-update +dry run):\n%s", diff)
	}
}

// TestScheduleEnded: a deployment whose cron triggers have all ended says so.
func TestScheduleEnded(t *testing.T) {
	t.Parallel()
	s := New(nil, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }}).(*service)
	past := cronWith("@hourly", func(c *workflow.CronSpec) { c.EndTime = ptrTime("2025-03-14T10:00:00Z") })
	live := cronTrigger("@hourly")
	for _, tc := range []struct {
		name     string
		triggers []workflow.Trigger
		want     bool
	}{
		{"every cron trigger ended", []workflow.Trigger{past, webhookTrigger("a/b"), past}, true},
		{"one cron trigger still fires", []workflow.Trigger{past, live}, false},
		{"no cron trigger", []workflow.Trigger{webhookTrigger("a/b")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := s.view(&workflow.Deployment{WorkflowID: "wf", Status: workflow.StatusDeployed, Triggers: tc.triggers})
			require.Equal(t, tc.want, d.ScheduleEnded)
		})
	}
}

// TestCronSpecRoundTrip: both stores keep every field of a cron spec in the
// trigger's JSON, for the deployment and for the scheduler; policies named
// as their default are kept as the default, bounds in UTC.
func TestCronSpecRoundTrip(t *testing.T) {
	t.Parallel()
	lite, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wfr.db"))
	require.NoError(t, err)
	t.Cleanup(func() { lite.Close() })
	window := int32(60)
	full := cronWith("30 1 * * *", func(c *workflow.CronSpec) {
		c.Timezone, c.JitterWindowSeconds, c.MaxRuns = "Europe/London", &window, 5
		c.CatchupPolicy, c.RepeatedTimePolicy, c.SkippedTimePolicy = "ALL", "BOTH", "SKIP"
		c.StartTime, c.EndTime = ptrTime("2026-01-01T01:00:00+01:00"), ptrTime("2027-01-01T00:00:00Z")
	})
	defaults := cronWith("@daily", func(c *workflow.CronSpec) {
		c.CatchupPolicy, c.RepeatedTimePolicy, c.SkippedTimePolicy = "LATEST", "FIRST", "SHIFT"
	})
	want := []workflow.CronSpec{
		{Expression: "30 1 * * *", Timezone: "Europe/London", JitterWindowSeconds: &window, MaxRuns: 5,
			CatchupPolicy: "ALL", RepeatedTimePolicy: "BOTH", SkippedTimePolicy: "SKIP",
			StartTime: ptrTime("2026-01-01T00:00:00Z"), EndTime: ptrTime("2027-01-01T00:00:00Z")},
		{Expression: "@daily"},
	}
	for name, st := range map[string]store.Store{"postgres": pgtest.NewStore(t), "sqlite": lite} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := New(st, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }})
			d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-round-trip", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
				Triggers: []workflow.Trigger{full, defaults}})
			stored := mustGet(t, st, d.ID)
			cts, err := st.ListCronTriggers(context.Background(), d.ID)
			require.NoError(t, err)
			require.Len(t, cts, 2)
			for i, w := range want {
				if diff := cmp.Diff(w, *stored.Triggers[i].Cron); diff != "" {
					t.Errorf("stored trigger %d (-want +got):\n%s", i, diff)
				}
				if diff := cmp.Diff(w, cts[i].Spec); diff != "" {
					t.Errorf("cron trigger %d as the scheduler reads it (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// TestRemainingRuns: a cron trigger with max_runs shows the runs it has left,
// counted from its executions in the store (a SKIPPED slot did not run), and
// ends when they are used up, which ends a schedule of that trigger alone.
func TestRemainingRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wfr.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	svc := New(st, Options{JitterWindow: testJitterWindow, Now: func() time.Time { return testNow }, Runs: st})
	d := mustDeploy(t, svc, DeployRequest{WorkflowID: "wf-limited", Definition: workflowDef(t, triggerNode("m", "MANUAL", `{}`)),
		Triggers: []workflow.Trigger{cronWith("@hourly", func(c *workflow.CronSpec) { c.MaxRuns = 3 }), cronTrigger("@daily")}})
	tid := d.TriggerStatuses[0].Trigger.ID
	remaining := func() (*int32, bool, bool) {
		t.Helper()
		got, err := svc.Status(ctx, StatusRequest{DeploymentID: d.ID})
		require.NoError(t, err)
		require.Nil(t, got.Deployment.TriggerStatuses[1].RemainingRuns, "no max_runs, no remaining_runs")
		ts := got.Deployment.TriggerStatuses[0]
		return ts.RemainingRuns, ts.Ended, ts.NextFireTime == nil
	}
	left, ended, _ := remaining()
	require.Equal(t, int32(3), *left)
	require.False(t, ended)
	for i, status := range []workflow.ExecutionStatus{workflow.ExecutionPending, workflow.ExecutionSkipped, workflow.ExecutionPending, workflow.ExecutionPending} {
		slot := testNow.Add(time.Duration(i-10) * time.Hour).Truncate(time.Hour)
		created, err := st.CreateExecution(ctx, &workflow.Execution{WorkflowID: "wf-limited", DeploymentID: d.ID, DeploymentVersion: d.Version,
			TriggerID: tid, TriggerType: workflow.TriggerCron, Status: status, ScheduledTime: &slot, FiredTime: slot})
		require.NoError(t, err)
		require.True(t, created)
	}
	left, ended, noNext := remaining()
	require.Equal(t, int32(0), *left, "three runs; the SKIPPED slot is not one")
	require.True(t, ended)
	require.True(t, noNext, "an ended trigger has no next fire")
	list, err := svc.List(ctx, ListRequest{WorkflowID: "wf-limited"})
	require.NoError(t, err)
	require.Equal(t, int32(0), *list.Deployments[0].TriggerStatuses[0].RemainingRuns, "List counts too")
	require.False(t, list.Deployments[0].ScheduleEnded, "the other cron trigger fires on")
}
