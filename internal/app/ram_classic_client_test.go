package app

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	classic "github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ram"
)

// classicRAM is the unmodified classic official Go SDK's RAM client,
// pointed at addr over plain HTTP. It signs every RPC call with the legacy
// RPC HMAC-SHA1 scheme (the Signature parameter): it has no other for RPC.
func classicRAM(t *testing.T, addr, ak, secret string) *ram.Client {
	t.Helper()
	return classicRAMWith(t, addr, credentials.NewAccessKeyCredential(ak, secret))
}

func classicConfig() *classic.Config {
	cfg := classic.NewConfig()
	cfg.Scheme = "HTTP"
	cfg.AutoRetry = false
	return cfg
}

func classicRAMWith(t *testing.T, addr string, cred auth.Credential) *ram.Client {
	t.Helper()
	c, err := ram.NewClientWithOptions("cn-hangzhou", classicConfig(), cred)
	if err != nil {
		t.Fatal(err)
	}
	// The endpoint a user of a self-hosted server sets; without it the
	// client would look RAM's up in its endpoint tables.
	c.Domain = addr
	return c
}

// wantServerError checks the error the classic client raised for an API
// error body.
func wantServerError(t *testing.T, err error, code string, status int, inMessage string) {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want an API error %s, got %T %v", code, err, err)
	}
	if se.ErrorCode() != code || se.HttpStatus() != status || !strings.Contains(se.Message(), inMessage) || len(se.RequestId()) != 36 {
		t.Fatalf("got %d %s %q (request %q), want %d %s containing %q", se.HttpStatus(), se.ErrorCode(), se.Message(), se.RequestId(), status, code, inMessage)
	}
}

// TestRAMThroughClassicOfficialClient administers a RAM user through the
// classic official SDK (github.com/aliyun/alibaba-cloud-sdk-go), whose RPC
// calls carry the legacy RPC signature, against a real server; the user's
// new key then signs the same way.
func TestRAMThroughClassicOfficialClient(t *testing.T) {
	// The client honours HTTP_PROXY even for 127.0.0.1.
	t.Setenv("HTTP_PROXY", "")
	t.Setenv("http_proxy", "")
	srv, cred := testServer(t)
	root := classicRAM(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret)

	cu := ram.CreateCreateUserRequest()
	cu.UserName, cu.DisplayName, cu.Comments = "alice", "Alice Liddell", "a b*c~ d+e/f 中"
	created, err := root.CreateUser(cu)
	if err != nil {
		t.Fatal(err)
	}
	if u := created.User; u.UserName != "alice" || u.DisplayName != "Alice Liddell" || u.Comments != "a b*c~ d+e/f 中" || len(u.UserId) != 18 || len(created.RequestId) != 36 {
		t.Fatalf("CreateUser = %+v", created)
	}
	_, err = root.CreateUser(cu)
	wantServerError(t, err, "EntityAlreadyExists.User", 409, "alice")

	gu := ram.CreateGetUserRequest()
	gu.UserName = "alice"
	got, err := root.GetUser(gu)
	if err != nil {
		t.Fatal(err)
	}
	if got.User.UserId != created.User.UserId || got.User.UpdateDate == "" {
		t.Fatalf("GetUser = %+v", got.User)
	}
	gu.UserName = "nobody"
	_, err = root.GetUser(gu)
	wantServerError(t, err, "EntityNotExist.User", 404, "nobody")

	lu, err := root.ListUsers(ram.CreateListUsersRequest())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range lu.Users.User {
		names = append(names, u.UserName)
	}
	if strings.Join(names, ",") != "root,alice" && strings.Join(names, ",") != "alice,root" || lu.IsTruncated {
		t.Fatalf("ListUsers = %v (truncated %v), want root and alice", names, lu.IsTruncated)
	}

	ck := ram.CreateCreateAccessKeyRequest()
	ck.UserName = "alice"
	key, err := root.CreateAccessKey(ck)
	if err != nil {
		t.Fatal(err)
	}
	if key.AccessKey.AccessKeyId == "" || key.AccessKey.AccessKeySecret == "" || key.AccessKey.Status != "Active" {
		t.Fatalf("CreateAccessKey = %+v", key.AccessKey)
	}
	alice := classicRAM(t, srv.Addr, key.AccessKey.AccessKeyId, key.AccessKey.AccessKeySecret)
	_, err = alice.ListUsers(ram.CreateListUsersRequest())
	wantServerError(t, err, "Forbidden.RAM", 403, "ram:ListUsers")

	cp := ram.CreateCreatePolicyRequest()
	cp.PolicyName, cp.Description = "ram-reader", "reads users"
	cp.PolicyDocument = `{"Version":"1","Statement":[{"Effect":"Allow","Action":["ram:ListUsers","ram:GetUser"],"Resource":"*"}]}`
	pol, err := root.CreatePolicy(cp)
	if err != nil {
		t.Fatal(err)
	}
	if p := pol.Policy; p.PolicyName != "ram-reader" || p.PolicyType != "Custom" || p.DefaultVersion != "v1" || p.Description != "reads users" {
		t.Fatalf("CreatePolicy = %+v", p)
	}
	ap := ram.CreateAttachPolicyToUserRequest()
	ap.PolicyType, ap.PolicyName, ap.UserName = "Custom", "ram-reader", "alice"
	if _, err := root.AttachPolicyToUser(ap); err != nil {
		t.Fatal(err)
	}
	lp := ram.CreateListPoliciesForUserRequest()
	lp.UserName = "alice"
	pols, err := root.ListPoliciesForUser(lp)
	if err != nil {
		t.Fatal(err)
	}
	if ps := pols.Policies.Policy; len(ps) != 1 || ps[0].PolicyName != "ram-reader" || ps[0].PolicyType != "Custom" || ps[0].AttachDate == "" {
		t.Fatalf("ListPoliciesForUser = %+v", pols.Policies)
	}
	// The policy lets alice's own key, signed the same way, list users.
	if lu, err := alice.ListUsers(ram.CreateListUsersRequest()); err != nil || len(lu.Users.User) != 2 {
		t.Fatalf("ListUsers as alice: %+v, %v", lu, err)
	}

	// A wrong secret: the server's string to sign is the RPC one.
	wrong := classicRAM(t, srv.Addr, cred.AccessKeyID, "not-"+cred.AccessKeySecret)
	du := ram.CreateDeleteUserRequest()
	du.UserName = "alice"
	_, err = wrong.DeleteUser(du)
	wantServerError(t, err, "SignatureDoesNotMatch", 400, "The string to sign the server computed is: POST&%2F&AccessKeyId%3D"+cred.AccessKeyID)

	// DeleteUser is refused while alice has a key, then served.
	_, err = root.DeleteUser(du)
	wantServerError(t, err, "DeleteConflict.User.AccessKey", 409, "")
	dk := ram.CreateDeleteAccessKeyRequest()
	dk.UserName, dk.UserAccessKeyId = "alice", key.AccessKey.AccessKeyId
	if _, err := root.DeleteAccessKey(dk); err != nil {
		t.Fatal(err)
	}
	dp := ram.CreateDetachPolicyFromUserRequest()
	dp.PolicyType, dp.PolicyName, dp.UserName = "Custom", "ram-reader", "alice"
	if _, err := root.DetachPolicyFromUser(dp); err != nil {
		t.Fatal(err)
	}
	deleted, err := root.DeleteUser(du)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted.RequestId) != 36 {
		t.Fatalf("DeleteUser = %+v", deleted)
	}
	gu.UserName = "alice"
	_, err = root.GetUser(gu)
	wantServerError(t, err, "EntityNotExist.User", 404, "alice")
}

