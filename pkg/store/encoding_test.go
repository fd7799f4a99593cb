package store

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

func TestEncodeTrigger(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tooLate := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		trigger workflow.Trigger
		want    TriggerColumns
		err     string
	}{
		{"cron", workflow.Trigger{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "0 * * * *", StartTime: &start}},
			TriggerColumns{Spec: `{"expression":"0 * * * *","start_time":"2030-01-02T03:04:05Z"}`}, ""},
		{"webhook", workflow.Trigger{Type: workflow.TriggerWebhook, Webhook: &workflow.WebhookSpec{Path: "Orders/New"}},
			TriggerColumns{Spec: `{"path":"Orders/New"}`, WebhookPath: new("orders/new")}, ""},
		{"manual", workflow.Trigger{Type: workflow.TriggerManual}, TriggerColumns{Spec: "{}"}, ""},
		{"cron without a spec", workflow.Trigger{Type: workflow.TriggerCron}, TriggerColumns{}, "trigger 3: CRON trigger without a cron spec"},
		{"webhook without a spec", workflow.Trigger{Type: workflow.TriggerWebhook}, TriggerColumns{}, "trigger 3: WEBHOOK trigger without a webhook spec"},
		{"cron ending after year 9999", workflow.Trigger{Type: workflow.TriggerCron, Cron: &workflow.CronSpec{Expression: "0 * * * *", EndTime: &tooLate}},
			TriggerColumns{}, "trigger 3: cron spec: "},
		{"unknown type", workflow.Trigger{Type: "SOMETIMES"}, TriggerColumns{}, `trigger 3: unknown trigger type "SOMETIMES"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := EncodeTrigger(3, &tc.trigger)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestEncodeConfig(t *testing.T) {
	t.Parallel()
	got, err := EncodeConfig(workflow.Config{OverlapPolicy: workflow.OverlapSkip, CatchupWindowSeconds: 60})
	require.NoError(t, err)
	require.JSONEq(t, `{"overlap_policy":"SKIP","catchup_window_seconds":60}`, got)
	_, err = EncodeConfig(workflow.Config{Retry: &workflow.RetryPolicy{BackoffCoefficient: math.NaN()}})
	require.Error(t, err, "NaN has no JSON")
}
