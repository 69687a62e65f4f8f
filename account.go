package rayfleet

import "time"

// Account is a tenant; everything else belongs to exactly one.
type Account struct {
	ID         string // 16 digits
	Name       string
	CreateTime time.Time
}

// User is an account's root user or one of its RAM users.
type User struct {
	UID        string // 18 digits
	AccountID  string
	Name       string
	Nickname   string
	Comments   string
	Root       bool
	CreateTime time.Time
	UpdateTime time.Time
}

// Access key statuses.
const (
	KeyActive   = "Active"
	KeyInactive = "Inactive"
)

// AccessKey is a user's signing key. The secret is kept only sealed under the
// server's master key.
type AccessKey struct {
	ID           string
	AccountID    string
	UserUID      string
	SecretSealed []byte
	Status       string
	CreateTime   time.Time
}

// Principal is who made a request, as established by its signature.
type Principal struct {
	AccountID   string
	UserUID     string
	UserName    string
	Nickname    string
	Root        bool
	AccessKeyID string
	// SessionPolicy, for temporary (STS) credentials issued with a policy,
	// narrows what the user may do: a call must be allowed by both.
	SessionPolicy string
	// ParentAccessKeyID and SessionExpiration, for temporary credentials,
	// are the access key that asked for them and when they expire.
	ParentAccessKeyID string
	SessionExpiration time.Time
	// The request context RAM policy conditions read.
	SourceIP        string
	SecureTransport bool
}

// Idempotency is the remembered result of a mutating call made with a client
// token, so a retry returns it instead of acting again.
type Idempotency struct {
	AccountID  string
	Token      string
	Operation  string
	ParamsHash string
	Response   []byte
	CreateTime time.Time
}

// IdempotencyWindow is how long a client token is remembered.
const IdempotencyWindow = 24 * time.Hour
