package signer_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/rayfleet/rayfleet/api/signer"
)

// verifyingServer answers 200 {"requestId":"X"} to requests that pass
// Parse+Verify against secrets, and the hosted service's error shape otherwise.
type verifyingServer struct {
	*httptest.Server
	mu      sync.Mutex
	results []error
	signed  []*signer.Signed
}

func newVerifyingServer(t *testing.T, secrets map[string]string) *verifyingServer {
	vs := &verifyingServer{}
	vs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var s *signer.Signed
		if err == nil {
			s, err = signer.Parse(r)
		}
		if err == nil {
			err = s.Verify(r, body, secrets[s.AccessKeyID], time.Now())
		}
		vs.mu.Lock()
		vs.results = append(vs.results, err)
		vs.signed = append(vs.signed, s)
		vs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			e := &signer.Error{Code: "InternalError", Message: err.Error()}
			errors.As(err, &e)
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"RequestId": "X", "HostId": r.Host, "Code": e.Code, "Message": e.Message})
			return
		}
		io.WriteString(w, `{"requestId":"X"}`)
	}))
	t.Cleanup(vs.Close)
	return vs
}

func (vs *verifyingServer) last(t *testing.T) (*signer.Signed, error) {
	t.Helper()
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if len(vs.results) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(vs.results))
	}
	return vs.signed[0], vs.results[0]
}

type call struct {
	secret, token, algorithm string
	method, pathname         string
	body                     map[string]any
}

// do sends one request with the unmodified official Go client, configured as
// a user pointing the product SDK at a self-hosted server would.
func (vs *verifyingServer) do(t *testing.T, c call) (map[string]any, error) {
	t.Helper()
	cfg := &openapi.Config{
		AccessKeyId:     dara.String("AKID"),
		AccessKeySecret: dara.String(c.secret),
		Endpoint:        dara.String(strings.TrimPrefix(vs.URL, "http://")),
		Protocol:        dara.String("http"),
	}
	if c.token != "" {
		cfg.SecurityToken = dara.String(c.token)
	}
	if c.algorithm != "" {
		cfg.SignatureAlgorithm = dara.String(c.algorithm)
	}
	client, err := openapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	params := &openapi.Params{
		Action: dara.String("CreateRayCluster"), Version: dara.String("2023-08-08"), Protocol: dara.String("HTTPS"),
		Pathname: dara.String(c.pathname), Method: dara.String(c.method), AuthType: dara.String("AK"),
		Style: dara.String("ROA"), ReqBodyType: dara.String("json"), BodyType: dara.String("json"),
	}
	req := &openapi.OpenApiRequest{Query: map[string]*string{
		"regionId":    dara.String("cn-hangzhou"),
		"clientToken": dara.String("a b*c~ d+e"),
	}}
	if c.body != nil {
		req.Body = c.body
	}
	return client.CallApi(params, req, &dara.RuntimeOptions{})
}

func clientErrorCode(err error) string {
	var se *tea.SDKError // CallApi wraps every failure in one
	if errors.As(err, &se) {
		return tea.StringValue(se.Code)
	}
	return ""
}

var rayCluster = map[string]any{"name": "demo", "rayVersion": "ray-2.40", "workers": []any{map[string]any{"replicas": 2}}}

const rayClusterPath = "/api/v1/workspaces/w-1/rayCluster"

// encodedPath is built the way the product SDK builds Pathname.
var encodedPath = "/api/v1/workspaces/" + dara.PercentEncode("w 1*~+") + "/rayCluster/" + dara.PercentEncode("rc/1")

