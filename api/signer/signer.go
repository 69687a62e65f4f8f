package signer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Scheme names, as reported in Signed.Scheme.
const (
	SchemeACS3 = "ACS3-HMAC-SHA256"
	SchemeROA  = "ROA-HMAC-SHA1"
	// SchemeRPC is the legacy RPC signature: HMAC-SHA1 over the call's
	// parameters, carried as the Signature parameter, with no Authorization
	// header. It is valid only for RPC-style calls (path "/").
	SchemeRPC = "RPC-HMAC-SHA1"
)

// MaxSkew is how far a request's date may stray from the server clock; the
// hosted service allows 15 minutes, and clients are built around that.
const MaxSkew = 15 * time.Minute

// Error codes, as the hosted service spells them.
const (
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	CodeIncompleteSignature   = "IncompleteSignature"
	CodeTimeStampExpired      = "InvalidTimeStamp.Expired"
	CodeMissingParameter      = "MissingParameter"
	CodeInvalidParameter      = "InvalidParameter"
)

// Credentials signs requests.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string // STS; optional
}

// Error is a verification failure, with the API error code the server should return.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NewNonce returns 32 lowercase hex characters from crypto/rand, the shape of
// the nonces the official clients send.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // documented never to fail: crypto/rand crashes the program instead
	return hex.EncodeToString(b[:])
}

// Signed is what Parse found in a request, before the secret is known.
type Signed struct {
	Scheme        string
	AccessKeyID   string
	SecurityToken string    // x-acs-security-token, or the SecurityToken parameter (RPC), if any
	Nonce         string    // x-acs-signature-nonce, or SignatureNonce (RPC); may be empty for ROA
	Date          time.Time // x-acs-date (ACS3), date (ROA) or Timestamp (RPC)

	// Action and Version are the signed Action and Version parameters of an
	// RPC-signed call; the other schemes leave them empty.
	Action, Version string

	signedHeaders []string // ACS3, as listed by the client
	signature     []byte

	// The request Parse read and its headers by lower-case name, which
	// Verify reuses when given the same request.
	req  *http.Request
	hdrs headers
}

// headersOf returns req's headers by lower-case name.
func (s *Signed) headersOf(req *http.Request) headers {
	if req == s.req && s.hdrs != nil {
		return s.hdrs
	}
	return lowerHeaders(req.Header)
}

// Parse reads the Authorization header and the headers its scheme needs or,
// without one, the RPC scheme's parameters in the query. It checks shape
// only; Verify checks the signature once the secret is known. A call whose
// RPC signature is in a form body needs ParseRequest.
func Parse(req *http.Request) (*Signed, error) { return ParseRequest(req, nil) }

// ParseRequest is Parse for a request whose body has been read: an RPC
// signature may be in an application/x-www-form-urlencoded body.
func ParseRequest(req *http.Request, body []byte) (*Signed, error) {
	if req == nil {
		return nil, errorf(CodeIncompleteSignature, "There is no request to verify.")
	}
	m := lowerHeaders(req.Header)
	auths := m["authorization"]
	switch {
	case len(auths) == 0:
		seen := decodeQuery(rawQuery(req))
		if len(body) > 0 && isForm(m) {
			seen = append(seen, decodeQuery(string(body))...)
		}
		if !hasRPCSignature(seen) {
			return nil, errorf(CodeIncompleteSignature, "The request carries neither an Authorization header nor the Signature and AccessKeyId parameters.")
		}
		ps, err := rpcParams(req, m, body)
		if err != nil {
			return nil, err
		}
		s, err := parseRPC(req, m, ps)
		if err != nil {
			return nil, err
		}
		s.req, s.hdrs = req, m
		return s, nil
	case len(auths) > 1:
		return nil, errorf(CodeIncompleteSignature, "The request carries more than one Authorization header.")
	}
	auth := strings.TrimSpace(auths[0])
	parse := parseROA
	rest, ok := strings.CutPrefix(auth, SchemeACS3+" ")
	if ok {
		parse = parseACS3
	} else {
		rest, ok = strings.CutPrefix(auth, "acs ")
	}
	if ok {
		s, err := parse(m, rest)
		if err != nil {
			return nil, err
		}
		s.req, s.hdrs = req, m
		return s, nil
	}
	return nil, errorf(CodeIncompleteSignature,
		"The Authorization header is neither %q nor %q.", SchemeACS3+" Credential=...", "acs <AccessKeyId>:<signature>")
}

// Verify checks the signature with secret, that body is the one the signature
// covers, and that Date is within MaxSkew of now. Replay (a reused nonce) is
// the caller's to check.
func (s *Signed) Verify(req *http.Request, body []byte, secret string, now time.Time) error {
	if s == nil || req == nil {
		return errorf(CodeIncompleteSignature, "There is no signed request to verify.")
	}
	var err error
	switch s.Scheme {
	case SchemeACS3:
		err = s.verifyACS3(req, body, secret)
	case SchemeROA:
		err = s.verifyROA(req, body, secret)
	case SchemeRPC:
		err = s.verifyRPC(req, body, secret)
	default:
		err = errorf(CodeIncompleteSignature, "Unknown signature scheme %q.", s.Scheme)
	}
	if err != nil {
		return err
	}
	if d := now.Sub(s.Date); d > MaxSkew || d < -MaxSkew {
		return errorf(CodeTimeStampExpired,
			"Specified time stamp or date value is expired. The request is dated %s; server time is %s and the allowed skew is %v.",
			s.Date.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxSkew)
	}
	return nil
}

func signatureMismatch(stringToSign string) *Error {
	return errorf(CodeSignatureDoesNotMatch,
		"Specified signature is not matched with our calculation. The string to sign the server computed is: %s",
		strings.ReplaceAll(stringToSign, "\n", `\n`))
}

func hmacSHA256(secret, msg string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func hmacSHA1(secret, msg string) []byte {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func checkSignable(req *http.Request, cred Credentials) error {
	if req == nil || req.URL == nil {
		return errors.New("signer: request has no URL")
	}
	if cred.AccessKeyID == "" || cred.AccessKeySecret == "" {
		return errors.New("signer: credentials need an AccessKey ID and secret")
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	return nil
}

// setHeader replaces every spelling of name: the official Go client writes
// lowercase keys straight into http.Header, so "x-acs-date" and "X-Acs-Date"
// can both be present and would both be sent.
func setHeader(h http.Header, name, value string) {
	delHeader(h, name)
	h.Set(name, value)
}

func delHeader(h http.Header, name string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
}

func requestMethod(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet // what net/http sends for an empty method
	}
	return req.Method
}

func requestHost(req *http.Request) string {
	if req.Host == "" && req.URL != nil {
		return req.URL.Host
	}
	return req.Host
}

// wirePath is the path as it was (or will be) on the wire, still
// percent-encoded: clients sign the encoded form, and decoding then
// re-encoding would not reproduce it.
func wirePath(req *http.Request) string {
	if p, _, _ := strings.Cut(req.RequestURI, "?"); strings.HasPrefix(p, "/") {
		return p
	}
	if req.URL == nil {
		return ""
	}
	return req.URL.EscapedPath()
}

func rawQuery(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	return req.URL.RawQuery
}
