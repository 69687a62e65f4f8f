package httpapi

import (
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

// The wire types of RAM's admin API: PascalCase JSON as RAM returns it.

type ramEmptyResponse struct {
	RequestID string `json:"RequestId"`
}

type ramUser struct {
	UserID      string `json:"UserId"`
	UserName    string `json:"UserName"`
	DisplayName string `json:"DisplayName"`
	Comments    string `json:"Comments,omitempty"`
	CreateDate  string `json:"CreateDate"`
	UpdateDate  string `json:"UpdateDate,omitempty"`
}

type ramUserResponse struct {
	RequestID string  `json:"RequestId"`
	User      ramUser `json:"User"`
}

type ramListUsersResponse struct {
	RequestID   string `json:"RequestId"`
	IsTruncated bool   `json:"IsTruncated"`
	Marker      string `json:"Marker,omitempty"`
	Users       struct {
		User []ramUser `json:"User"`
	} `json:"Users"`
}

type ramAccessKey struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret,omitempty"`
	Status          string `json:"Status"`
	CreateDate      string `json:"CreateDate"`
}

type ramCreateAccessKeyResponse struct {
	RequestID string       `json:"RequestId"`
	AccessKey ramAccessKey `json:"AccessKey"`
}

type ramListAccessKeysResponse struct {
	RequestID  string `json:"RequestId"`
	AccessKeys struct {
		AccessKey []ramAccessKey `json:"AccessKey"`
	} `json:"AccessKeys"`
}

type ramPolicy struct {
	PolicyName      string `json:"PolicyName"`
	PolicyType      string `json:"PolicyType"`
	Description     string `json:"Description"`
	DefaultVersion  string `json:"DefaultVersion"`
	CreateDate      string `json:"CreateDate,omitempty"`
	UpdateDate      string `json:"UpdateDate,omitempty"`
	AttachmentCount *int   `json:"AttachmentCount,omitempty"`
	AttachDate      string `json:"AttachDate,omitempty"`
}

type ramPolicyResponse struct {
	RequestID string    `json:"RequestId"`
	Policy    ramPolicy `json:"Policy"`
}

type ramPolicyVersion struct {
	VersionID        string `json:"VersionId"`
	IsDefaultVersion bool   `json:"IsDefaultVersion"`
	PolicyDocument   string `json:"PolicyDocument"`
	CreateDate       string `json:"CreateDate,omitempty"`
}

type ramGetPolicyResponse struct {
	RequestID            string           `json:"RequestId"`
	Policy               ramPolicy        `json:"Policy"`
	DefaultPolicyVersion ramPolicyVersion `json:"DefaultPolicyVersion"`
}

type ramPolicyVersionResponse struct {
	RequestID     string           `json:"RequestId"`
	PolicyVersion ramPolicyVersion `json:"PolicyVersion"`
}

type ramListPoliciesResponse struct {
	RequestID   string `json:"RequestId"`
	IsTruncated bool   `json:"IsTruncated"`
	Marker      string `json:"Marker,omitempty"`
	Policies    struct {
		Policy []ramPolicy `json:"Policy"`
	} `json:"Policies"`
}

// ramDate is RAM's time format, e.g. 2015-01-23T12:33:18Z; "" for a time
// not known (the built-in system policies have none).
func ramDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func ramUserOf(u rayfleet.User, withUpdate bool) ramUser {
	out := ramUser{UserID: u.UID, UserName: u.Name, DisplayName: u.Nickname, Comments: u.Comments, CreateDate: ramDate(u.CreateTime)}
	if withUpdate {
		out.UpdateDate = ramDate(u.UpdateTime)
	}
	return out
}

func ramPolicyOf(p service.PolicyInfo) ramPolicy {
	n := p.AttachmentCount
	return ramPolicy{
		PolicyName: p.Name, PolicyType: p.Type, Description: p.Description, DefaultVersion: p.DefaultVersion,
		CreateDate: ramDate(p.CreateTime), UpdateDate: ramDate(p.UpdateTime), AttachmentCount: &n,
	}
}
