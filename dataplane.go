package rayfleet

import "time"

// DataPlaneToken is a credential for a cluster's data plane, the dashboard,
// job API and Ray client endpoint the gateway serves: one user's, handed to
// it by an API call signed with one access key, for one instance of one
// cluster, until it expires. The gateway finds it by the SHA-256 of the
// token and checks on every request that the instance is still the
// cluster's, the key and the user still there and active, and the user's
// policies still allowing the door. TokenSealed is the token itself, sealed
// under the server's master key, so that GetRayCluster shows the same
// token again rather than minting one per call.
type DataPlaneToken struct {
	TokenHash   string // hex SHA-256 of the token
	TokenSealed []byte
	AccountID   string
	UserUID     string
	// AccessKeyID is the key that signed the call that got it: an
	// access key, or a temporary (STS) key id, whose session ParentKeyID
	// (the access key that asked for it) and SessionPolicy narrow it as
	// they narrow the session.
	AccessKeyID   string
	ParentKeyID   string
	SessionPolicy string
	WorkspaceID   string
	ClusterID     string
	InstanceID    string
	CreateTime    time.Time
	ExpireTime    time.Time
}

// Fresh reports whether t is still worth handing out at now: unexpired,
// with at least half of the lifetime it was made with left, so that a
// caller never gets a token about to expire.
func (t DataPlaneToken) Fresh(now time.Time) bool {
	return now.Before(t.ExpireTime) && 2*t.ExpireTime.Sub(now) >= t.ExpireTime.Sub(t.CreateTime)
}