// TestRAMThroughOfficialClientRPCSignature: the newer official client,
// asked for signature algorithm v2, signs RPC calls with the same legacy
// RPC scheme.
func TestRAMThroughOfficialClientRPCSignature(t *testing.T) {
	t.Setenv("HTTP_PROXY", "")
	t.Setenv("http_proxy", "")
	srv, cred := testServer(t)
	legacy := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, true)
	u := ramMust(legacy, "CreateUser", map[string]string{"UserName": "bob", "Comments": "a b*c~ 中"})
	if str(obj(u, "User"), "UserName") != "bob" || str(obj(u, "User"), "Comments") != "a b*c~ 中" {
		t.Fatalf("CreateUser = %v", u)
	}
	if g := ramMust(legacy, "GetUser", map[string]string{"UserName": "bob"}); str(obj(g, "User"), "UserName") != "bob" {
		t.Fatalf("GetUser = %v", g)
	}
	wrong := newSDK(t, srv.Addr, cred.AccessKeyID, "not-"+cred.AccessKeySecret, true)
	_, err := ramCall(wrong, "DeleteUser", map[string]string{"UserName": "bob"})
	wantErr(t, err, "SignatureDoesNotMatch", 400, "POST&%2F&")
	ramMust(legacy, "GetUser", map[string]string{"UserName": "bob"})
}

// TestRAMThroughClassicOfficialClientSTS: temporary credentials, asked for
// through the classic client's common request, sign its RAM calls with the
// SecurityToken parameter.
func TestRAMThroughClassicOfficialClientSTS(t *testing.T) {
	t.Setenv("HTTP_PROXY", "")
	t.Setenv("http_proxy", "")
	srv, cred := testServer(t)
	c, err := classic.NewClientWithOptions("cn-hangzhou", classicConfig(), credentials.NewAccessKeyCredential(cred.AccessKeyID, cred.AccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	req := requests.NewCommonRequest()
	req.Method, req.Scheme, req.Domain = "POST", "http", srv.Addr
	req.Product, req.Version, req.ApiName = "Sts", "2015-04-01", "GetSessionToken"
	req.QueryParams["DurationSeconds"] = "900"
	resp, err := c.ProcessCommonRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	var session struct {
		Credentials struct {
			AccessKeyID     string `json:"AccessKeyId"`
			AccessKeySecret string
			SecurityToken   string
		}
	}
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &session); err != nil || !strings.HasPrefix(session.Credentials.AccessKeyID, "STS.") {
		t.Fatalf("GetSessionToken = %s (%v)", resp.GetHttpContentString(), err)
	}
	sc := session.Credentials
	withToken := classicRAMWith(t, srv.Addr, credentials.NewStsTokenCredential(sc.AccessKeyID, sc.AccessKeySecret, sc.SecurityToken))
	lu, err := withToken.ListUsers(ram.CreateListUsersRequest())
	if err != nil || len(lu.Users.User) != 1 || lu.Users.User[0].UserName != "root" {
		t.Fatalf("ListUsers with the session: %+v, %v", lu, err)
	}
	// The token is signed: another one fails the signature or the token check.
	other := classicRAMWith(t, srv.Addr, credentials.NewStsTokenCredential(sc.AccessKeyID, sc.AccessKeySecret, sc.SecurityToken+"x"))
	_, err = other.ListUsers(ram.CreateListUsersRequest())
	wantServerError(t, err, "InvalidSecurityToken", 400, "")
	noToken := classicRAM(t, srv.Addr, sc.AccessKeyID, sc.AccessKeySecret)
	_, err = noToken.ListUsers(ram.CreateListUsersRequest())
	wantServerError(t, err, "InvalidSecurityToken", 400, "")
}
