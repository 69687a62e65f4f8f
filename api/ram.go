package api

import (
	"context"
	"net/url"
	"strconv"
)

// The versions of RAM's admin API and of STS that rayfleet serves on "/".
const (
	RAMVersion = "2015-05-01"
	STSVersion = "2015-04-01"
)

// The wire types of RAM's admin API: PascalCase JSON as RAM returns it. An
// operation that answers with nothing but the request id answers with a
// CapitalRequestIDResponse.

// RAMUser is a RAM user.
type RAMUser struct {
	UserID      string `json:"UserId"`
	UserName    string `json:"UserName"`
	DisplayName string `json:"DisplayName"`
	Comments    string `json:"Comments,omitempty"`
	CreateDate  string `json:"CreateDate"`
	UpdateDate  string `json:"UpdateDate,omitempty"`
}

// UserResponse answers CreateUser, GetUser and UpdateUser.
type UserResponse struct {
	RequestID string  `json:"RequestId"`
	User      RAMUser `json:"User"`
}

// ListUsersResponse answers ListUsers.
type ListUsersResponse struct {
	RequestID   string `json:"RequestId"`
	IsTruncated bool   `json:"IsTruncated"`
	Marker      string `json:"Marker,omitempty"`
	Users       struct {
		User []RAMUser `json:"User"`
	} `json:"Users"`
}

// RAMAccessKey is a user's access key; its secret is there only when the
// key is created.
type RAMAccessKey struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret,omitempty"`
	Status          string `json:"Status"`
	CreateDate      string `json:"CreateDate"`
}

// CreateAccessKeyResponse answers CreateAccessKey.
type CreateAccessKeyResponse struct {
	RequestID string       `json:"RequestId"`
	AccessKey RAMAccessKey `json:"AccessKey"`
}

// ListAccessKeysResponse answers ListAccessKeys.
type ListAccessKeysResponse struct {
	RequestID  string `json:"RequestId"`
	AccessKeys struct {
		AccessKey []RAMAccessKey `json:"AccessKey"`
	} `json:"AccessKeys"`
}

// RAMPolicy is a policy, or in ListPoliciesForUser one attachment of it
// (AttachDate set, no AttachmentCount).
type RAMPolicy struct {
	PolicyName      string `json:"PolicyName"`
	PolicyType      string `json:"PolicyType"`
	Description     string `json:"Description"`
	DefaultVersion  string `json:"DefaultVersion"`
	CreateDate      string `json:"CreateDate,omitempty"`
	UpdateDate      string `json:"UpdateDate,omitempty"`
	AttachmentCount *int   `json:"AttachmentCount,omitempty"`
	AttachDate      string `json:"AttachDate,omitempty"`
}

// PolicyResponse answers CreatePolicy.
type PolicyResponse struct {
	RequestID string    `json:"RequestId"`
	Policy    RAMPolicy `json:"Policy"`
}

// RAMPolicyVersion is one version of a custom policy.
type RAMPolicyVersion struct {
	VersionID        string `json:"VersionId"`
	IsDefaultVersion bool   `json:"IsDefaultVersion"`
	PolicyDocument   string `json:"PolicyDocument"`
	CreateDate       string `json:"CreateDate,omitempty"`
}

// GetPolicyResponse answers GetPolicy.
type GetPolicyResponse struct {
	RequestID            string           `json:"RequestId"`
	Policy               RAMPolicy        `json:"Policy"`
	DefaultPolicyVersion RAMPolicyVersion `json:"DefaultPolicyVersion"`
}

// PolicyVersionResponse answers CreatePolicyVersion.
type PolicyVersionResponse struct {
	RequestID     string           `json:"RequestId"`
	PolicyVersion RAMPolicyVersion `json:"PolicyVersion"`
}

// ListPoliciesResponse answers ListPolicies and ListPoliciesForUser.
type ListPoliciesResponse struct {
	RequestID   string `json:"RequestId"`
	IsTruncated bool   `json:"IsTruncated"`
	Marker      string `json:"Marker,omitempty"`
	Policies    struct {
		Policy []RAMPolicy `json:"Policy"`
	} `json:"Policies"`
}

// STSCredentials are temporary credentials, in STS's Credentials shape (as
// AssumeRole answers it).
type STSCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
}

