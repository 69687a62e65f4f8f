package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/rayfleet/rayfleet/internal/cli"
)

// ramCall calls RAM's admin API through the unmodified official client,
// with Params exactly as the RAM SDK (ram-20150501) sets them: RPC style,
// parameters in the query.
func ramCall(c *sdk, action string, query map[string]string) (map[string]any, error) {
	params := &openapi.Params{
		Action: dara.String(action), Version: dara.String("2015-05-01"), Protocol: dara.String("HTTPS"),
		Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"),
		Style: dara.String("RPC"), ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	req := &openapi.OpenApiRequest{Query: map[string]*string{}}
	for k, v := range query {
		req.Query[k] = dara.String(v)
	}
	resp, err := c.client.CallApi(params, req, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	if code := fmt.Sprint(resp["statusCode"]); code != "200" {
		c.t.Fatalf("%s: status %v", action, resp["statusCode"])
	}
	b, _ := resp["body"].(map[string]any)
	return b, nil
}

func ramMust(c *sdk, action string, query map[string]string) map[string]any {
	c.t.Helper()
	b, err := ramCall(c, action, query)
	if err != nil {
		c.t.Fatalf("%s %v: %v", action, query, err)
	}
	if id := str(b, "RequestId"); len(id) != 36 {
		c.t.Fatalf("%s: no RequestId in %v", action, b)
	}
	return b
}

// errorBody returns the JSON error body the client raised err with.
func errorBody(t *testing.T, err error) map[string]any {
	t.Helper()
	var te *tea.SDKError
	if !errors.As(err, &te) {
		t.Fatalf("want an API error, got %T %v", err, err)
	}
	var body map[string]any
	if e := json.Unmarshal([]byte(dara.StringValue(te.Data)), &body); e != nil {
		t.Fatalf("error data is not the error body: %v", e)
	}
	return body
}

// wantDenied checks a Forbidden.RAM refusal and its AccessDeniedDetail.
func wantDenied(t *testing.T, err error, action, resource, noPermission string) {
	t.Helper()
	wantErr(t, err, "Forbidden.RAM", 403, action)
	d, _ := errorBody(t, err)["AccessDeniedDetail"].(map[string]any)
	if str(d, "AuthAction") != action || str(d, "NoPermissionType") != noPermission ||
		(resource != "" && str(d, "AuthResource") != resource) {
		t.Fatalf("AccessDeniedDetail = %v, want %s on %s (%s)", d, action, resource, noPermission)
	}
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		m, _ = m[k].(map[string]any)
	}
	return m
}

func list(m map[string]any, path ...string) []any {
	last := path[len(path)-1]
	l, _ := obj(m, path[:len(path)-1]...)[last].([]any)
	return l
}

// TestRAMThroughOfficialClient administers a RAM user through the RAM API
// and then acts as that user on the product's API: policies allow, deny and
// filter, the user's clusters carry the user, a disabled key is refused at
// once.
func TestRAMThroughOfficialClient(t *testing.T) {
	srv, cred := testServer(t)
	root := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, false)
	ws := cred.WorkspaceID

	// Users.
	u := ramMust(root, "CreateUser", map[string]string{"UserName": "alice", "DisplayName": "Alice Liddell", "Comments": "data scientist"})
	user := obj(u, "User")
	uid := str(user, "UserId")
	if len(uid) != 18 || str(user, "UserName") != "alice" || str(user, "DisplayName") != "Alice Liddell" ||
		str(user, "Comments") != "data scientist" || !strings.HasSuffix(str(user, "CreateDate"), "Z") {
		t.Fatalf("CreateUser = %v", u)
	}
	_, err := ramCall(root, "CreateUser", map[string]string{"UserName": "alice"})
	wantErr(t, err, "EntityAlreadyExists.User", 409, "alice")
	_, err = ramCall(root, "CreateUser", map[string]string{"UserName": "no spaces"})
	wantErr(t, err, "InvalidParameter", 400, "UserName")
	g := ramMust(root, "GetUser", map[string]string{"UserName": "alice"})
	if str(obj(g, "User"), "UserId") != uid || str(obj(g, "User"), "UpdateDate") == "" {
		t.Fatalf("GetUser = %v", g)
	}
	_, err = ramCall(root, "GetUser", map[string]string{"UserName": "nobody"})
	wantErr(t, err, "EntityNotExist.User", 404, "nobody")
	up := ramMust(root, "UpdateUser", map[string]string{"UserName": "alice", "NewDisplayName": "Alice L."})
	if str(obj(up, "User"), "DisplayName") != "Alice L." || str(obj(up, "User"), "UserName") != "alice" {
		t.Fatalf("UpdateUser = %v", up)
	}
	lu := ramMust(root, "ListUsers", nil)
	if users := list(lu, "Users", "User"); len(users) != 2 || lu["IsTruncated"] != false {
		t.Fatalf("ListUsers = %v (want root and alice)", lu)
	}
	page := ramMust(root, "ListUsers", map[string]string{"MaxItems": "1"})
	if len(list(page, "Users", "User")) != 1 || page["IsTruncated"] != true || str(page, "Marker") == "" {
		t.Fatalf("ListUsers page 1 = %v", page)
	}
	page = ramMust(root, "ListUsers", map[string]string{"MaxItems": "1", "Marker": str(page, "Marker")})
	if users := list(page, "Users", "User"); len(users) != 1 || str(users[0].(map[string]any), "UserName") != "alice" || page["IsTruncated"] != false {
		t.Fatalf("ListUsers page 2 = %v", page)
	}

	// Alice's key: the secret is shown once.
	k := ramMust(root, "CreateAccessKey", map[string]string{"UserName": "alice"})
	keyID, secret := str(obj(k, "AccessKey"), "AccessKeyId"), str(obj(k, "AccessKey"), "AccessKeySecret")
	if keyID == "" || secret == "" || str(obj(k, "AccessKey"), "Status") != "Active" {
		t.Fatalf("CreateAccessKey = %v", k)
	}
	lk := ramMust(root, "ListAccessKeys", map[string]string{"UserName": "alice"})
	keys := list(lk, "AccessKeys", "AccessKey")
	if len(keys) != 1 || str(keys[0].(map[string]any), "AccessKeyId") != keyID || str(keys[0].(map[string]any), "AccessKeySecret") != "" {
		t.Fatalf("ListAccessKeys = %v", lk)
	}
	alice := newSDK(t, srv.Addr, keyID, secret, false)

	// Two clusters by the root user.
	mk := func(c *sdk, name string) (string, error) {
		b, err := c.call("CreateRayCluster", "POST", wsPath(ws, "rayCluster"), nil, map[string]any{"name": name})
		return str(b, "clusterId"), err
	}
	open, err := mk(root, "open")
	if err != nil {
		t.Fatal(err)
	}
	secretCluster, err := mk(root, "secret")
	if err != nil {
		t.Fatal(err)
	}

	// No policy yet: everything is denied.
	_, err = alice.call("ListRayCluster", "GET", wsPath(ws, "rayCluster"), nil, nil)
	wantDenied(t, err, "emr-serverless-spark:ListRayCluster", "", "ImplicitDeny")
	_, err = ramCall(alice, "ListUsers", nil)
	wantDenied(t, err, "ram:ListUsers", "", "ImplicitDeny")

	// A policy: read every cluster but the secret one.
	secretARN := "acs:emr-serverless-spark:*:*:workspace/" + ws + "/raycluster/" + secretCluster
	doc := `{"Version":"1","Statement":[` +
		`{"Effect":"Allow","Action":["emr-serverless-spark:ListRayCluster","emr-serverless-spark:GetRayCluster"],"Resource":"*"},` +
		`{"Effect":"Deny","Action":"emr-serverless-spark:*RayCluster","Resource":"` + secretARN + `"}]}`
	cp := ramMust(root, "CreatePolicy", map[string]string{"PolicyName": "ray-reader", "PolicyDocument": doc, "Description": "read Ray clusters"})
	if p := obj(cp, "Policy"); str(p, "PolicyName") != "ray-reader" || str(p, "PolicyType") != "Custom" || str(p, "DefaultVersion") != "v1" {
		t.Fatalf("CreatePolicy = %v", cp)
	}
	_, err = ramCall(root, "CreatePolicy", map[string]string{"PolicyName": "broken", "PolicyDocument": `{"Version":"1"}`})
	wantErr(t, err, "MalformedPolicyDocument", 400, "Statement")
	ramMust(root, "AttachPolicyToUser", map[string]string{"PolicyType": "Custom", "PolicyName": "ray-reader", "UserName": "alice"})
	_, err = ramCall(root, "AttachPolicyToUser", map[string]string{"PolicyType": "Custom", "PolicyName": "ray-reader", "UserName": "alice"})
	wantErr(t, err, "EntityAlreadyExists.User.Policy", 409, "ray-reader")
	gp := ramMust(root, "GetPolicy", map[string]string{"PolicyName": "ray-reader", "PolicyType": "Custom"})
	if num(obj(gp, "Policy"), "AttachmentCount") != 1 || str(obj(gp, "DefaultPolicyVersion"), "PolicyDocument") != doc ||
		obj(gp, "DefaultPolicyVersion")["IsDefaultVersion"] != true {
		t.Fatalf("GetPolicy = %v", gp)
	}

	l := alice.must("ListRayCluster", "GET", wsPath(ws, "rayCluster"), nil, nil)
	items, _ := l["rayClusters"].([]any)
	if len(items) != 1 || str(items[0].(map[string]any), "clusterId") != open || num(l, "totalCount") != 1 {
		t.Fatalf("alice's ListRayCluster = %v, want only %s", l, open)
	}
	if g := alice.must("GetRayCluster", "GET", wsPath(ws, "rayCluster", open), nil, nil); str(g, "clusterId") != open {
		t.Fatalf("alice's GetRayCluster = %v", g)
	}
	_, err = alice.call("GetRayCluster", "GET", wsPath(ws, "rayCluster", secretCluster), nil, nil)
	wantDenied(t, err, "emr-serverless-spark:GetRayCluster", "acs:emr-serverless-spark:"+srv.Config.RegionID+":"+cred.UserID+":workspace/"+ws+"/raycluster/"+secretCluster, "ExplicitDeny")
	_, err = mk(alice, "mine")
	wantDenied(t, err, "emr-serverless-spark:CreateRayCluster", "acs:emr-serverless-spark:"+srv.Config.RegionID+":"+cred.UserID+":workspace/"+ws, "ImplicitDeny")

	// The full-access system policy lets alice create; the cluster is hers.
	ramMust(root, "AttachPolicyToUser", map[string]string{"PolicyType": "System", "PolicyName": "AliyunEMRServerlessSparkFullAccess", "UserName": "alice"})
	mine, err := mk(alice, "mine")
	if err != nil {
		t.Fatalf("CreateRayCluster with full access: %v", err)
	}
	got := alice.must("GetRayCluster", "GET", wsPath(ws, "rayCluster", mine), nil, nil)
	if str(got, "creator") != uid || str(got, "creatorName") != "Alice L." {
		t.Fatalf("alice's cluster: creator %q (%q), want %s (Alice L.)", str(got, "creator"), str(got, "creatorName"), uid)
	}
	// Reading the audit log is the root user's (or actiontrail:LookupEvents).
	_, err = alice.call("ListAuditEvents", "GET", "/api/v1/auditEvents", nil, nil)
	wantDenied(t, err, "actiontrail:LookupEvents", "*", "ImplicitDeny")
	// The Deny still wins over the system policy's Allow.
	_, err = alice.call("GetRayCluster", "GET", wsPath(ws, "rayCluster", secretCluster), nil, nil)
	wantDenied(t, err, "emr-serverless-spark:GetRayCluster", "", "ExplicitDeny")
	lp := ramMust(root, "ListPoliciesForUser", map[string]string{"UserName": "alice"})
	if pols := list(lp, "Policies", "Policy"); len(pols) != 2 || str(pols[0].(map[string]any), "PolicyName") != "ray-reader" ||
		str(pols[1].(map[string]any), "PolicyType") != "System" || str(pols[1].(map[string]any), "AttachDate") == "" {
		t.Fatalf("ListPoliciesForUser = %v", lp)
	}

	// A new default version applies at once: without the Deny, alice sees
	// the secret cluster.
	ramMust(root, "DetachPolicyFromUser", map[string]string{"PolicyType": "System", "PolicyName": "AliyunEMRServerlessSparkFullAccess", "UserName": "alice"})
	v2 := `{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:*RayCluster","Resource":"*"}]}`
	pv := ramMust(root, "CreatePolicyVersion", map[string]string{"PolicyName": "ray-reader", "PolicyDocument": v2, "SetAsDefault": "true"})
	if str(obj(pv, "PolicyVersion"), "VersionId") != "v2" || obj(pv, "PolicyVersion")["IsDefaultVersion"] != true {
		t.Fatalf("CreatePolicyVersion = %v", pv)
	}
	if l := alice.must("ListRayCluster", "GET", wsPath(ws, "rayCluster"), nil, nil); num(l, "totalCount") != 3 {
		t.Fatalf("ListRayCluster under v2 = %v, want all 3 clusters", l)
	}
	lps := ramMust(root, "ListPolicies", map[string]string{"PolicyType": "Custom"})
	if pols := list(lps, "Policies", "Policy"); len(pols) != 1 || str(pols[0].(map[string]any), "DefaultVersion") != "v2" {
		t.Fatalf("ListPolicies Custom = %v", lps)
	}
	lps = ramMust(root, "ListPolicies", map[string]string{"PolicyType": "System"})
	var names []string
	for _, p := range list(lps, "Policies", "Policy") {
		names = append(names, str(p.(map[string]any), "PolicyName"))
	}
	if joined := strings.Join(names, ","); !strings.Contains(joined, "AliyunEMRServerlessSparkFullAccess") || !strings.Contains(joined, "AliyunEmrServerlessSparkReadOnlyAccess") {
		t.Fatalf("system policies = %v", names)
	}

	// Disabling the key refuses it at once; enabling brings it back.
	ramMust(root, "UpdateAccessKey", map[string]string{"UserName": "alice", "UserAccessKeyId": keyID, "Status": "Inactive"})
	_, err = alice.call("ListRayCluster", "GET", wsPath(ws, "rayCluster"), nil, nil)
	wantErr(t, err, "InvalidAccessKeyId.Inactive", 400, "disabled")
	ramMust(root, "UpdateAccessKey", map[string]string{"UserName": "alice", "UserAccessKeyId": keyID, "Status": "Active"})
	alice.must("ListRayCluster", "GET", wsPath(ws, "rayCluster"), nil, nil)

	// Removing alice: keys and policies first.
	_, err = ramCall(root, "DeleteUser", map[string]string{"UserName": "alice"})
	wantErr(t, err, "DeleteConflict.User.AccessKey", 409, "alice")
	ramMust(root, "DeleteAccessKey", map[string]string{"UserName": "alice", "UserAccessKeyId": keyID})
	_, err = alice.call("ListRayCluster", "GET", wsPath(ws, "rayCluster"), nil, nil)
	wantErr(t, err, "InvalidAccessKeyId.NotFound", 404, "not found")
	_, err = ramCall(root, "DeletePolicy", map[string]string{"PolicyName": "ray-reader"})
	wantErr(t, err, "DeleteConflict.Policy.User", 409, "ray-reader")
	_, err = ramCall(root, "DeleteUser", map[string]string{"UserName": "alice"})
	wantErr(t, err, "DeleteConflict.User.Policy", 409, "alice")
	ramMust(root, "DetachPolicyFromUser", map[string]string{"PolicyType": "Custom", "PolicyName": "ray-reader", "UserName": "alice"})
	ramMust(root, "DeletePolicy", map[string]string{"PolicyName": "ray-reader"})
	ramMust(root, "DeleteUser", map[string]string{"UserName": "alice"})
	_, err = ramCall(root, "GetUser", map[string]string{"UserName": "alice"})
	wantErr(t, err, "EntityNotExist.User", 404, "alice")

	// The audit log holds alice's refusals and changes, not her reads.
	al := root.must("ListAuditEvents", "GET", "/api/v1/auditEvents", map[string]string{"userName": "alice", "maxResults": "1000"}, nil)
	var seen []string
	for _, x := range al["events"].([]any) {
		e := x.(map[string]any)
		if str(e, "userId") != uid || str(e, "accessKeyId") != keyID || str(e, "sourceIp") != "127.0.0.1" || len(str(e, "requestId")) != 36 || str(e, "eventTime") == "" {
			t.Fatalf("audit event %v: not alice's call from 127.0.0.1", e)
		}
		seen = append(seen, str(e, "action")+" "+str(e, "result")+" "+str(e, "resource"))
	}
	wsARN := "acs:emr-serverless-spark:" + srv.Config.RegionID + ":" + cred.UserID + ":workspace/" + ws
	for _, want := range []string{
		"emr-serverless-spark:CreateRayCluster OK " + wsARN,
		"emr-serverless-spark:CreateRayCluster Forbidden.RAM " + wsARN,
		"emr-serverless-spark:GetRayCluster Forbidden.RAM " + wsARN + "/raycluster/" + secretCluster,
		"ram:ListUsers Forbidden.RAM acs:ram:*:" + cred.UserID + ":user/*",
		"actiontrail:LookupEvents Forbidden.RAM *",
	} {
		if !slices.Contains(seen, want) {
			t.Fatalf("audit log of alice lacks %q:\n%s", want, strings.Join(seen, "\n"))
		}
	}
	for _, e := range seen {
		if strings.Contains(e, " OK ") && !strings.Contains(e, "CreateRayCluster") {
			t.Fatalf("audit log holds a successful read or a call alice did not make: %q", e)
		}
	}
	rl := root.must("ListAuditEvents", "GET", "/api/v1/auditEvents", map[string]string{"action": "ram:CreateUser", "result": "OK"}, nil)
	if evs := rl["events"].([]any); len(evs) != 1 || str(evs[0].(map[string]any), "resource") != "acs:ram:*:"+cred.UserID+":user/alice" {
		t.Fatalf("root's CreateUser in the audit log: %v", rl)
	}

	// An operation this server does not serve.
	_, err = ramCall(root, "CreateGroup", map[string]string{"GroupName": "g"})
	wantErr(t, err, "UnsupportedOperation", 404, "")
}

