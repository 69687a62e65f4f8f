package signer

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
)

// SignROA signs req with the legacy ROA HMAC-SHA1 scheme. It sets date,
// x-acs-signature-method, x-acs-signature-version, Content-MD5 when there is
// a body (the only way the body is covered), accept when unset, and with a
// token x-acs-security-token and x-acs-accesskey-id; then Authorization.
// The scheme has no nonce of its own: set x-acs-signature-nonce before
// calling, as darabonba does, and it is signed like every x-acs-* header.
func SignROA(req *http.Request, body []byte, cred Credentials, now time.Time) error {
	if err := checkSignable(req, cred); err != nil {
		return err
	}
	h := req.Header
	setHeader(h, "Date", now.UTC().Format(http.TimeFormat))
	setHeader(h, "x-acs-signature-method", "HMAC-SHA1")
	setHeader(h, "x-acs-signature-version", "1.0")
	delHeader(h, "Content-MD5")
	if len(body) > 0 {
		sum := md5.Sum(body)
		h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	}
	if !lowerHeaders(h).has("accept") {
		h.Set("Accept", "application/json")
	}
	if cred.SecurityToken != "" {
		setHeader(h, "x-acs-security-token", cred.SecurityToken)
		setHeader(h, "x-acs-accesskey-id", cred.AccessKeyID)
	}
	sts := StringToSignROA(requestMethod(req), h, unescape(wirePath(req), false), queryValues(rawQuery(req)))
	setHeader(h, "Authorization", "acs "+cred.AccessKeyID+":"+base64.StdEncoding.EncodeToString(hmacSHA1(cred.AccessKeySecret, sts)))
	return nil
}

func parseROA(m headers, cred string) (*Signed, error) {
	// Neither AccessKey IDs nor base64 contain ':'.
	ak, sig64, ok := strings.Cut(cred, ":")
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if !ok || ak == "" || err != nil || len(sig) != sha1.Size {
		return nil, errorf(CodeIncompleteSignature, "The Authorization header is not of the form acs <AccessKeyId>:<base64 HMAC-SHA1>.")
	}
	if v := m.value("x-acs-signature-method"); m.has("x-acs-signature-method") && v != "HMAC-SHA1" {
		return nil, errorf(CodeInvalidParameter, "The x-acs-signature-method %q is not supported; use HMAC-SHA1.", v)
	}
	if v := m.value("x-acs-signature-version"); m.has("x-acs-signature-version") && v != "1.0" {
		return nil, errorf(CodeInvalidParameter, "The x-acs-signature-version %q is not supported; use 1.0.", v)
	}
	if !m.has("date") {
		return nil, errorf(CodeMissingParameter, "The date header is missing.")
	}
	date, err := http.ParseTime(m.value("date"))
	if err != nil {
		return nil, errorf(CodeInvalidParameter, "The date header %q is not an RFC 1123 GMT date.", m.value("date"))
	}
	return &Signed{Scheme: SchemeROA, AccessKeyID: ak, signature: sig, Date: date,
		SecurityToken: m.value("x-acs-security-token"), Nonce: m.value("x-acs-signature-nonce")}, nil
}

var classicURLReplacer = strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~")

func (s *Signed) verifyROA(req *http.Request, body []byte, secret string) error {
	m := s.headersOf(req)
	head := roaHeaderBlock(requestMethod(req), m)
	wire := wirePath(req)
	q := queryValues(rawQuery(req))
	decoded := roaResource(unescape(wire, false), q)
	// The official clients disagree on the resource: the spec's form (decoded
	// path, raw query); the classic SDK and CLI, which pass that through
	// "+"→"%20", "*"→"%2A", "%7E"→"~"; and darabonba, which signs the path
	// still percent-encoded. Each is accepted; none is weaker than the scheme.
	candidates := []string{decoded, classicURLReplacer.Replace(decoded), roaResource(wire, q)}
	matched := false
	for i, c := range candidates {
		if slices.Contains(candidates[:i], c) {
			continue
		}
		if hmac.Equal(hmacSHA1(secret, head+c), s.signature) {
			matched = true
			break
		}
	}
	if !matched {
		return signatureMismatch(head + decoded)
	}
	// The legacy scheme covers the body only through Content-MD5, and the
	// official Go client's legacy mode never sends it: refusing such bodies
	// would refuse that client. So a body is checked when Content-MD5 is
	// there and otherwise rides unsigned, as the scheme itself allows; the
	// ACS3 scheme, which the clients use by default, always covers it.
	if m.has("content-md5") {
		sum := md5.Sum(body)
		if !hmac.Equal([]byte(m.value("content-md5")), []byte(base64.StdEncoding.EncodeToString(sum[:]))) {
			return errorf(CodeSignatureDoesNotMatch, "The Content-MD5 header does not match the MD5 of the request body.")
		}
	}
	return nil
}