// GetSessionTokenResponse answers STS's GetSessionToken.
type GetSessionTokenResponse struct {
	RequestID   string         `json:"RequestId"`
	Credentials STSCredentials `json:"Credentials"`
}

// ram calls one operation of RAM's admin API.
func (c *Client) ram(ctx context.Context, action string, params url.Values, out any) error {
	return c.rpc(ctx, action, RAMVersion, params, out)
}

// setIf sets an optional parameter, left out when empty.
func setIf(q url.Values, key, val string) {
	if val != "" {
		q.Set(key, val)
	}
}

// page sets the paging parameters of a list; 0 items is the server's page
// size, marker "" the first page.
func page(q url.Values, marker string, maxItems int) url.Values {
	if maxItems > 0 {
		q.Set("MaxItems", strconv.Itoa(maxItems))
	}
	setIf(q, "Marker", marker)
	return q
}

// CreateUserRequest is CreateUser's parameters.
type CreateUserRequest struct {
	UserName, DisplayName, Comments string
}

// CreateUser calls CreateUser.
func (c *Client) CreateUser(ctx context.Context, req *CreateUserRequest) (*UserResponse, error) {
	q := url.Values{"UserName": {req.UserName}}
	setIf(q, "DisplayName", req.DisplayName)
	setIf(q, "Comments", req.Comments)
	var out UserResponse
	return &out, c.ram(ctx, "CreateUser", q, &out)
}

// GetUser calls GetUser.
func (c *Client) GetUser(ctx context.Context, userName string) (*UserResponse, error) {
	var out UserResponse
	return &out, c.ram(ctx, "GetUser", url.Values{"UserName": {userName}}, &out)
}

// ListUsers calls ListUsers for the page that starts at marker ("" for the
// first); maxItems 0 is the server's page size.
func (c *Client) ListUsers(ctx context.Context, marker string, maxItems int) (*ListUsersResponse, error) {
	var out ListUsersResponse
	return &out, c.ram(ctx, "ListUsers", page(url.Values{}, marker, maxItems), &out)
}

// UpdateUserRequest is UpdateUser's parameters; nil leaves a field as it is.
type UpdateUserRequest struct {
	UserName                                 string
	NewUserName, NewDisplayName, NewComments *string
}

// UpdateUser calls UpdateUser.
func (c *Client) UpdateUser(ctx context.Context, req *UpdateUserRequest) (*UserResponse, error) {
	q := url.Values{"UserName": {req.UserName}}
	for key, val := range map[string]*string{"NewUserName": req.NewUserName, "NewDisplayName": req.NewDisplayName, "NewComments": req.NewComments} {
		if val != nil {
			q.Set(key, *val)
		}
	}
	var out UserResponse
	return &out, c.ram(ctx, "UpdateUser", q, &out)
}

// DeleteUser calls DeleteUser.
func (c *Client) DeleteUser(ctx context.Context, userName string) (*CapitalRequestIDResponse, error) {
	var out CapitalRequestIDResponse
	return &out, c.ram(ctx, "DeleteUser", url.Values{"UserName": {userName}}, &out)
}

// keyParams are the parameters of an access key operation; an empty
// userName is the caller.
func keyParams(userName, accessKeyID string) url.Values {
	q := url.Values{}
	setIf(q, "UserName", userName)
	setIf(q, "UserAccessKeyId", accessKeyID)
	return q
}

// CreateAccessKey calls CreateAccessKey for a user ("" for the caller).
func (c *Client) CreateAccessKey(ctx context.Context, userName string) (*CreateAccessKeyResponse, error) {
	var out CreateAccessKeyResponse
	return &out, c.ram(ctx, "CreateAccessKey", keyParams(userName, ""), &out)
}

// ListAccessKeys calls ListAccessKeys for a user ("" for the caller).
func (c *Client) ListAccessKeys(ctx context.Context, userName string) (*ListAccessKeysResponse, error) {
	var out ListAccessKeysResponse
	return &out, c.ram(ctx, "ListAccessKeys", keyParams(userName, ""), &out)
}

// UpdateAccessKey calls UpdateAccessKey: status is Active or Inactive.
func (c *Client) UpdateAccessKey(ctx context.Context, userName, accessKeyID, status string) (*CapitalRequestIDResponse, error) {
	q := keyParams(userName, accessKeyID)
	q.Set("Status", status)
	var out CapitalRequestIDResponse
	return &out, c.ram(ctx, "UpdateAccessKey", q, &out)
}