// TestRAMWithCLI administers a user through the CLI's user, key, policy and
// audit commands against a real server, and acts as that user.
func TestRAMWithCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	env := map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "config.json"), "HOME": dir}
	srv, err := Start(context.Background(), cfg, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	defer killNodes(t)
	cred := readCredentials(t, cfg.DataDir)
	var asUser map[string]string // extra environment: another user's key
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		getenv := func(k string) string {
			if v, ok := asUser[k]; ok {
				return v
			}
			return env[k]
		}
		code := cli.Run(context.Background(), cli.Env{Args: args, Getenv: getenv, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}, nil)
		return code, out.String(), errb.String()
	}
	ok := func(args ...string) string {
		t.Helper()
		code, out, errs := run(args...)
		if code != 0 {
			t.Fatalf("rayfleet %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}

	if out := ok("user", "create", "bob", "--display-name", "Bob B"); !strings.Contains(out, "Created user bob") {
		t.Fatalf("user create: %q", out)
	}
	if out := ok("user", "list"); !strings.Contains(out, "bob") || !strings.Contains(out, "Bob B") || !strings.Contains(out, "root") {
		t.Fatalf("user list: %q", out)
	}
	var key struct {
		AccessKey struct{ AccessKeyID, AccessKeySecret string }
	}
	if err := json.Unmarshal([]byte(ok("key", "create", "--user", "bob", "-o", "json")), &key); err != nil || key.AccessKey.AccessKeySecret == "" {
		t.Fatalf("key create -o json: %+v %v", key, err)
	}
	if out := ok("key", "list", "--user", "bob"); !strings.Contains(out, key.AccessKey.AccessKeyID) || !strings.Contains(out, "Active") || strings.Contains(out, key.AccessKey.AccessKeySecret) {
		t.Fatalf("key list: %q", out)
	}
	doc := filepath.Join(dir, "lister.json")
	if err := os.WriteFile(doc, []byte(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:List*","Resource":"*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ok("policy", "create", "lister", "--document", doc, "--description", "lists")
	ok("policy", "attach", "lister", "--user", "bob")
	if out := ok("policy", "list", "--type", "Custom"); !strings.Contains(out, "lister") || !strings.Contains(out, "v1") {
		t.Fatalf("policy list: %q", out)
	}
	if out := ok("policy", "list"); !strings.Contains(out, "AliyunEMRServerlessSparkFullAccess") || !strings.Contains(out, "lister") {
		t.Fatalf("policy list (all): %q", out)
	}
	if out := ok("user", "get", "bob"); !strings.Contains(out, "lister") || !strings.Contains(out, "Custom") {
		t.Fatalf("user get: %q", out)
	}

	// As bob: lists work, deleting does not.
	asUser = map[string]string{"RAYFLEET_ACCESS_KEY_ID": key.AccessKey.AccessKeyID, "RAYFLEET_ACCESS_KEY_SECRET": key.AccessKey.AccessKeySecret}
	ok("cluster", "list")
	code, _, errs := run("workspace", "delete", cred.WorkspaceID)
	if code == 0 || !strings.Contains(errs, "Forbidden.RAM") {
		t.Fatalf("workspace delete as bob: %d %q", code, errs)
	}
	code, _, errs = run("audit", "list")
	if code == 0 || !strings.Contains(errs, "Forbidden.RAM") {
		t.Fatalf("audit list as bob: %d %q", code, errs)
	}
	asUser = nil

	// The root user sees bob's refusals in the audit log.
	out := ok("audit", "list", "--user", "bob", "--result", "Forbidden.RAM")
	if !strings.Contains(out, "emr-serverless-spark:DeleteWorkspace") || !strings.Contains(out, "actiontrail:LookupEvents") {
		t.Fatalf("audit list: %q", out)
	}
	var events struct{ Events []map[string]any }
	if err := json.Unmarshal([]byte(ok("audit", "list", "--action", "ram:CreateUser", "-o", "json")), &events); err != nil || len(events.Events) != 1 {
		t.Fatalf("audit list -o json: %+v %v", events, err)
	}

	// Disable, enable, delete the key; detach, delete.
	ok("key", "disable", key.AccessKey.AccessKeyID, "--user", "bob")
	asUser = map[string]string{"RAYFLEET_ACCESS_KEY_ID": key.AccessKey.AccessKeyID, "RAYFLEET_ACCESS_KEY_SECRET": key.AccessKey.AccessKeySecret}
	if code, _, errs := run("cluster", "list"); code == 0 || !strings.Contains(errs, "InvalidAccessKeyId.Inactive") {
		t.Fatalf("cluster list with a disabled key: %d %q", code, errs)
	}
	asUser = nil
	ok("key", "enable", key.AccessKey.AccessKeyID, "--user", "bob")
	code, _, errs = run("user", "delete", "bob")
	if code == 0 || !strings.Contains(errs, "DeleteConflict.User.AccessKey") {
		t.Fatalf("user delete with a key: %d %q", code, errs)
	}
	ok("key", "delete", key.AccessKey.AccessKeyID, "--user", "bob")
	ok("policy", "detach", "lister", "--user", "bob")
	ok("policy", "delete", "lister")
	ok("user", "delete", "bob")
	if code, _, errs := run("user", "get", "bob"); code == 0 || !strings.Contains(errs, "EntityNotExist.User") {
		t.Fatalf("user get after delete: %d %q", code, errs)
	}
}

// TestSTSThroughOfficialClient: temporary credentials issued to a user act
// as that user, narrowed by their policy, through the official client's
// security token; they die with the key that asked for them.
func TestSTSThroughOfficialClient(t *testing.T) {
	srv, cred := testServer(t)
	root := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, false)
	ws := cred.WorkspaceID
	cc := root.must("CreateRayCluster", "POST", wsPath(ws, "rayCluster"), nil, map[string]any{"name": "c"})
	id := str(cc, "clusterId")

	ramMust(root, "CreateUser", map[string]string{"UserName": "carol"})
	k := ramMust(root, "CreateAccessKey", map[string]string{"UserName": "carol"})
	keyID, secret := str(obj(k, "AccessKey"), "AccessKeyId"), str(obj(k, "AccessKey"), "AccessKeySecret")
	ramMust(root, "AttachPolicyToUser", map[string]string{"PolicyType": "System", "PolicyName": "AliyunEMRServerlessSparkFullAccess", "UserName": "carol"})
	carol := newSDK(t, srv.Addr, keyID, secret, false)

	stsCall := func(c *sdk, query map[string]string) (map[string]any, error) {
		params := &openapi.Params{
			Action: dara.String("GetSessionToken"), Version: dara.String("2015-04-01"), Protocol: dara.String("HTTPS"),
			Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"),
			Style: dara.String("RPC"), ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
		}
		req := &openapi.OpenApiRequest{Query: map[string]*string{}}
		for k, v := range query {
			req.Query[k] = dara.String(v)
		}
		resp, err := c.client.CallApi(params, req, &dara.RuntimeOptions{})
		if err != nil {
			return nil, err
		}
		b, _ := resp["body"].(map[string]any)
		return b, nil
	}
	// A session that may only read.
	readOnly := `{"Version":"1","Statement":[{"Effect":"Allow","Action":["emr-serverless-spark:Get*","emr-serverless-spark:List*"],"Resource":"*"}]}`
	b, err := stsCall(carol, map[string]string{"Policy": readOnly, "DurationSeconds": "900"})
	if err != nil {
		t.Fatal(err)
	}
	c := obj(b, "Credentials")
	if !strings.HasPrefix(str(c, "AccessKeyId"), "STS.") || str(c, "SecurityToken") == "" || !strings.HasSuffix(str(c, "Expiration"), "Z") {
		t.Fatalf("GetSessionToken = %v", b)
	}
	cfg := &openapi.Config{
		AccessKeyId: dara.String(str(c, "AccessKeyId")), AccessKeySecret: dara.String(str(c, "AccessKeySecret")),
		SecurityToken: dara.String(str(c, "SecurityToken")), Endpoint: dara.String(srv.Addr), Protocol: dara.String("http"),
	}
	client, err := openapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	session := &sdk{t: t, client: client}
	if g := session.must("GetRayCluster", "GET", wsPath(ws, "rayCluster", id), nil, nil); str(g, "clusterId") != id {
		t.Fatalf("GetRayCluster with the session = %v", g)
	}
	// carol may create clusters; her read-only session may not.
	_, err = session.call("CreateRayCluster", "POST", wsPath(ws, "rayCluster"), nil, map[string]any{"name": "s"})
	wantDenied(t, err, "emr-serverless-spark:CreateRayCluster", "", "ImplicitDeny")
	// A session cannot ask for another.
	_, err = stsCall(session, nil)
	wantErr(t, err, "OperationDenied", 409, "cannot issue")

	// The token is bound to its key id and cannot be altered.
	tampered := *cfg
	tok := []byte(str(c, "SecurityToken"))
	mid := len(tok) / 2
	if tok[mid] == 'A' {
		tok[mid] = 'B'
	} else {
		tok[mid] = 'A'
	}
	tampered.SecurityToken = dara.String(string(tok))
	tc, err := openapi.NewClient(&tampered)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&sdk{t: t, client: tc}).call("ListRayCluster", "GET", wsPath(ws, "rayCluster"), nil, nil)
	wantErr(t, err, "InvalidSecurityToken", 400, "not valid")
	other, err := stsCall(carol, nil)
	if err != nil {
		t.Fatal(err)
	}
	swapped := *cfg
	swapped.SecurityToken = dara.String(str(obj(other, "Credentials"), "SecurityToken"))
	sc, err := openapi.NewClient(&swapped)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&sdk{t: t, client: sc}).call("ListRayCluster", "GET", wsPath(ws, "rayCluster"), nil, nil)
	wantErr(t, err, "InvalidSecurityToken", 400, "not valid")

	// Disabling carol's key ends her sessions at once.
	ramMust(root, "UpdateAccessKey", map[string]string{"UserName": "carol", "UserAccessKeyId": keyID, "Status": "Inactive"})
	_, err = session.call("GetRayCluster", "GET", wsPath(ws, "rayCluster", id), nil, nil)
	wantErr(t, err, "InvalidSecurityToken", 400, "disabled or deleted")
}
