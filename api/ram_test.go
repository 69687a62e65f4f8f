package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
)

// RAM calls are POSTs to "/" naming the operation and RAM's version in the
// headers, with the parameters in the query and optional ones left out when
// empty; the answer decodes into the typed response.
func TestRAMCalls(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"RequestId":"r-1","User":{"UserId":"2001","UserName":"bob"},"AccessKeys":{"AccessKey":[{"AccessKeyId":"LTAI1","Status":"Active"}]}}`))
	}))
	defer srv.Close()
	// A trailing slash on the endpoint still calls "/".
	c := &api.Client{Endpoint: srv.URL + "/", Credentials: signer.Credentials{AccessKeyID: "LTAIroot", AccessKeySecret: "s"}}
	ctx := context.Background()
	desc := ""

	calls := []struct {
		name, action, query string
		call                func() error
	}{
		{"CreateUser", "CreateUser", "DisplayName=Bob&UserName=bob", func() error {
			r, err := c.CreateUser(ctx, &api.CreateUserRequest{UserName: "bob", DisplayName: "Bob"})
			if err == nil && (r.RequestID != "r-1" || r.User.UserID != "2001") {
				t.Errorf("CreateUser answered %+v", r)
			}
			return err
		}},
		{"UpdateUser leaves out nil fields and sends empty ones", "UpdateUser", "NewComments=&UserName=bob", func() error {
			_, err := c.UpdateUser(ctx, &api.UpdateUserRequest{UserName: "bob", NewComments: &desc})
			return err
		}},
		{"ListUsers", "ListUsers", "Marker=2&MaxItems=1000", func() error {
			_, err := c.ListUsers(ctx, "2", 1000)
			return err
		}},
		{"ListAccessKeys of the caller", "ListAccessKeys", "", func() error {
			r, err := c.ListAccessKeys(ctx, "")
			if err == nil && (len(r.AccessKeys.AccessKey) != 1 || r.AccessKeys.AccessKey[0].AccessKeyID != "LTAI1") {
				t.Errorf("ListAccessKeys answered %+v", r)
			}
			return err
		}},
		{"UpdateAccessKey", "UpdateAccessKey", "Status=Inactive&UserAccessKeyId=LTAI1&UserName=bob", func() error {
			_, err := c.UpdateAccessKey(ctx, "bob", "LTAI1", "Inactive")
			return err
		}},
		{"GetPolicy sends the type even empty", "GetPolicy", "PolicyName=p&PolicyType=", func() error {
			_, err := c.GetPolicy(ctx, "p", "")
			return err
		}},
		{"CreatePolicyVersion", "CreatePolicyVersion", "PolicyDocument=%7B%7D&PolicyName=p&SetAsDefault=false", func() error {
			_, err := c.CreatePolicyVersion(ctx, &api.CreatePolicyVersionRequest{PolicyName: "p", PolicyDocument: "{}"})
			return err
		}},
		{"AttachPolicyToUser", "AttachPolicyToUser", "PolicyName=p&PolicyType=System&UserName=bob", func() error {
			_, err := c.AttachPolicyToUser(ctx, "System", "p", "bob")
			return err
		}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			if got.Method != http.MethodPost || got.URL.Path != "/" || got.URL.RawQuery != tc.query {
				t.Errorf("sent %s %s?%s, want POST /?%s", got.Method, got.URL.Path, got.URL.RawQuery, tc.query)
			}
			if a, v := got.Header.Get("x-acs-action"), got.Header.Get("x-acs-version"); a != tc.action || v != api.RAMVersion {
				t.Errorf("sent x-acs-action %q, x-acs-version %q; want %q, %q", a, v, tc.action, api.RAMVersion)
			}
		})
	}
}
