package rayfleet

import "time"

// Policy types, as RAM names them.
const (
	PolicyCustom = "Custom"
	PolicySystem = "System"
)

// MaxPolicyVersions is how many versions a custom policy keeps, as in RAM.
const MaxPolicyVersions = 5

// Policy is an account's custom RAM policy. Its documents are its versions;
// DefaultVersion ("v1", "v2"...) names the one in force. System policies are
// built in (internal/authz) and are not stored; users are attached to them
// by name.
type Policy struct {
	AccountID      string
	Name           string
	Description    string
	DefaultVersion string
	CreateTime     time.Time
	UpdateTime     time.Time
	// AttachmentCount is how many users the policy is attached to; stores
	// fill it on reads and ignore it on writes.
	AttachmentCount int
}

// PolicyVersion is one document of a custom policy.
type PolicyVersion struct {
	AccountID  string
	PolicyName string
	VersionID  string // "v1", "v2"...: never reused within a policy
	Document   string
	CreateTime time.Time
}

// PolicyAttachment is a policy attached to a user. Reads fill the policy's
// description, default version and the document of that version (custom
// policies only: a system policy's document is built in).
type PolicyAttachment struct {
	AccountID  string
	UserUID    string
	PolicyType string // PolicyCustom or PolicySystem
	PolicyName string
	AttachTime time.Time

	Description    string
	DefaultVersion string
	Document       string
}
