package postgres

import (
	"database/sql/driver"
	"strings"
)

// texts and nullTexts are text[] (and uuid[]) parameters. lib/pq's
// pq.Array copies every string to a byte slice and grows the literal as it
// escapes it, or goes through reflection for []*string: 7 % of the CPU of
// bench-trigger's process, for the group commit's arrays. These size the
// literal once, and copy a string whole unless it holds a character to
// escape.
type (
	texts     []string
	nullTexts []*string
)

// Value is the array's literal: every element quoted, '"' and '\' escaped.
func (a texts) Value() (driver.Value, error) {
	n := 2
	for _, s := range a {
		n += len(s) + 3
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('{')
	for i, s := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		quote(&b, s)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// Value is the array's literal, a nil element NULL.
func (a nullTexts) Value() (driver.Value, error) {
	n := 2
	for _, s := range a {
		n += 5
		if s != nil {
			n += len(*s)
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('{')
	for i, s := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		if s == nil {
			b.WriteString("NULL")
			continue
		}
		quote(&b, *s)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// quote writes s as a quoted element of an array literal.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for {
		i := strings.IndexAny(s, `"\`)
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteByte('\\')
		b.WriteByte(s[i])
		s = s[i+1:]
	}
	b.WriteString(s)
	b.WriteByte('"')
}
