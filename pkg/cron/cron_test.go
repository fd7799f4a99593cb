package cron

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr, quartz string
	}{
		{"*/5 * * * *", "0 */5 * * * ?"},
		{"0 9 * * MON-FRI", "0 0 9 ? * 2-6"},
		{"0 9 * * mon-fri", "0 0 9 ? * 2-6"},
		{"0 0 * * 0", "0 0 0 ? * 1"},
		{"0 0 * * 7", "0 0 0 ? * 1"},
		{"0 0 * * SUN", "0 0 0 ? * 1"},
		{"0 0 * * 5-7", "0 0 0 ? * 1,6-7"},
		{"0 0 * * */2", "0 0 0 ? * 1,3,5,7"},
		{"0 0 * * 1,3,5", "0 0 0 ? * 2,4,6"},
		{"0 0 * * 1#2", "0 0 0 ? * 2#2"},
		{"0 0 * * 5L", "0 0 0 ? * 6L"},
		{"0 0 * * fri#3", "0 0 0 ? * 6#3"},
		{"30 2 * * *", "0 30 2 * * ?"},
		{"  30   2 * *   * ", "0 30 2 * * ?"},
		{"0 0 1 * *", "0 0 0 1 * ?"},
		{"0 0 1,15 jan-mar *", "0 0 0 1,15 JAN-MAR ?"},
		{"0 0 L * *", "0 0 0 L * ?"},
		{"0 0 15w * *", "0 0 0 15W * ?"},
		{"0 0 ? * 1", "0 0 0 ? * 2"},
		{"0-30/10 8-18/2 */3 */2 ?", "0 0-30/10 8-18/2 */3 */2 ?"},
		{"5/15 * * * *", "0 5/15 * * * ?"},
		{"0 15 10 ? * 6L", "0 15 10 ? * 6L"},
		{"0 15 10 ? * 6#3", "0 15 10 ? * 6#3"},
		{"0 15 10 L-2 * ?", "0 15 10 L-2 * ?"},
		{"0 15 10 LW * ?", "0 15 10 LW * ?"},
		{"0 15 10 ? * L", "0 15 10 ? * L"},
		{"0 0 12 * * *", "0 0 12 * * ?"},
		{"0 0 12 ? * ?", "0 0 12 * * ?"},
		{"0 0 12 15 * *", "0 0 12 15 * ?"},
		{"0 0 12 * * MON", "0 0 12 ? * MON"},
		{"0 0 12 * * ? 2030", "0 0 12 * * ? 2030"},
		{"0 0 12 * * ? 2030-2035/2", "0 0 12 * * ? 2030-2035/2"},
		{"@hourly", "0 0 * * * ?"},
		{"@daily", "0 0 0 * * ?"},
		{"@midnight", "0 0 0 * * ?"},
		{"@weekly", "0 0 0 ? * 1"},
		{"@monthly", "0 0 0 1 * ?"},
		{"@yearly", "0 0 0 1 1 ?"},
		{"@annually", "0 0 0 1 1 ?"},
		{" @Daily ", "0 0 0 * * ?"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.expr)
			require.NoError(t, err)
			require.Equal(t, tc.expr, s.Expression())
			require.Equal(t, tc.quartz, s.Quartz())
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	const count = `expected 5 fields (minute hour day-of-month month day-of-week), 6 or 7 (Quartz, with seconds) or an @alias; got `
	for _, tc := range []struct {
		name, expr, want string
	}{
		{"empty", "", "empty cron expression"},
		{"blank", " \t ", "empty cron expression"},
		{"four fields", "* * * *", count + "4"},
		{"eight fields", "0 0 0 * * ? 2030 1", count + "8"},
		{"unknown alias", "@often", `unknown cron alias "@often"; expected one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually`},
		{"minute", "60 * * * *", `minute field "60": value out of range 0-59`},
		{"minute in list", "1,99 * * * *", `minute field "1,99": value "99" out of range 0-59`},
		{"hour", "0 25 * * *", `hour field "25": value out of range 0-23`},
		{"hour range", "0 9-24 * * *", `hour field "9-24": value "24" out of range 0-23`},
		{"day-of-month", "0 0 32 * *", `day-of-month field "32": value out of range 1-31`},
		{"day-of-month zero", "0 0 0 * *", `day-of-month field "0": value out of range 1-31`},
		{"month", "0 0 * 13 *", `month field "13": value out of range 1-12`},
		{"month name", "0 0 * FOO *", `month field "FOO": invalid value "FOO"`},
		{"day-of-week", "0 0 * * 8", `day-of-week field "8": value out of range 0-7`},
		{"day-of-week name", "0 0 * * MONDAY", `day-of-week field "MONDAY": invalid value "MONDAY"`},
		{"garbage", "abc * * * *", `minute field "abc": invalid value "abc"`},
		{"signed number", "+5 * * * *", `minute field "+5": invalid value "+5"`},
		{"zero step", "*/0 * * * *", `minute field "*/0": step "0" must be a number 1-59`},
		{"big step", "0 */24 * * *", `hour field "*/24": step "24" must be a number 1-23`},
		{"double step", "1/2/3 * * * *", `minute field "1/2/3": step "2/3" must be a number 1-59`},
		{"backwards range", "0 0 * * FRI-MON", `day-of-week field "FRI-MON": range "FRI-MON" runs backwards`},
		{"bad range start", "0 x-5 * * *", `hour field "x-5": invalid value "x"`},
		{"bad range end", "0 1-x * * *", `hour field "1-x": invalid value "x"`},
		{"empty list element", "1,,2 * * * *", `minute field "1,,2": empty list element`},
		{"star in list", "*,5 * * * *", `minute field "*,5": * cannot be part of a list`},
		{"question mark in minute", "? * * * *", `minute field "?": ? is only allowed in day-of-month and day-of-week`},
		{"L in minute", "L * * * *", `minute field "L": invalid value "L"`},
		{"L without day", "0 0 * * L", `day-of-week field "L": L needs a day in standard cron, e.g. 5L for the last Friday`},
		{"bad nth", "0 0 * * 1#6", `day-of-week field "1#6": occurrence "6" after # must be 1-5`},
		{"bad hash day", "0 0 * * 9#2", `day-of-week field "9#2": value "9" out of range 0-7`},
		{"bad last day", "0 0 * * 9L", `day-of-week field "9L": value "9" out of range 0-7`},
		{"bad L-n", "0 0 L-31 * *", `day-of-month field "L-31": value "31" out of range 1-30`},
		{"bad W", "0 0 32W * *", `day-of-month field "32W": value "32" out of range 1-31`},
		{
			"both days", "0 0 1 * MON",
			`day-of-month "1" and day-of-week "MON" are both restricted; standard cron would run when either matches, which Quartz cannot express: set one of them to *`,
		},
		{"both days stepped", "0 0 */2 * 1", `day-of-month "*/2" and day-of-week "1" are both restricted`},
		{"quartz second", "61 0 0 * * ?", `second field "61": value out of range 0-59`},
		{"quartz day-of-week", "0 0 0 ? * 0", `day-of-week field "0": value out of range 1-7`},
		{"quartz both days", "0 0 0 1 * MON", `day-of-month "1" and day-of-week "MON" are both restricted; set one of them to ?`},
		{"quartz year", "0 0 0 * * ? 1969", `year field "1969": value out of range 1970-2099`},
		{"quartz month in six fields", "0 0 * * 0 1", `month field "0": value out of range 1-12`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.expr)
			require.Error(t, err)
			require.Nil(t, s)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestWallTrigger covers the go-quartz fallback, which Parse's own
// stricter checks normally pre-empt.
func TestWallTrigger(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, want string }{
		{"0 0 0 * * ?", ""},
		{"0 0 25 * * ?", `hour field "25": parse cron expression: invalid numeric field 25`},
		{"0 0 0 ? * 9", `day-of-week field "9": parse cron expression`},
		{"0 0 0 * * ? 1900", `year field "1900": parse cron expression`},
		{"0 0 0 1 * 2", `cron expression "0 0 0 1 * 2": parse cron expression: day field set twice`},
	} {
		trigger, err := wallTrigger(tc.expr)
		if tc.want == "" {
			require.NoError(t, err, tc.expr)
			require.NotNil(t, trigger, tc.expr)
			continue
		}
		require.ErrorContains(t, err, tc.want, tc.expr)
		require.Nil(t, trigger, tc.expr)
	}
}

func TestNext(t *testing.T) {
	t.Parallel()
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		expr  string
		loc   *time.Location
		after time.Time
		want  []time.Time
	}{
		{
			"every five minutes", "*/5 * * * *", time.UTC,
			time.Date(2025, 1, 1, 10, 3, 0, 0, time.UTC),
			[]time.Time{
				time.Date(2025, 1, 1, 10, 5, 0, 0, time.UTC),
				time.Date(2025, 1, 1, 10, 10, 0, 0, time.UTC),
			},
		},
		{
			"strictly after a slot", "0 * * * *", time.UTC,
			time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2025, 1, 1, 11, 0, 0, 0, time.UTC)},
		},
		{
			"strictly after, within the slot's second", "0 * * * *", time.UTC,
			time.Date(2025, 1, 1, 10, 0, 0, 500_000_000, time.UTC),
			[]time.Time{time.Date(2025, 1, 1, 11, 0, 0, 0, time.UTC)},
		},
		{
			"just before a slot", "0 * * * *", time.UTC,
			time.Date(2025, 1, 1, 10, 59, 59, 999_000_000, time.UTC),
			[]time.Time{time.Date(2025, 1, 1, 11, 0, 0, 0, time.UTC)},
		},
		{
			"weekdays, over a weekend", "0 9 * * MON-FRI", nil,
			time.Date(2025, 1, 3, 9, 0, 0, 0, time.UTC), // a Friday
			[]time.Time{
				time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC),
				time.Date(2025, 1, 7, 9, 0, 0, 0, time.UTC),
			},
		},
		{
			"sunday as 7", "0 0 * * 7", time.UTC,
			time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 12, 0, 0, 0, 0, time.UTC)},
		},
		{
			"last friday", "0 15 10 ? * 6L", time.UTC,
			time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2025, 1, 31, 10, 15, 0, 0, time.UTC), time.Date(2025, 2, 28, 10, 15, 0, 0, time.UTC)},
		},
		{
			"year field", "0 0 12 1 1 ? 2030", time.UTC,
			time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)},
		},
		{
			"seconds", "*/20 * * * * ?", time.UTC,
			time.Date(2025, 1, 1, 0, 0, 5, 0, time.UTC),
			[]time.Time{time.Date(2025, 1, 1, 0, 0, 20, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 40, 0, time.UTC)},
		},
		{
			"london winter", "30 2 * * *", london,
			time.Date(2025, 1, 14, 12, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2025, 1, 15, 2, 30, 0, 0, time.UTC), time.Date(2025, 1, 16, 2, 30, 0, 0, time.UTC)},
		},
		{
			"london summer", "0 9 * * MON-FRI", london,
			time.Date(2025, 6, 13, 8, 0, 0, 0, time.UTC), // Friday 09:00 BST
			[]time.Time{time.Date(2025, 6, 16, 8, 0, 0, 0, time.UTC), time.Date(2025, 6, 17, 8, 0, 0, 0, time.UTC)},
		},
		{
			"london hourly in summer", "@hourly", london,
			time.Date(2025, 7, 1, 10, 30, 0, 0, time.UTC),
			[]time.Time{time.Date(2025, 7, 1, 11, 0, 0, 0, time.UTC), time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)},
		},
		{
			"london monthly", "@monthly", london,
			time.Date(2025, 6, 15, 0, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2025, 6, 30, 23, 0, 0, 0, time.UTC), time.Date(2025, 7, 31, 23, 0, 0, 0, time.UTC)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.expr)
			require.NoError(t, err)
			var got []time.Time
			after := tc.after
			for range tc.want {
				next, err := s.Next(after, tc.loc)
				require.NoError(t, err)
				got = append(got, next)
				after = next
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
				t.Errorf("Next (-want +got):\n%s", diff)
			}
			wantLoc := tc.loc
			if wantLoc == nil {
				wantLoc = time.UTC
			}
			require.Equal(t, wantLoc, got[0].Location())
		})
	}
}

func TestNextExpired(t *testing.T) {
	t.Parallel()
	s, err := Parse("0 0 12 1 1 ? 2030")
	require.NoError(t, err)
	_, err = s.Next(time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	require.ErrorContains(t, err, `cron "0 0 12 1 1 ? 2030": no slot after 2030-06-01T00:00:00Z`)
}
