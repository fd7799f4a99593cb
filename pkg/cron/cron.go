// Package cron parses the cron expressions that workflow triggers accept,
// translates them to the Quartz form that go-quartz runs, finds their slots
// across DST changes, computes each workflow's hash jitter, and fires both as
// a go-quartz trigger (ARCHITECTURE.md "Cron semantics", "Hash jitter").
package cron

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/reugn/go-quartz/quartz"
)

// Schedule is a parsed cron expression. It is immutable and safe for
// concurrent use.
type Schedule struct {
	expression string
	quartz     string
	// wall enumerates the schedule's wall-clock times, read as UTC.
	wall *quartz.CronTrigger
	// fixedTime marks a fixed-time expression, one whose hour field is not
	// "*" or a step over the whole day: its runs follow the local calendar
	// rather than elapsed time across a DST change (ARCHITECTURE.md "Cron semantics").
	fixedTime bool
}

// Expression returns the expression exactly as it was given to Parse.
func (s *Schedule) Expression() string { return s.expression }

// Quartz returns the expression normalised to go-quartz's 6- or 7-field form
// (seconds first, one of day-of-month and day-of-week set to "?", tokens upper-cased).
func (s *Schedule) Quartz() string { return s.quartz }

// aliases maps the @ shorthands to Quartz. @weekly is Sunday, as in Vixie cron.
var aliases = map[string]string{
	"@yearly":   "0 0 0 1 1 ?",
	"@annually": "0 0 0 1 1 ?",
	"@monthly":  "0 0 0 1 * ?",
	"@weekly":   "0 0 0 ? * 1",
	"@daily":    "0 0 0 * * ?",
	"@midnight": "0 0 0 * * ?",
	"@hourly":   "0 0 * * * ?",
}

const aliasList = "@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually"

// fieldSpec describes one field of an expression. names[i] is the name of
// value i + nameBase.
type fieldSpec struct {
	name     string
	min, max int
	names    []string
	nameBase int
	// dom and dow mark the day fields, the only ones that take ? and
	// Quartz's L, W and # forms.
	dom, dow bool
}

var (
	monthNames = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

	secondSpec  = fieldSpec{name: "second", min: 0, max: 59}
	minuteSpec  = fieldSpec{name: "minute", min: 0, max: 59}
	hourSpec    = fieldSpec{name: "hour", min: 0, max: 23}
	domSpec     = fieldSpec{name: "day-of-month", min: 1, max: 31, dom: true}
	monthSpec   = fieldSpec{name: "month", min: 1, max: 12, names: monthNames, nameBase: 1}
	quartzDOW   = fieldSpec{name: "day-of-week", min: 1, max: 7, names: dayNames, nameBase: 1, dow: true}
	standardDOW = fieldSpec{name: "day-of-week", min: 0, max: 7, names: dayNames, nameBase: 0, dow: true}
	// yearSpec follows Quartz's documented range rather than go-quartz's
	// looser 1970-3940, so that expressions stay portable.
	yearSpec = fieldSpec{name: "year", min: 1970, max: 2099}

	quartzSpecs = []fieldSpec{secondSpec, minuteSpec, hourSpec, domSpec, monthSpec, quartzDOW, yearSpec}
)

// Parse parses a standard 5-field expression (minute hour day-of-month month
// day-of-week, day-of-week 0-7 with 0 and 7 both Sunday), a Quartz 6- or
// 7-field expression with seconds first (and optionally a year last), or one
// of the @ aliases. Errors name the offending field and token.
func Parse(expr string) (*Schedule, error) {
	trimmed := strings.TrimSpace(expr)
	if trimmed == "" {
		return nil, errors.New("empty cron expression")
	}
	var q string
	if strings.HasPrefix(trimmed, "@") {
		var ok bool
		if q, ok = aliases[strings.ToLower(trimmed)]; !ok {
			return nil, fmt.Errorf("unknown cron alias %q; expected one of %s", trimmed, aliasList)
		}
	} else {
		tokens := strings.Fields(trimmed)
		var err error
		switch len(tokens) {
		case 5:
			q, err = translateStandard(tokens)
		case 6, 7:
			q, err = normalizeQuartz(tokens)
		default:
			err = fmt.Errorf("expected 5 fields (minute hour day-of-month month day-of-week), "+
				"6 or 7 (Quartz, with seconds) or an @alias; got %d", len(tokens))
		}
		if err != nil {
			return nil, err
		}
	}
	wall, err := wallTrigger(q)
	if err != nil {
		return nil, err
	}
	return &Schedule{
		expression: expr,
		quartz:     q,
		wall:       wall,
		fixedTime:  !spansDay(strings.Fields(q)[2]),
	}, nil
}

