package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"google.golang.org/grpc/credentials"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// testCA is a certificate authority made for one test, and the leaf
// certificates it signs for 127.0.0.1.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rayfleet test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	return ca
}

// issue writes a certificate for 127.0.0.1 and localhost with serial
// number serial, and its key, to certPath and keyPath.
func (ca *testCA) issue(serial int64, certPath, keyPath string) {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
}

// servedSerial is the serial number of the certificate addr presents.
func (ca *testCA) servedSerial(addr string, proto string) int64 {
	ca.t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, NextProtos: []string{proto}})
	if err != nil {
		ca.t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if st.NegotiatedProtocol != proto {
		ca.t.Fatalf("%s negotiated %q, want %q", addr, st.NegotiatedProtocol, proto)
	}
	return st.PeerCertificates[0].SerialNumber.Int64()
}

// TestTLS: with a certificate and key, the API, the gateway's HTTP door
// and its gRPC door serve TLS; the official client works over https; the
// dashboard session cookie is Secure; a renewed certificate is served
// without a restart.
func TestTLS(t *testing.T) {
	needRay(t)
	ca := newTestCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(100, certPath, keyPath)
	srv, cred := testServer(t, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = certPath, keyPath })

	// The official client, over https, trusting the test's CA.
	root := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, false, func(c *openapi.Config) {
		c.Protocol, c.Ca = dara.String("https"), dara.String(string(ca.pem))
	})
	ws := root.must("ListWorkspaces", "GET", "/api/v1/workspaces", nil, nil)
	if l, _ := ws["workspaces"].([]any); len(l) < 1 {
		t.Fatalf("ListWorkspaces over https: %v", ws)
	}
	// Plain HTTP to the API gets no answer of the API.
	if res, err := http.Get("http://" + srv.Addr + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("the API answered plain HTTP with TLS on")
		}
	}
	if got := readCredentials(t, srv.Config.DataDir).Endpoint; got != "https://"+srv.Addr {
		t.Fatalf("credentials endpoint %q, want https://%s", got, srv.Addr)
	}

	c := client(srv, cred)
	c.Endpoint = "https://" + srv.Addr
	c.HTTP = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	cl := runningCluster(t, c, cred.WorkspaceID, "secure")
	if !strings.HasPrefix(cl.DashboardURL, "https://") || !strings.HasPrefix(cl.JobURL, "https://") {
		t.Fatalf("dashboardUrl %q, jobUrl %q: want https", cl.DashboardURL, cl.JobURL)
	}

	// The gateway's HTTP door: the job API with the token, the dashboard's
	// session cookie Secure.
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", cl.JobURL+"/api/version", nil)
	req.Header.Set("ray-token", cl.SubmitToken)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("job API over https: %d", res.StatusCode)
	}
	res, err = hc.Get(cl.DashboardURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Value != "" {
			session = ck
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly {
		t.Fatalf("dashboard session cookie over https: %+v (status %d)", session, res.StatusCode)
	}

	// The gRPC door: HTTP/2 over TLS, to the head's Ray client server.
	call := rayClientCallOver(context.Background(), t, srv.GatewayGRPCAddr, credentials.NewTLS(&tls.Config{RootCAs: ca.pool}))
	if err := call(cl.SubmitToken, 30*time.Second); !headAnswered(err) {
		t.Fatalf("Ray client over TLS did not reach the head: %v", err)
	}

	// A renewed certificate is served on every door, no restart.
	for _, a := range []struct{ addr, proto string }{{srv.Addr, "http/1.1"}, {srv.GatewayAddr, "http/1.1"}, {srv.GatewayGRPCAddr, "h2"}} {
		if got := ca.servedSerial(a.addr, a.proto); got != 100 {
			t.Fatalf("%s serves serial %d, want 100", a.addr, got)
		}
	}
	later := time.Now().Add(2 * time.Second)
	ca.issue(101, certPath, keyPath)
	for _, p := range []string{certPath, keyPath} {
		if err := os.Chtimes(p, later, later); err != nil { // a new mtime whatever the clock's resolution
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // the files are looked at once a second
	for _, a := range []struct{ addr, proto string }{{srv.Addr, "http/1.1"}, {srv.GatewayAddr, "http/1.1"}, {srv.GatewayGRPCAddr, "h2"}} {
		poll.Until(t, rayWait, "the renewed certificate on "+a.addr, func() bool { return ca.servedSerial(a.addr, a.proto) == 101 })
	}
}

// A start with TLS files that do not load fails and names them.
func TestTLSFilesThatDoNotLoad(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir())
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certPath, keyPath
	_, err := Start(context.Background(), cfg, func(string) string { return "" }, discard{}, discard{})
	if err == nil || !strings.Contains(err.Error(), certPath) {
		t.Fatalf("start with a bad certificate: %v", err)
	}
	cfg.TLS.KeyFile = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tls-key-file") {
		t.Fatalf("a certificate without its key: %v", err)
	}
}
