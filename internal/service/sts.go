package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
)

// STS session lengths, as Alibaba Cloud STS allows them.
const (
	MinSessionDuration     = 15 * time.Minute
	MaxSessionDuration     = time.Hour
	DefaultSessionDuration = time.Hour
)

// STSPrefix starts every temporary access key id.
const STSPrefix = "STS."

// Session is a set of temporary credentials.
type Session struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	Expiration      time.Time
}

// sessionClaims is what a security token carries, sealed under the
// server's master key: nothing about a session is stored, and the seal
// keeps it from being forged or altered.
type sessionClaims struct {
	KeyID     string `json:"k"`
	Secret    string `json:"s"`
	AccountID string `json:"a"`
	UserUID   string `json:"u"`
	ParentKey string `json:"p"`
	Policy    string `json:"d,omitempty"`
	Expires   int64  `json:"e"` // Unix milliseconds
}

// GetSessionToken issues temporary credentials to the caller: they act as
// the caller's user, narrowed by policy when one is given (a call must then
// be allowed by both the user's policies and this one), for duration
// (15 minutes to 1 hour; 0 means 1 hour). They stop working when they
// expire, or when the access key that asked for them is disabled or deleted.
// Temporary credentials cannot ask for more.
func (s *Service) GetSessionToken(ctx context.Context, p rayfleet.Principal, policy string, duration time.Duration) (Session, error) {
	noteAudit(ctx, "sts:GetSessionToken", "*")
	if p.AccountID == "" {
		return Session{}, denied(p, "sts:GetSessionToken", "*", authz.ImplicitDeny)
	}
	if strings.HasPrefix(p.AccessKeyID, STSPrefix) {
		return Session{}, rayfleet.Errorf(rayfleet.EDENIED, "Temporary credentials cannot issue temporary credentials; sign with an access key.")
	}
	if duration == 0 {
		duration = DefaultSessionDuration
	}
	if duration < MinSessionDuration || duration > MaxSessionDuration {
		return Session{}, rayfleet.Errorf(rayfleet.EINVALID, "DurationSeconds must be between %d and %d, got %d",
			int(MinSessionDuration.Seconds()), int(MaxSessionDuration.Seconds()), int(duration.Seconds()))
	}
	if policy != "" {
		if _, err := authz.Parse([]byte(policy)); err != nil {
			return Session{}, rayfleet.Errorf(ERAMMalformedPolicy, "The policy is malformed: %v", err)
		}
	}
	id, secret, err := s.newAccessKey()
	if err != nil {
		return Session{}, err
	}
	id = STSPrefix + id[len("LTAI"):]
	exp := s.now().Add(duration)
	claims, err := json.Marshal(sessionClaims{
		KeyID: id, Secret: secret, AccountID: p.AccountID, UserUID: p.UserUID, ParentKey: p.AccessKeyID,
		Policy: policy, Expires: exp.UnixMilli(),
	})
	if err != nil {
		return Session{}, fmt.Errorf("encode session: %w", err)
	}
	sealed, err := s.Sealer.Seal(claims)
	if err != nil {
		return Session{}, err
	}
	return Session{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: base64.RawURLEncoding.EncodeToString(sealed), Expiration: exp}, nil
}

func badToken() error {
	return rayfleet.Errorf(rayfleet.ESECURITYTOKEN, "The security token is not valid for this access key.")
}

// AuthenticateSession checks temporary credentials: the token must be one
// this server issued for that access key id, not expired, its user must
// still exist and the key that asked for it must still be active. It
// returns the principal and the secret to verify the signature with.
func (s *Service) AuthenticateSession(ctx context.Context, accessKeyID, token string) (rayfleet.Principal, string, error) {
	if token == "" {
		return rayfleet.Principal{}, "", rayfleet.Errorf(rayfleet.ESECURITYTOKEN, "Temporary (STS) credentials need their security token (x-acs-security-token).")
	}
	// Strict: a token differing only in the unused bits of its last
	// character is not the token issued.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return rayfleet.Principal{}, "", badToken()
	}
	opened, err := s.Sealer.Open(raw)
	if err != nil {
		return rayfleet.Principal{}, "", badToken()
	}
	var c sessionClaims
	if err := json.Unmarshal(opened, &c); err != nil || c.KeyID != accessKeyID {
		return rayfleet.Principal{}, "", badToken()
	}
	if !s.Now().Before(time.UnixMilli(c.Expires)) {
		return rayfleet.Principal{}, "", rayfleet.Errorf(rayfleet.ESECURITYTOKEN, "The security token expired at %s; ask for new credentials.",
			time.UnixMilli(c.Expires).UTC().Format(time.RFC3339))
	}
	parent, _, err := s.Authenticate(ctx, c.ParentKey)
	if err != nil {
		if rayfleet.ErrorCode(err) == rayfleet.EAKNOTFOUND || rayfleet.ErrorCode(err) == rayfleet.EAKINACTIVE {
			return rayfleet.Principal{}, "", rayfleet.Errorf(rayfleet.ESECURITYTOKEN, "The access key that issued this security token is disabled or deleted.")
		}
		return rayfleet.Principal{}, "", err
	}
	if parent.AccountID != c.AccountID || parent.UserUID != c.UserUID {
		return rayfleet.Principal{}, "", badToken()
	}
	parent.ParentAccessKeyID, parent.AccessKeyID = parent.AccessKeyID, c.KeyID
	parent.SessionPolicy = c.Policy
	parent.SessionExpiration = time.UnixMilli(c.Expires).UTC()
	return parent, c.Secret, nil
}