// spansDay reports whether an hour field, as a whole, names every hour or
// steps through the whole day from midnight: "*", "*/n", "0/n" or "0-23/n".
// A list is a choice of hours, so fixed-time, even when one item is a step.
func spansDay(hour string) bool {
	base, _, stepped := strings.Cut(hour, "/")
	return hour == "*" || stepped && !strings.Contains(hour, ",") && (base == "*" || base == "0" || base == "0-23")
}

// translateStandard turns a 5-field expression into Quartz form.
func translateStandard(tokens []string) (string, error) {
	specs := []fieldSpec{minuteSpec, hourSpec, domSpec, monthSpec, standardDOW}
	out := []string{"0"}
	var dow field
	for i, spec := range specs {
		f, err := parseField(spec, tokens[i])
		if err != nil {
			return "", err
		}
		if spec.dow {
			dow = f
		}
		tok := strings.ToUpper(tokens[i])
		if f.any {
			// Some people write Quartz's ? in a 5-field expression; it means * there.
			tok = "*"
		}
		out = append(out, tok)
	}
	switch {
	case out[3] != "*" && !dow.any:
		// Vixie cron runs when either day field matches (or, for a */n
		// field, when both do); Quartz can only restrict one of them.
		return "", fmt.Errorf("day-of-month %q and day-of-week %q are both restricted; "+
			"standard cron would run when either matches, which Quartz cannot express: set one of them to *",
			tokens[2], tokens[4])
	case dow.any:
		out[5] = "?"
	default:
		out[3] = "?"
		if dow.special != "" {
			out[5] = strconv.Itoa(dow.values[0]%7+1) + dow.special
		} else {
			out[5] = renderDays(dow.values)
		}
	}
	return strings.Join(out, " "), nil
}

// renderDays renders standard day-of-week values (0-7) as a Quartz list (1-7),
// folding consecutive days into ranges.
func renderDays(days []int) string {
	var set [8]bool
	for _, d := range days {
		set[d%7+1] = true
	}
	var parts []string
	for d := 1; d <= 7; d++ {
		if !set[d] {
			continue
		}
		end := d
		for end < 7 && set[end+1] {
			end++
		}
		if end > d {
			parts = append(parts, fmt.Sprintf("%d-%d", d, end))
		} else {
			parts = append(parts, strconv.Itoa(d))
		}
		d = end
	}
	return strings.Join(parts, ",")
}

// normalizeQuartz checks a 6/7-field Quartz expression and puts "?" where
// Quartz wants it.
func normalizeQuartz(tokens []string) (string, error) {
	out := make([]string, len(tokens))
	for i, tok := range tokens {
		if _, err := parseField(quartzSpecs[i], tok); err != nil {
			return "", err
		}
		out[i] = strings.ToUpper(tok)
	}
	domAny := out[3] == "*" || out[3] == "?"
	dowAny := out[5] == "*" || out[5] == "?"
	switch {
	case !domAny && !dowAny:
		return "", fmt.Errorf("day-of-month %q and day-of-week %q are both restricted; set one of them to ?",
			tokens[3], tokens[5])
	case dowAny:
		if out[3] == "?" {
			out[3] = "*"
		}
		out[5] = "?"
	default:
		out[3] = "?"
	}
	return strings.Join(out, " "), nil
}

// field is a parsed field: any value, a set of values, or a Quartz day form.
type field struct {
	any    bool
	values []int
	// special is set for the L, W and # forms. For day-of-week it is the
	// suffix ("L" or "#k") that follows the day, so that a 5-field
	// expression's day can be renumbered and the suffix put back.
	special string
}

func fieldError(spec fieldSpec, tok, format string, args ...any) error {
	return fmt.Errorf("%s field %q: %s", spec.name, tok, fmt.Sprintf(format, args...))
}

// parseField checks one field token. Names and the L and W letters are
// matched without regard to case; errors quote the token as given.
func parseField(spec fieldSpec, tok string) (field, error) {
	if tok == "*" {
		return field{any: true}, nil
	}
	if tok == "?" {
		if spec.dom || spec.dow {
			return field{any: true}, nil
		}
		return field{}, fieldError(spec, tok, "? is only allowed in day-of-month and day-of-week")
	}
	// Neither Quartz nor go-quartz allows the L, W and # forms inside a list.
	if spec.dom && !strings.Contains(tok, ",") {
		if f, ok, err := parseDOMSpecial(spec, tok); ok {
			return f, err
		}
	}
	if spec.dow && !strings.Contains(tok, ",") {
		if f, ok, err := parseDOWSpecial(spec, tok); ok {
			return f, err
		}
	}
	var values []int
	for item := range strings.SplitSeq(tok, ",") {
		vs, err := parseItem(spec, tok, item)
		if err != nil {
			return field{}, err
		}
		values = append(values, vs...)
	}
	return field{values: values}, nil
}

