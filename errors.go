package rayfleet

import (
	"errors"
	"fmt"
)

// Error codes the API returns. They are the codes of the hosted product's error
// body; internal/httpapi maps each to its HTTP status in one table.
const (
	EINVALID       = "InvalidParameter"
	EMISSING       = "MissingParameter"
	EQUOTA         = "QuotaExceeded"
	EIDEMPOTENT    = "IdempotentParameterMismatch"
	ESIGNATURE     = "SignatureDoesNotMatch"
	EAKNOTFOUND    = "InvalidAccessKeyId.NotFound"
	EAKINACTIVE    = "InvalidAccessKeyId.Inactive"
	ETIMESTAMP     = "InvalidTimeStamp.Expired"
	ENONCE         = "SignatureNonceUsed"
	ESECURITYTOKEN = "InvalidSecurityToken"
	EFORBIDDEN     = "Forbidden.RAM"
	ENOTFOUND      = "ResourceNotFound"
	EDENIED        = "OperationDenied"
	ETHROTTLING    = "Throttling"
	ETOOLARGE      = "RequestEntityTooLarge"
	EMETHOD        = "UnsupportedOperation"
	EINTERNAL      = "Error.Internal"
	// A signed log URL that is past its expiry, or whose signature does
	// not match what it names.
	EURLEXPIRED   = "Forbidden.UrlExpired"
	EURLSIGNATURE = "Forbidden.UrlSignature"
)

// Error is an error meant for the API caller: a code from the list above and a
// message that says what was wrong and, where it helps, what to do.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL
// when there is none: anything not written for the caller is internal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message for internal errors so nothing internal reaches a response.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "The request processing has failed due to an internal error. Retry later; if it persists, report the request id."
}

// ErrConflict is returned by stores when an optimistic-concurrency update lost
// to another writer; callers reload and retry.
var ErrConflict = errors.New("write conflict: the object changed since it was read")

// IsNotFound reports whether err is a ResourceNotFound error.
func IsNotFound(err error) bool { return ErrorCode(err) == ENOTFOUND }
