package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/httpapi"
	"github.com/rayfleet/rayfleet/internal/keyring"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// rpcServer is a real handler on a real SQLite store with one account
// whose root key is returned.
func rpcServer(t *testing.T) (*httptest.Server, signer.Credentials) {
	t.Helper()
	ctx := context.Background()
	srv, svc, keys := testAPI(t, t.TempDir())
	st := svc.Store
	now := time.Now().UTC().Truncate(time.Millisecond)
	const account, uid, keyID, secret = "1000000000000001", "200000000000000001", "LTAIrpcroot00000000000", "rpc-root-secret"
	sealed, err := keys.Seal([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		st.CreateUser(ctx, rayfleet.User{UID: uid, AccountID: account, Name: "root", Nickname: "root", Root: true, CreateTime: now, UpdateTime: now}),
		st.CreateAccessKey(ctx, rayfleet.AccessKey{ID: keyID, AccountID: account, UserUID: uid, SecretSealed: sealed, Status: rayfleet.KeyActive, CreateTime: now}),
		st.CreateAccount(ctx, rayfleet.Account{ID: account, Name: "rpc", CreateTime: now}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return srv, signer.Credentials{AccessKeyID: keyID, AccessKeySecret: secret}
}

// testAPI starts a real handler on a real SQLite store in dir, both
// closed when t ends, and returns it with its service and keyring. t is a
// *testing.T or a *rapid.T.
func testAPI(t interface {
	Helper()
	Fatal(...any)
	Cleanup(func())
}, dir string) (*httptest.Server, *service.Service, *keyring.Keyring) {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.LoadOrCreate(filepath.Join(dir, "key"))
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	svc := &service.Service{Store: st, Sealer: keys, Now: time.Now, Random: rand.Reader, Releases: rayfleet.BuiltinReleaseVersions(), RegionID: "local"}
	h := (&httpapi.Handler{
		Service: svc, Logger: slog.New(slog.DiscardHandler), Nonces: httpapi.NewNonceCache(1 << 16), Now: time.Now, HostID: "test",
	}).Init()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return srv, svc, keys
}

// rpcRequest signs an RPC call with the legacy RPC scheme: GET with the
// parameters in the query, or POST with them in a form body.
func rpcRequest(t *testing.T, srv *httptest.Server, method, path string, cred signer.Credentials, params map[string]string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := signer.SignRPC(req, params, method == http.MethodPost, cred, at, signer.NewNonce())
	if err != nil {
		t.Fatal(err)
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req
}

func send(t *testing.T, srv *httptest.Server, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("response is not JSON: %s", raw)
	}
	return resp.StatusCode, m
}

func ram(action string, kv ...string) map[string]string {
	p := map[string]string{"Action": action, "Version": api.RAMVersion}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

func wantCode(t *testing.T, status int, body map[string]any, wantStatus int, code, inMessage string) {
	t.Helper()
	if status != wantStatus || body["Code"] != code || !strings.Contains(body["Message"].(string), inMessage) {
		t.Fatalf("got %d %v, want %d %s (%q)", status, body, wantStatus, code, inMessage)
	}
}

// TestRPCSignature: calls signed with the legacy RPC scheme are served like
// any other, in the query or a form body, and every failure is refused in
// the API's error format and changes nothing.
func TestRPCSignature(t *testing.T) {
	srv, cred := rpcServer(t)
	users := func() int {
		t.Helper()
		status, b := send(t, srv, rpcRequest(t, srv, "GET", "/", cred, ram("ListUsers"), time.Now()))
		if status != 200 {
			t.Fatalf("ListUsers: %d %v", status, b)
		}
		us, _ := b["Users"].(map[string]any)["User"].([]any)
		return len(us)
	}

	// The query, then a form body carrying every parameter (Action and
	// Version included, with no x-acs-* header to route by).
	status, b := send(t, srv, rpcRequest(t, srv, "GET", "/", cred, ram("CreateUser", "UserName", "alice", "Comments", "a b*c~ 中"), time.Now()))
	if u, _ := b["User"].(map[string]any); status != 200 || u["UserName"] != "alice" || u["Comments"] != "a b*c~ 中" {
		t.Fatalf("CreateUser: %d %v", status, b)
	}
	status, b = send(t, srv, rpcRequest(t, srv, "POST", "/", cred, ram("GetUser", "UserName", "alice"), time.Now()))
	if u, _ := b["User"].(map[string]any); status != 200 || u["UserName"] != "alice" {
		t.Fatalf("GetUser with a form body: %d %v", status, b)
	}
	if n := users(); n != 2 {
		t.Fatalf("%d users, want root and alice", n)
	}

	// A replay is refused, and so does nothing.
	del := rpcRequest(t, srv, "GET", "/", cred, ram("DeleteUser", "UserName", "alice"), time.Now())
	replay := del.Clone(context.Background())
	if status, b := send(t, srv, del); status != 200 {
		t.Fatalf("DeleteUser: %d %v", status, b)
	}
	status, b = send(t, srv, rpcRequest(t, srv, "GET", "/", cred, ram("CreateUser", "UserName", "alice"), time.Now()))
	if status != 200 {
		t.Fatalf("CreateUser again: %d %v", status, b)
	}
	status, b = send(t, srv, replay)
	wantCode(t, status, b, 400, "SignatureNonceUsed", "nonce")
	if n := users(); n != 2 {
		t.Fatalf("the replayed DeleteUser changed something: %d users", n)
	}

	// A form replay too: the nonce is in the body.
	form := rpcRequest(t, srv, "POST", "/", cred, ram("GetUser", "UserName", "alice"), time.Now())
	formReplay := form.Clone(context.Background())
	formReplay.Body, _ = form.GetBody()
	send(t, srv, form)
	status, b = send(t, srv, formReplay)
	wantCode(t, status, b, 400, "SignatureNonceUsed", "nonce")

	wrong := cred
	wrong.AccessKeySecret = "not-the-secret"
	status, b = send(t, srv, rpcRequest(t, srv, "GET", "/", wrong, ram("DeleteUser", "UserName", "alice"), time.Now()))
	wantCode(t, status, b, 400, "SignatureDoesNotMatch", "The string to sign the server computed is: GET&%2F&AccessKeyId%3D"+cred.AccessKeyID)
	status, b = send(t, srv, rpcRequest(t, srv, "POST", "/", cred, ram("DeleteUser", "UserName", "alice"), time.Now().Add(-20*time.Minute)))
	wantCode(t, status, b, 400, "InvalidTimeStamp.Expired", "expired")
	unknown := cred
	unknown.AccessKeyID = "LTAInobody"
	status, b = send(t, srv, rpcRequest(t, srv, "GET", "/", unknown, ram("ListUsers"), time.Now()))
	wantCode(t, status, b, 404, "InvalidAccessKeyId.NotFound", "")

	// The headers are not signed: they cannot turn a GetUser into a DeleteUser.
	redirected := rpcRequest(t, srv, "GET", "/", cred, ram("GetUser", "UserName", "alice"), time.Now())
	redirected.Header.Set("x-acs-action", "DeleteUser")
	status, b = send(t, srv, redirected)
	wantCode(t, status, b, 400, "InvalidParameter", "x-acs-action")

	// Only RPC-style calls take this signature.
	status, b = send(t, srv, rpcRequest(t, srv, "GET", "/api/v1/workspaces", cred, ram("ListWorkspaces"), time.Now()))
	wantCode(t, status, b, 400, "IncompleteSignature", "RPC-style calls")

	// A body that is not a form is not covered, so it is refused.
	jsonBody := rpcRequest(t, srv, "POST", "/", cred, ram("DeleteUser", "UserName", "alice"), time.Now())
	q, _ := io.ReadAll(jsonBody.Body)
	jsonBody.URL.RawQuery = string(q)
	data := []byte(`{"UserName":"root"}`)
	jsonBody.Body, jsonBody.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
	jsonBody.Header.Set("Content-Type", "application/json")
	status, b = send(t, srv, jsonBody)
	wantCode(t, status, b, 400, "IncompleteSignature", "application/x-www-form-urlencoded")

	if n := users(); n != 2 {
		t.Fatalf("a refused call changed something: %d users", n)
	}
}

// TestRPCSignatureSTS: temporary credentials sign with their SecurityToken
// parameter, which the signature covers.
func TestRPCSignatureSTS(t *testing.T) {
	srv, cred := rpcServer(t)
	status, b := send(t, srv, rpcRequest(t, srv, "POST", "/", cred,
		map[string]string{"Action": "GetSessionToken", "Version": api.STSVersion, "DurationSeconds": "900"}, time.Now()))
	c, _ := b["Credentials"].(map[string]any)
	if status != 200 || c == nil {
		t.Fatalf("GetSessionToken: %d %v", status, b)
	}
	session := signer.Credentials{AccessKeyID: c["AccessKeyId"].(string), AccessKeySecret: c["AccessKeySecret"].(string), SecurityToken: c["SecurityToken"].(string)}
	if status, b := send(t, srv, rpcRequest(t, srv, "GET", "/", session, ram("ListUsers"), time.Now())); status != 200 {
		t.Fatalf("ListUsers with the session: %d %v", status, b)
	}
	noToken := session
	noToken.SecurityToken = ""
	status, b = send(t, srv, rpcRequest(t, srv, "GET", "/", noToken, ram("ListUsers"), time.Now()))
	wantCode(t, status, b, 400, "InvalidSecurityToken", "")
	withToken := cred
	withToken.SecurityToken = session.SecurityToken
	status, b = send(t, srv, rpcRequest(t, srv, "GET", "/", withToken, ram("ListUsers"), time.Now()))
	wantCode(t, status, b, 400, "InvalidSecurityToken", "temporary")
}

// The RPC signature's parameters are the protocol's, never an operation's.
func TestRPCParamsLeaveOutProtocol(t *testing.T) {
	q := url.Values{"UserName": {"alice"}}
	for _, k := range []string{"AccessKeyId", "Signature", "SignatureNonce", "SignatureMethod", "SignatureVersion", "Timestamp", "SecurityToken", "Format", "Action", "Version"} {
		q.Set(k, "x")
	}
	got := httpapi.RPCParams(httptest.NewRequest("POST", "/?"+q.Encode(), strings.NewReader("Comments=c&SignatureNonce=n")),
		[]byte("Comments=c&SignatureNonce=n"))
	if len(got) != 1 || got.Get("UserName") != "alice" {
		t.Fatalf("without a form content type: %v", got)
	}
	r := httptest.NewRequest("POST", "/?"+q.Encode(), nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	got = httpapi.RPCParams(r, []byte("Comments=c&SignatureNonce=n&Timestamp=t"))
	if len(got) != 2 || got.Get("UserName") != "alice" || got.Get("Comments") != "c" {
		t.Fatalf("params = %v", got)
	}
}
