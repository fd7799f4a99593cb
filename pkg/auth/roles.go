package auth

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Role is what a caller may do.
type Role string

// Roles. Admin may do everything; operator everything but deleting and
// rolling back; read
// may get, list and monitor; trigger may do what an API gateway needs and
// nothing more: start runs, resolve webhooks and look a run up.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleTrigger  Role = "trigger"
	RoleRead     Role = "read"
)

// Roles are the roles a token or a client certificate may carry.
var Roles = []Role{RoleAdmin, RoleOperator, RoleTrigger, RoleRead}

// covers reports whether a caller with role have may do what need allows.
// The roles are not a line: trigger and read allow different calls, and
// operator allows both.
func (have Role) covers(need Role) bool {
	switch have {
	case RoleAdmin:
		return true
	case RoleOperator:
		return need != RoleAdmin
	default:
		return have == need
	}
}

// Identity is an authenticated caller.
type Identity struct {
	Name string
	Role Role
}

type callerKey struct{}

// WithCaller returns ctx carrying the authenticated caller id.
func WithCaller(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, callerKey{}, id)
}

// Caller returns the authenticated caller of ctx's call; ok is false when
// the call was not authenticated (authentication off).
func Caller(ctx context.Context) (id Identity, ok bool) {
	id, ok = ctx.Value(callerKey{}).(Identity)
	return id, ok
}

// PlainTokenName is the name of callers that send a token given without a
// name and role; such tokens carry RoleAdmin, as every token did before
// roles.
const PlainTokenName = "admin"

// namedEntry is name:role:token. A token may hold colons, so an entry is
// read as named only when its first two fields look like a name and a role;
// "https://user:pw@host" stays a plain token.
var namedEntry = regexp.MustCompile(`^([A-Za-z0-9._@-]+):([a-z]+):(.*)$`)

// parseEntry reads a token entry, a plain token or name:role:token. Its
// errors complete a sentence that names the entry, and never show the token.
func parseEntry(entry string) (Identity, string, error) {
	m := namedEntry.FindStringSubmatch(entry)
	if m == nil {
		return Identity{Name: PlainTokenName, Role: RoleAdmin}, entry, checkToken(entry)
	}
	id, token := Identity{Name: m[1], Role: Role(m[2])}, m[3]
	if !slices.Contains(Roles, id.Role) {
		return id, token, fmt.Errorf("(%s) has the unknown role %q, not one of %s", id.Name, id.Role, roleList())
	}
	if err := checkToken(token); err != nil {
		return id, token, fmt.Errorf("(%s) %w", id.Name, err)
	}
	return id, token, nil
}

func roleList() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// Actor is who a change or a run is recorded as coming from. When the call
// was authenticated, by is the caller's name and named, the name the request
// gave, is kept as onBehalfOf (empty when it is the caller's own name): a
// caller cannot pass for another. With authentication off, by is named, as
// the request says.
func Actor(ctx context.Context, named string) (by, onBehalfOf string) {
	id, ok := Caller(ctx)
	if !ok {
		return named, ""
	}
	if named == id.Name {
		named = ""
	}
	return id.Name, named
}