// parseDOMSpecial handles L, LW, L-n and nW; ok reports whether tok is one of them.
func parseDOMSpecial(spec fieldSpec, tok string) (f field, ok bool, err error) {
	switch {
	case strings.EqualFold(tok, "L") || strings.EqualFold(tok, "LW"):
		return field{special: tok}, true, nil
	case hasPrefixFold(tok, "L-"):
		_, err := parseNumber(spec, tok, tok[2:], 1, 30)
		return field{special: tok}, true, err
	case hasSuffixFold(tok, "W"):
		_, err := parseNumber(spec, tok, tok[:len(tok)-1], spec.min, spec.max)
		return field{special: tok}, true, err
	}
	return field{}, false, nil
}

// parseDOWSpecial handles nL (last n-day of the month), L and n#k; ok reports
// whether tok is one of them.
func parseDOWSpecial(spec fieldSpec, tok string) (f field, ok bool, err error) {
	if hasSuffixFold(tok, "L") {
		day := tok[:len(tok)-1]
		if day == "" {
			if spec.min == 1 {
				return field{special: "L"}, true, nil
			}
			return field{}, true, fieldError(spec, tok, "L needs a day in standard cron, e.g. 5L for the last Friday")
		}
		n, err := parseValue(spec, tok, day)
		return field{values: []int{n}, special: "L"}, true, err
	}
	if day, nth, found := strings.Cut(tok, "#"); found {
		d, err := parseValue(spec, tok, day)
		if err != nil {
			return field{}, true, err
		}
		if _, err := parseNumber(spec, tok, nth, 1, 5); err != nil {
			return field{}, true, fieldError(spec, tok, "occurrence %q after # must be 1-5", nth)
		}
		return field{values: []int{d}, special: "#" + nth}, true, nil
	}
	return field{}, false, nil
}

// parseItem parses one list element: a value, a range or a stepped range.
func parseItem(spec fieldSpec, tok, item string) ([]int, error) {
	if item == "" {
		return nil, fieldError(spec, tok, "empty list element")
	}
	base, stepStr, stepped := strings.Cut(item, "/")
	step := 1
	if stepped {
		n, err := strconv.Atoi(stepStr)
		if err != nil || !isDigits(stepStr) || n < 1 || n > spec.max {
			return nil, fieldError(spec, tok, "step %q must be a number 1-%d", stepStr, spec.max)
		}
		step = n
	}
	lo, hi := spec.min, spec.max
	switch from, to, isRange := strings.Cut(base, "-"); {
	case base == "*":
		if !stepped {
			return nil, fieldError(spec, tok, "* cannot be part of a list")
		}
	case isRange:
		var err error
		if lo, err = parseValue(spec, tok, from); err != nil {
			return nil, err
		}
		if hi, err = parseValue(spec, tok, to); err != nil {
			return nil, err
		}
		if lo > hi {
			// Quartz has no wrap-around ranges such as FRI-MON.
			return nil, fieldError(spec, tok, "range %q runs backwards", base)
		}
	default:
		v, err := parseValue(spec, tok, base)
		if err != nil {
			return nil, err
		}
		lo = v
		if !stepped {
			hi = v
		}
	}
	var values []int
	for v := lo; v <= hi; v += step {
		values = append(values, v)
	}
	return values, nil
}

// parseValue parses a number or a name of spec and checks its range.
func parseValue(spec fieldSpec, tok, s string) (int, error) {
	for i, name := range spec.names {
		if strings.EqualFold(s, name) {
			return i + spec.nameBase, nil
		}
	}
	return parseNumber(spec, tok, s, spec.min, spec.max)
}

func parseNumber(spec fieldSpec, tok, s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || !isDigits(s) {
		return 0, fieldError(spec, tok, "invalid value %q", s)
	}
	if n < lo || n > hi {
		if s == tok {
			return 0, fieldError(spec, tok, "value out of range %d-%d", lo, hi)
		}
		return 0, fieldError(spec, tok, "value %q out of range %d-%d", s, lo, hi)
	}
	return n, nil
}

// hasPrefixFold and hasSuffixFold compare ASCII affixes without regard to case.
// Slicing may split a multi-byte rune; such a string never matches an ASCII affix.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// wallTrigger builds the go-quartz trigger that enumerates q's wall-clock
// times in UTC, where its arithmetic is exact. go-quartz's word on q is final
// since it runs the schedule; its errors do not say which field is wrong, so
// each field is then tried alone, with wildcards in the others.
func wallTrigger(q string) (*quartz.CronTrigger, error) {
	t, err := quartz.NewCronTrigger(q)
	if err == nil {
		return t, nil
	}
	tokens := strings.Fields(q)
	for i, tok := range tokens {
		probe := []string{"*", "*", "*", "*", "*", "?", "*"}[:len(tokens)]
		if i == 5 {
			probe[3] = "?"
		}
		probe[i] = tok
		if ferr := quartz.ValidateCronExpression(strings.Join(probe, " ")); ferr != nil {
			return nil, fieldError(quartzSpecs[i], tok, "%v", ferr)
		}
	}
	return nil, fmt.Errorf("cron expression %q: %w", q, err)
}
