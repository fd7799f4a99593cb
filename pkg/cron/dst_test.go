package cron

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// allPolicies are the five DST policies: a repeated-time one with the default
// skipped-time one, and the other way round.
var allPolicies = map[string]DST{
	"FIRST": {Repeated: RepeatedFirst},
	"LAST":  {Repeated: RepeatedLast},
	"BOTH":  {Repeated: RepeatedBoth},
	"SHIFT": {Skipped: SkippedShift},
	"SKIP":  {Skipped: SkippedSkip},
}

// policyCase lists, for each policy, the preview of a schedule from a local
// instant: each entry is an instant, followed by its effect unless NONE. A
// SKIPPED entry's instant is the moment the clocks jumped. Policies that
// agree share an entry of want, keyed by their names separated by spaces.
type policyCase struct {
	zone, expr, from string
	want             map[string][]string
}

// The 2026 transitions used below, as computed from the zones' rules:
//
//	America/New_York     2026-03-08 02:00 EST (-05:00) -> 03:00 EDT (-04:00), at 07:00Z
//	                     2026-11-01 02:00 EDT (-04:00) -> 01:00 EST (-05:00), at 06:00Z
//	Europe/London        2026-03-29 01:00 GMT (+00:00) -> 02:00 BST (+01:00), at 01:00Z
//	                     2026-10-25 02:00 BST (+01:00) -> 01:00 GMT (+00:00), at 01:00Z
//	Australia/Lord_Howe  2026-10-04 02:00 (+10:30) -> 02:30 (+11:00), at 2026-10-03T15:30Z
//	                     2026-04-05 02:00 (+11:00) -> 01:30 (+10:30), at 2026-04-04T15:00Z
//
// TestDSTDates checks each of them against Go's zone database.
var policyCases = []policyCase{
	// New York, spring forward: 02:30 does not exist on 03-08. SHIFT fires
	// it an hour after the jump's 02:00, at 03:30 EDT; SKIP drops it. The
	// repeated-time policies take the default SHIFT.
	{"America/New_York", "30 2 * * *", "2026-03-07T00:00:00-05:00", map[string][]string{
		"FIRST LAST BOTH SHIFT": {"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00 SHIFTED", "2026-03-09T02:30:00-04:00"},
		"SKIP":                  {"2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00 SKIPPED", "2026-03-09T02:30:00-04:00"},
	}},
	// 01:30 comes before the jump: untouched, in EST on 03-08, EDT after.
	{"America/New_York", "30 1 * * *", "2026-03-07T00:00:00-05:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-03-07T01:30:00-05:00", "2026-03-08T01:30:00-05:00", "2026-03-09T01:30:00-04:00"},
	}},
	// Every half hour of elapsed time: 02:00 and 02:30 EST do not exist
	// and nothing stands in for them, whatever the policy.
	{"America/New_York", "*/30 * * * *", "2026-03-08T01:15:00-05:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"},
	}},
	// New York, fall back: 01:00-02:00 runs twice on 11-01, first in EDT
	// (05:00Z-06:00Z), then in EST (06:00Z-07:00Z). FIRST fires 01:30 EDT,
	// LAST 01:30 EST, BOTH each; the skipped-time policies take FIRST.
	{"America/New_York", "30 1 * * *", "2026-10-31T00:00:00-04:00", map[string][]string{
		"FIRST SHIFT SKIP": {"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00 REPEATED_FIRST", "2026-11-02T01:30:00-05:00"},
		"LAST":             {"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-05:00 REPEATED_SECOND", "2026-11-02T01:30:00-05:00"},
		"BOTH": {"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00 REPEATED_FIRST", "2026-11-01T01:30:00-05:00 REPEATED_SECOND",
			"2026-11-02T01:30:00-05:00"},
	}},
	// 02:30 comes once, after the clocks went back: in EST.
	{"America/New_York", "30 2 * * *", "2026-10-31T00:00:00-04:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-10-31T02:30:00-04:00", "2026-11-01T02:30:00-05:00", "2026-11-02T02:30:00-05:00"},
	}},
	// Elapsed time: the repeated hour's half hours fire in both offsets.
	{"America/New_York", "*/30 * * * *", "2026-11-01T00:45:00-04:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00",
			"2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"},
	}},
	// London, spring forward: 01:00-02:00 does not exist on 03-29, so 01:30
	// is shifted to 02:30 BST (01:30Z) or dropped; 02:30 is untouched.
	{"Europe/London", "30 1 * * *", "2026-03-28T00:00:00+00:00", map[string][]string{
		"FIRST LAST BOTH SHIFT": {"2026-03-28T01:30:00+00:00", "2026-03-29T02:30:00+01:00 SHIFTED", "2026-03-30T01:30:00+01:00"},
		"SKIP":                  {"2026-03-28T01:30:00+00:00", "2026-03-29T02:00:00+01:00 SKIPPED", "2026-03-30T01:30:00+01:00"},
	}},
	{"Europe/London", "30 2 * * *", "2026-03-28T00:00:00+00:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-03-28T02:30:00+00:00", "2026-03-29T02:30:00+01:00", "2026-03-30T02:30:00+01:00"},
	}},
	{"Europe/London", "*/30 * * * *", "2026-03-29T00:15:00+00:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-03-29T00:30:00+00:00", "2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00"},
	}},
	// London, fall back: 01:00-02:00 runs twice on 10-25, in BST (00:00Z-01:00Z)
	// then in GMT (01:00Z-02:00Z).
	{"Europe/London", "30 1 * * *", "2026-10-24T00:00:00+01:00", map[string][]string{
		"FIRST SHIFT SKIP": {"2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00+01:00 REPEATED_FIRST", "2026-10-26T01:30:00+00:00"},
		"LAST":             {"2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00+00:00 REPEATED_SECOND", "2026-10-26T01:30:00+00:00"},
		"BOTH": {"2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00+01:00 REPEATED_FIRST", "2026-10-25T01:30:00+00:00 REPEATED_SECOND",
			"2026-10-26T01:30:00+00:00"},
	}},
	{"Europe/London", "30 2 * * *", "2026-10-24T00:00:00+01:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-10-24T02:30:00+01:00", "2026-10-25T02:30:00+00:00", "2026-10-26T02:30:00+00:00"},
	}},
	{"Europe/London", "*/30 * * * *", "2026-10-25T00:45:00+01:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-10-25T01:00:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T01:00:00+00:00",
			"2026-10-25T01:30:00+00:00", "2026-10-25T02:00:00+00:00"},
	}},
	// Lord Howe, spring forward by half an hour: 02:00-02:30 does not exist
	// on 10-04. 02:30 is the first instant after the jump, so it is
	// untouched; 02:15 is shifted by the half hour to 02:45 (+11:00) or dropped.
	{"Australia/Lord_Howe", "30 2 * * *", "2026-10-03T00:00:00+10:30", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-10-03T02:30:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-05T02:30:00+11:00"},
	}},
	{"Australia/Lord_Howe", "15 2 * * *", "2026-10-03T00:00:00+10:30", map[string][]string{
		"FIRST LAST BOTH SHIFT": {"2026-10-03T02:15:00+10:30", "2026-10-04T02:45:00+11:00 SHIFTED", "2026-10-05T02:15:00+11:00"},
		"SKIP":                  {"2026-10-03T02:15:00+10:30", "2026-10-04T02:30:00+11:00 SKIPPED", "2026-10-05T02:15:00+11:00"},
	}},
	{"Australia/Lord_Howe", "30 1 * * *", "2026-10-03T00:00:00+10:30", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-10-03T01:30:00+10:30", "2026-10-04T01:30:00+10:30", "2026-10-05T01:30:00+11:00"},
	}},
	// Elapsed time: 02:00 does not exist; the next half hour is 02:30 (+11:00).
	{"Australia/Lord_Howe", "*/30 * * * *", "2026-10-04T00:45:00+10:30", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-10-04T01:00:00+10:30", "2026-10-04T01:30:00+10:30", "2026-10-04T02:30:00+11:00",
			"2026-10-04T03:00:00+11:00"},
	}},
	// Lord Howe, fall back by half an hour: 01:30-02:00 runs twice on
	// 04-05, at +11:00 (14:30Z-15:00Z) then at +10:30 (15:00Z-15:30Z). The
	// second 01:30 is the very instant of the change.
	{"Australia/Lord_Howe", "30 1 * * *", "2026-04-04T00:00:00+11:00", map[string][]string{
		"FIRST SHIFT SKIP": {"2026-04-04T01:30:00+11:00", "2026-04-05T01:30:00+11:00 REPEATED_FIRST", "2026-04-06T01:30:00+10:30"},
		"LAST":             {"2026-04-04T01:30:00+11:00", "2026-04-05T01:30:00+10:30 REPEATED_SECOND", "2026-04-06T01:30:00+10:30"},
		"BOTH": {"2026-04-04T01:30:00+11:00", "2026-04-05T01:30:00+11:00 REPEATED_FIRST", "2026-04-05T01:30:00+10:30 REPEATED_SECOND",
			"2026-04-06T01:30:00+10:30"},
	}},
	{"Australia/Lord_Howe", "30 2 * * *", "2026-04-04T00:00:00+11:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-04-04T02:30:00+11:00", "2026-04-05T02:30:00+10:30", "2026-04-06T02:30:00+10:30"},
	}},
	{"Australia/Lord_Howe", "*/30 * * * *", "2026-04-05T00:45:00+11:00", map[string][]string{
		"FIRST LAST BOTH SHIFT SKIP": {"2026-04-05T01:00:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-05T01:30:00+10:30",
			"2026-04-05T02:00:00+10:30"},
	}},
}