func TestOfficialClientACS3(t *testing.T) {
	// The official client honours HTTP_PROXY even for 127.0.0.1.
	t.Setenv("HTTP_PROXY", "")
	t.Setenv("http_proxy", "")

	t.Run("verified", func(t *testing.T) {
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		res, err := vs.do(t, call{secret: "s3cret", method: "POST", pathname: rayClusterPath, body: rayCluster})
		if err != nil {
			t.Fatal(err)
		}
		s, verr := vs.last(t)
		if verr != nil {
			t.Fatalf("server refused the official client: %v", verr)
		}
		if s.Scheme != signer.SchemeACS3 || s.AccessKeyID != "AKID" || len(s.Nonce) != 32 {
			t.Fatalf("Parse = %+v", s)
		}
		if b, _ := res["body"].(map[string]any); b["requestId"] != "X" {
			t.Fatalf("response = %v", res)
		}
	})
	t.Run("no body", func(t *testing.T) {
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		if _, err := vs.do(t, call{secret: "s3cret", method: "GET", pathname: rayClusterPath + "/rc-1"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("encoded path parameter", func(t *testing.T) {
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		if _, err := vs.do(t, call{secret: "s3cret", method: "GET", pathname: encodedPath}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("STS", func(t *testing.T) {
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		if _, err := vs.do(t, call{secret: "s3cret", token: "CAIS-token", method: "POST", pathname: rayClusterPath, body: rayCluster}); err != nil {
			t.Fatal(err)
		}
		if s, _ := vs.last(t); s.SecurityToken != "CAIS-token" {
			t.Fatalf("SecurityToken = %q", s.SecurityToken)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		_, err := vs.do(t, call{secret: "wrong", method: "POST", pathname: rayClusterPath, body: rayCluster})
		if _, verr := vs.last(t); !hasCode(verr, signer.CodeSignatureDoesNotMatch) {
			t.Fatalf("server: %v", verr)
		}
		if clientErrorCode(err) != signer.CodeSignatureDoesNotMatch {
			t.Fatalf("client: %v", err)
		}
	})
}

// Config.SignatureAlgorithm "v2" makes CallApi use DoROARequest, the legacy
// ROA HMAC-SHA1 signer. It never sends Content-MD5, so its body is unsigned
// and Verify refuses a request that has one; body-less calls verify.
func TestOfficialClientROA(t *testing.T) {
	t.Setenv("HTTP_PROXY", "")
	t.Setenv("http_proxy", "")

	t.Run("verified", func(t *testing.T) {
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		if _, err := vs.do(t, call{secret: "s3cret", algorithm: "v2", method: "GET", pathname: rayClusterPath + "/rc-1"}); err != nil {
			t.Fatal(err)
		}
		if s, verr := vs.last(t); verr != nil || s.Scheme != signer.SchemeROA {
			t.Fatalf("server: %+v, %v", s, verr)
		}
	})
	t.Run("encoded path parameter", func(t *testing.T) {
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		if _, err := vs.do(t, call{secret: "s3cret", algorithm: "v2", method: "GET", pathname: encodedPath}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		_, err := vs.do(t, call{secret: "wrong", algorithm: "v2", method: "GET", pathname: rayClusterPath + "/rc-1"})
		if _, verr := vs.last(t); !hasCode(verr, signer.CodeSignatureDoesNotMatch) || clientErrorCode(err) != signer.CodeSignatureDoesNotMatch {
			t.Fatalf("server: %v; client: %v", verr, err)
		}
	})
	t.Run("body without Content-MD5", func(t *testing.T) {
		// The client's legacy mode sends no Content-MD5; its POSTs must pass.
		vs := newVerifyingServer(t, map[string]string{"AKID": "s3cret"})
		if _, err := vs.do(t, call{secret: "s3cret", algorithm: "v2", method: "POST", pathname: rayClusterPath, body: rayCluster}); err != nil {
			t.Fatal(err)
		}
		if _, verr := vs.last(t); verr != nil {
			t.Fatalf("server refused the official client's legacy POST: %v", verr)
		}
	})
}

func hasCode(err error, code string) bool {
	var e *signer.Error
	return errors.As(err, &e) && e.Code == code
}
