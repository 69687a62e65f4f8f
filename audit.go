package rayfleet

import "time"

// AuditEvent is one entry of an account's audit log: a call that changed or
// tried to change something, or any call refused by a policy.
type AuditEvent struct {
	AccountID   string
	Time        time.Time
	RequestID   string
	UserUID     string
	UserName    string
	AccessKeyID string
	Action      string // "emr-serverless-spark:CreateRayCluster", "ram:CreateUser"...
	Resource    string // the ARN authorized, or "*"
	SourceIP    string
	Result      string // "OK" or the error code answered
	Message     string // the error message answered; "" on success, or what a data-plane request was
}