// forPolicy returns the entries expected under the policy named name.
func (c policyCase) forPolicy(t *testing.T, name string) []string {
	t.Helper()
	for names, want := range c.want {
		if slices.Contains(strings.Fields(names), name) {
			return want
		}
	}
	t.Fatalf("%s %q: no expectation for policy %s", c.zone, c.expr, name)
	return nil
}

// TestDSTPolicies previews and enumerates each case under each policy, with
// no jitter, so that every fire is its slot.
func TestDSTPolicies(t *testing.T) {
	t.Parallel()
	for _, c := range policyCases {
		loc := mustLoad(t, c.zone)
		s, err := Parse(c.expr)
		require.NoError(t, err)
		covered := 0
		for names := range c.want {
			covered += len(strings.Fields(names))
		}
		require.Len(t, allPolicies, covered, "%s %q: every policy once", c.zone, c.expr)
		for name, dst := range allPolicies {
			t.Run(fmt.Sprintf("%s/%s/%s/%s", c.zone, c.from[:10], c.expr, name), func(t *testing.T) {
				t.Parallel()
				want := c.forPolicy(t, name)
				from, err := time.Parse(rfc3339, c.from)
				require.NoError(t, err)
				trigger := NewTrigger(s, loc, "wf", 0, Rules{DST: dst})

				var fires int
				var wantSlots []string
				for _, w := range want {
					if !strings.HasSuffix(w, " SKIPPED") {
						fires++
						wantSlots = append(wantSlots, strings.Fields(w)[0])
					}
				}
				list, ended, err := trigger.Preview(from, fires)
				require.NoError(t, err)
				require.False(t, ended)
				var got []string
				for _, u := range list {
					entry := u.Slot.Format(rfc3339)
					if u.Effect != Unaffected {
						entry += " " + string(u.Effect)
					}
					got = append(got, entry)
					require.Equal(t, u.Effect == Unaffected, u.Note == "", "note %q of %s", u.Note, entry)
					if u.Effect != Skipped {
						require.True(t, u.Fire.Equal(u.Slot), "no jitter: fire %s is slot %s", u.Fire, u.Slot)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Preview (-want +got):\n%s", diff)
				}

				var slots []string
				after := from
				for range fires {
					slot, err := trigger.NextSlot(after)
					require.NoError(t, err)
					slots = append(slots, slot.Format(rfc3339))
					after = slot
				}
				if diff := cmp.Diff(wantSlots, slots); diff != "" {
					t.Errorf("NextSlot (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestDSTNotes checks the sentence of each effect, and the local time named.
func TestDSTNotes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		zone, expr, from string
		dst              DST
		want             Upcoming
	}{
		{
			"America/New_York", "30 2 * * *", "2026-03-08T00:00:00-05:00", DST{},
			Upcoming{LocalTime: "2026-03-08T02:30:00", Effect: Shifted, Note: "02:30 does not occur on 2026-03-08 in America/New_York: " +
				"the clocks jump from 02:00 to 03:00; it fires at 03:30 -04:00 instead (skipped-time policy SHIFT)"},
		},
		{
			"America/New_York", "30 2 * * *", "2026-03-08T00:00:00-05:00", DST{Skipped: SkippedSkip},
			Upcoming{LocalTime: "2026-03-08T02:30:00", Effect: Skipped, Note: "02:30 does not occur on 2026-03-08 in America/New_York: " +
				"the clocks jump from 02:00 to 03:00; it does not fire (skipped-time policy SKIP)"},
		},
		{
			"Europe/London", "30 1 * * *", "2026-10-25T00:00:00+01:00", DST{},
			Upcoming{LocalTime: "2026-10-25T01:30:00", Effect: FirstOccurrence, Note: "01:30 occurs twice on 2026-10-25 in Europe/London: " +
				"the clocks go back from 02:00 to 01:00; this is the first, at 01:30 +01:00, and the second does not fire (repeated-time policy FIRST)"},
		},
		{
			"Europe/London", "30 1 * * *", "2026-10-25T00:00:00+01:00", DST{Repeated: RepeatedBoth},
			Upcoming{LocalTime: "2026-10-25T01:30:00", Effect: FirstOccurrence, Note: "01:30 occurs twice on 2026-10-25 in Europe/London: " +
				"the clocks go back from 02:00 to 01:00; this is the first, at 01:30 +01:00, and the second fires too (repeated-time policy BOTH)"},
		},
		{
			"Australia/Lord_Howe", "45 1 * * *", "2026-04-05T00:00:00+11:00", DST{Repeated: RepeatedLast},
			Upcoming{LocalTime: "2026-04-05T01:45:00", Effect: SecondOccurrence, Note: "01:45 occurs twice on 2026-04-05 in Australia/Lord_Howe: " +
				"the clocks go back from 02:00 to 01:30; this is the second, at 01:45 +10:30, and the first did not fire (repeated-time policy LAST)"},
		},
		{
			"Australia/Lord_Howe", "45 1 * * *", "2026-04-05T01:50:00+11:00", DST{Repeated: RepeatedBoth},
			Upcoming{LocalTime: "2026-04-05T01:45:00", Effect: SecondOccurrence, Note: "01:45 occurs twice on 2026-04-05 in Australia/Lord_Howe: " +
				"the clocks go back from 02:00 to 01:30; this is the second, at 01:45 +10:30, and the first fired too (repeated-time policy BOTH)"},
		},
		{
			"Australia/Lord_Howe", "15 2 * * *", "2026-10-04T00:00:00+10:30", DST{},
			Upcoming{LocalTime: "2026-10-04T02:15:00", Effect: Shifted, Note: "02:15 does not occur on 2026-10-04 in Australia/Lord_Howe: " +
				"the clocks jump from 02:00 to 02:30; it fires at 02:45 +11:00 instead (skipped-time policy SHIFT)"},
		},
	} {
		t.Run(tc.want.Note, func(t *testing.T) {
			t.Parallel()
			from, err := time.Parse(rfc3339, tc.from)
			require.NoError(t, err)
			list, _, err := mustTrigger(t, tc.expr, mustLoad(t, tc.zone), "wf", 0).withRules(Rules{DST: tc.dst}).Preview(from, 1)
			require.NoError(t, err)
			got := list[0]
			got.Slot, got.Fire = time.Time{}, time.Time{}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("first entry (-want +got):\n%s", diff)
			}
		})
	}
}

// withRules is the trigger under other rules.
func (t *Trigger) withRules(r Rules) *Trigger {
	return NewTrigger(t.schedule, t.loc, t.workflowID, t.window, r)
}

// TestDSTWildcardHourIgnoresPolicy: a wildcard-hour schedule follows elapsed
// time under every policy, so its slots match the default's over a week
// around each transition of each zone.
func TestDSTWildcardHourIgnoresPolicy(t *testing.T) {
	t.Parallel()
	for _, z := range dstZones {
		loc := mustLoad(t, z.zone)
		for _, w := range wildcardExprs {
			t.Run(z.zone+"/"+w.expr, func(t *testing.T) {
				t.Parallel()
				s, err := Parse(w.expr)
				require.NoError(t, err)
				for _, date := range []string{z.forward[0], z.back[0]} {
					d, err := time.ParseInLocation(time.DateOnly, date, loc)
					require.NoError(t, err)
					for name, dst := range allPolicies {
						after, policyAfter := d.AddDate(0, 0, -3), d.AddDate(0, 0, -3)
						for range 200 {
							want, err := s.Next(after, loc)
							require.NoError(t, err)
							got, err := s.NextSlot(policyAfter, loc, dst)
							require.NoError(t, err)
							require.True(t, want.Equal(got.Time), "%s %s: %s, want %s", date, name, got.Time, want)
							require.Equal(t, Unaffected, got.Effect)
							after, policyAfter = want, got.Time
						}
					}
				}
			})
		}
	}
}

func TestPolicyNames(t *testing.T) {
	t.Parallel()
	for _, r := range []RepeatedTime{"", RepeatedFirst, RepeatedLast, RepeatedBoth} {
		require.True(t, r.Valid(), r)
	}
	for _, s := range []SkippedTime{"", SkippedShift, SkippedSkip} {
		require.True(t, s.Valid(), s)
	}
	for _, bad := range []string{"first", "NONE", "3", " FIRST"} {
		require.False(t, RepeatedTime(bad).Valid(), bad)
		require.False(t, SkippedTime(bad).Valid(), bad)
	}
}