// DeleteAccessKey calls DeleteAccessKey.
func (c *Client) DeleteAccessKey(ctx context.Context, userName, accessKeyID string) (*CapitalRequestIDResponse, error) {
	var out CapitalRequestIDResponse
	return &out, c.ram(ctx, "DeleteAccessKey", keyParams(userName, accessKeyID), &out)
}

// CreatePolicyRequest is CreatePolicy's parameters.
type CreatePolicyRequest struct {
	PolicyName, PolicyDocument, Description string
}

// CreatePolicy calls CreatePolicy.
func (c *Client) CreatePolicy(ctx context.Context, req *CreatePolicyRequest) (*PolicyResponse, error) {
	q := url.Values{"PolicyName": {req.PolicyName}, "PolicyDocument": {req.PolicyDocument}}
	setIf(q, "Description", req.Description)
	var out PolicyResponse
	return &out, c.ram(ctx, "CreatePolicy", q, &out)
}

// GetPolicy calls GetPolicy: policyType is Custom or System.
func (c *Client) GetPolicy(ctx context.Context, policyName, policyType string) (*GetPolicyResponse, error) {
	var out GetPolicyResponse
	return &out, c.ram(ctx, "GetPolicy", url.Values{"PolicyName": {policyName}, "PolicyType": {policyType}}, &out)
}

// ListPolicies calls ListPolicies: policyType "" lists both kinds.
func (c *Client) ListPolicies(ctx context.Context, policyType, marker string, maxItems int) (*ListPoliciesResponse, error) {
	q := page(url.Values{}, marker, maxItems)
	setIf(q, "PolicyType", policyType)
	var out ListPoliciesResponse
	return &out, c.ram(ctx, "ListPolicies", q, &out)
}

// DeletePolicy calls DeletePolicy.
func (c *Client) DeletePolicy(ctx context.Context, policyName string) (*CapitalRequestIDResponse, error) {
	var out CapitalRequestIDResponse
	return &out, c.ram(ctx, "DeletePolicy", url.Values{"PolicyName": {policyName}}, &out)
}

// CreatePolicyVersionRequest is CreatePolicyVersion's parameters.
type CreatePolicyVersionRequest struct {
	PolicyName, PolicyDocument string
	SetAsDefault               bool
	RotateStrategy             string
}

// CreatePolicyVersion calls CreatePolicyVersion.
func (c *Client) CreatePolicyVersion(ctx context.Context, req *CreatePolicyVersionRequest) (*PolicyVersionResponse, error) {
	q := url.Values{"PolicyName": {req.PolicyName}, "PolicyDocument": {req.PolicyDocument}, "SetAsDefault": {strconv.FormatBool(req.SetAsDefault)}}
	setIf(q, "RotateStrategy", req.RotateStrategy)
	var out PolicyVersionResponse
	return &out, c.ram(ctx, "CreatePolicyVersion", q, &out)
}

func attachParams(policyType, policyName, userName string) url.Values {
	return url.Values{"PolicyType": {policyType}, "PolicyName": {policyName}, "UserName": {userName}}
}

// AttachPolicyToUser calls AttachPolicyToUser.
func (c *Client) AttachPolicyToUser(ctx context.Context, policyType, policyName, userName string) (*CapitalRequestIDResponse, error) {
	var out CapitalRequestIDResponse
	return &out, c.ram(ctx, "AttachPolicyToUser", attachParams(policyType, policyName, userName), &out)
}

// DetachPolicyFromUser calls DetachPolicyFromUser.
func (c *Client) DetachPolicyFromUser(ctx context.Context, policyType, policyName, userName string) (*CapitalRequestIDResponse, error) {
	var out CapitalRequestIDResponse
	return &out, c.ram(ctx, "DetachPolicyFromUser", attachParams(policyType, policyName, userName), &out)
}

// ListPoliciesForUser calls ListPoliciesForUser.
func (c *Client) ListPoliciesForUser(ctx context.Context, userName string) (*ListPoliciesResponse, error) {
	var out ListPoliciesResponse
	return &out, c.ram(ctx, "ListPoliciesForUser", url.Values{"UserName": {userName}}, &out)
}
