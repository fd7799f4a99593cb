package workflow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWebhookPathKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Orders/Created", "orders/created"},
		{"a-Z_0.9~:@", "a-z_0.9~:@"},
		// Never reached with a valid path, but the key must still not fold
		// look-alikes: KELVIN SIGN and DOTTED CAPITAL I stay as they are.
		{"\u212aelvin/hoo\u212a", "\u212aelvin/hoo\u212a"},
		{"kelv\u0130n", "kelv\u0130n"},
	} {
		require.Equal(t, tc.want, WebhookPathKey(tc.in), tc.in)
	}
}

// TestCloneTriggers: a clone shares nothing a mutation could edit in place.
func TestCloneTriggers(t *testing.T) {
	t.Parallel()
	window, start, end := int32(30), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := []Trigger{
		{Type: TriggerCron, Cron: &CronSpec{Expression: "@daily", JitterWindowSeconds: &window, StartTime: &start, EndTime: &end}},
		{Type: TriggerWebhook, Webhook: &WebhookSpec{Path: "a/b", Methods: []string{"POST"}, Secrets: []string{"s"}}},
		{Type: TriggerCron, Cron: &CronSpec{Expression: "@hourly"}},
	}
	clone := CloneTriggers(ts)
	require.Equal(t, ts, clone)
	*clone[0].Cron.JitterWindowSeconds, *clone[0].Cron.StartTime, *clone[0].Cron.EndTime = 0, end, start
	clone[1].Webhook.Methods[0], clone[1].Webhook.Secrets[0] = "GET", "t"
	require.Equal(t, int32(30), *ts[0].Cron.JitterWindowSeconds)
	require.Equal(t, start, *ts[0].Cron.StartTime)
	require.Equal(t, end, *ts[0].Cron.EndTime)
	require.Equal(t, "POST", ts[1].Webhook.Methods[0])
	require.Equal(t, "s", ts[1].Webhook.Secrets[0])
	require.Nil(t, clone[2].Cron.StartTime)
}
