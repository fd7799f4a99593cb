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
	return literal(len(a), func(i int) *string { return &a[i] }), nil
}

// Value is the array's literal, a nil element NULL.
func (a nullTexts) Value() (driver.Value, error) {
	return literal(len(a), func(i int) *string { return a[i] }), nil
}

// literal is the array literal of n elements, element i at(i), nil NULL.
func literal(n int, at func(i int) *string) string {
	size := 2
	for i := range n {
		size += 5
		if s := at(i); s != nil {
			size += len(*s)
		}
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if s := at(i); s != nil {
			quote(&b, *s)
		} else {
			b.WriteString("NULL")
		}
	}
	b.WriteByte('}')
	return b.String()
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
