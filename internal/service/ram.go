package service

import (
	"context"
	"strconv"
	"unicode/utf8"

	"github.com/rayfleet/rayfleet"
)

// Error codes of RAM's admin API, as RAM returns them.
const (
	ERAMNoUser          = "EntityNotExist.User"
	ERAMUserExists      = "EntityAlreadyExists.User"
	ERAMUserHasKeys     = "DeleteConflict.User.AccessKey"
	ERAMUserHasPolicies = "DeleteConflict.User.Policy"
	ERAMNoKey           = "EntityNotExist.User.AccessKey"
	ERAMKeyLimit        = "LimitExceeded.User.AccessKey"
	ERAMNoPolicy        = "EntityNotExist.Policy"
	ERAMPolicyExists    = "EntityAlreadyExists.Policy"
	ERAMPolicyAttached  = "DeleteConflict.Policy.User"
	ERAMVersionLimit    = "LimitExceeded.Policy.Version"
	ERAMAttached        = "EntityAlreadyExists.User.Policy"
	ERAMNotAttached     = "EntityNotExist.User.Policy"
	ERAMMalformedPolicy = "MalformedPolicyDocument"
)

// ramResource names a RAM entity of the caller's account in policies:
// acs:ram:*:<account>:user/<name> or .../policy/<name>.
func ramResource(p rayfleet.Principal, kind, name string) string {
	return "acs:ram:*:" + p.AccountID + ":" + kind + "/" + name
}

// authorizeRAM lets the account's root user, or a user whose policies allow
// "ram:<operation>" on the entity, call an admin operation.
func (s *Service) authorizeRAM(ctx context.Context, p rayfleet.Principal, operation, resource string) error {
	return s.authorizeAction(ctx, p, "ram:"+operation, resource)
}

func checkUserName(field, name string) error {
	if name == "" {
		return rayfleet.Errorf(rayfleet.EMISSING, "%s is required", field)
	}
	if utf8.RuneCountInString(name) > 64 {
		return rayfleet.Errorf(rayfleet.EINVALID, "%s must be 1 to 64 characters long", field)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@') {
			return rayfleet.Errorf(rayfleet.EINVALID, "%s %q may contain only letters, digits, '.', '-', '_' and '@'", field, name)
		}
	}
	return nil
}

func checkLength(field, v string, most int) error {
	if utf8.RuneCountInString(v) > most {
		return rayfleet.Errorf(rayfleet.EINVALID, "%s must be at most %d characters long", field, most)
	}
	return nil
}

// Page is a RAM list's paging: Marker is where the page starts (from a
// previous page's NextMarker), MaxItems its size (1 to 1000, default 100).
type Page struct {
	Marker   string
	MaxItems int
}

// cut returns the part of n items the page shows and the marker of the
// next page ("" when this is the last).
func (pg Page) cut(n int) (from, to int, next string, err error) {
	size := pg.MaxItems
	if size == 0 {
		size = 100
	}
	if size < 1 || size > 1000 {
		return 0, 0, "", rayfleet.Errorf(rayfleet.EINVALID, "MaxItems must be between 1 and 1000, got %d", pg.MaxItems)
	}
	if pg.Marker != "" {
		v, err := strconv.Atoi(pg.Marker)
		if err != nil || v < 0 {
			return 0, 0, "", rayfleet.Errorf(rayfleet.EINVALID, "Marker %q is not one this API returned", pg.Marker)
		}
		from = v
	}
	from = min(from, n)
	to = min(from+size, n)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}
