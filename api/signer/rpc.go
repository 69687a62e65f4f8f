package signer

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The parameters of the legacy RPC scheme. The signature and the caller's
// key travel as parameters, in the query or in a form body, with no
// Authorization header.
const (
	rpcSignature        = "Signature"
	rpcAccessKeyID      = "AccessKeyId"
	rpcSignatureMethod  = "SignatureMethod"
	rpcSignatureVersion = "SignatureVersion"
	rpcSignatureNonce   = "SignatureNonce"
	rpcSignatureType    = "SignatureType"
	rpcTimestamp        = "Timestamp"
	rpcSecurityToken    = "SecurityToken"
	rpcAction           = "Action"
	rpcVersion          = "Version"
	rpcFormat           = "Format"
)

// rpcProtocol lists the parameters that belong to the RPC protocol rather
// than to an operation; each may be given once.
var rpcProtocol = []string{
	rpcAccessKeyID, rpcAction, rpcFormat, rpcSecurityToken, rpcSignature, rpcSignatureMethod,
	rpcSignatureNonce, rpcSignatureType, rpcSignatureVersion, rpcTimestamp, rpcVersion,
}

// IsRPCProtocolParameter reports whether name is one of the RPC protocol's
// own parameters (Action, Version, Format, AccessKeyId, Signature,
// SignatureMethod, SignatureVersion, SignatureNonce, SignatureType,
// Timestamp, SecurityToken), which an operation must not read as its own.
func IsRPCProtocolParameter(name string) bool { return slices.Contains(rpcProtocol, name) }

const rpcFormType = "application/x-www-form-urlencoded"

// SignRPC signs an RPC-style call with the legacy RPC HMAC-SHA1 scheme, as
// the classic SDKs and the aliyun CLI do. params are the call's parameters
// including Action and Version; SignRPC adds AccessKeyId, SignatureMethod,
// SignatureVersion, SignatureNonce (nonce), Timestamp, Format (JSON, unless
// set) and, with a token, SecurityToken, then Signature, and returns them
// all. With form false they all go in the query of req (whose path should
// be "/"); with form true they make up body, sent as
// application/x-www-form-urlencoded. The caller attaches body to req.
func SignRPC(req *http.Request, params map[string]string, form bool, cred Credentials, now time.Time, nonce string) (body []byte, err error) {
	if err := checkSignable(req, cred); err != nil {
		return nil, err
	}
	if nonce == "" {
		return nil, errors.New("signer: the RPC scheme needs a nonce")
	}
	if params[rpcAction] == "" || params[rpcVersion] == "" {
		return nil, errors.New("signer: an RPC call needs Action and Version")
	}
	p := make(map[string]string, len(params)+8)
	for k, v := range params {
		p[k] = v
	}
	delete(p, rpcSignature)
	if p[rpcFormat] == "" {
		p[rpcFormat] = "JSON"
	}
	p[rpcAccessKeyID] = cred.AccessKeyID
	p[rpcSignatureMethod] = "HMAC-SHA1"
	p[rpcSignatureVersion] = "1.0"
	p[rpcSignatureNonce] = nonce
	p[rpcTimestamp] = now.UTC().Format(acs3DateLayout)
	if cred.SecurityToken != "" {
		p[rpcSecurityToken] = cred.SecurityToken
	}
	ps := make([]queryPair, 0, len(p))
	for k, v := range p {
		ps = append(ps, queryPair{k, v})
	}
	sig := base64.StdEncoding.EncodeToString(hmacSHA1(cred.AccessKeySecret+"&", stringToSignRPC(requestMethod(req), ps)))
	ps = append(ps, queryPair{rpcSignature, sig})
	encoded := encodePairs(ps)
	if form {
		req.URL.RawQuery = ""
		setHeader(req.Header, "Content-Type", rpcFormType)
		return []byte(encoded), nil
	}
	req.URL.RawQuery = encoded
	return nil, nil
}

// encodePairs writes pairs as a query or form, sorted, RFC 3986 encoded.
func encodePairs(ps []queryPair) string {
	ps = slices.Clone(ps)
	sortPairs(ps)
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeRFC3986(p.key) + "=" + escapeRFC3986(p.value))
	}
	return b.String()
}

func sortPairs(ps []queryPair) {
	slices.SortFunc(ps, func(a, b queryPair) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
}

// stringToSignRPC builds the RPC string to sign from the method and the
// decoded parameters (Signature left out): METHOD&%2F& and the percent
// encoding of the sorted, percent-encoded k=v pairs joined with '&'.
func stringToSignRPC(method string, params []queryPair) string {
	return method + "&" + escapeRFC3986("/") + "&" + escapeRFC3986(encodePairs(params))
}

// isForm reports whether any Content-Type the request carries names a form.
// It is at least as broad as any reading of the header an operation may do,
// so a body an operation reads as a form is always one the signature covers.
func isForm(m headers) bool {
	for _, v := range m["content-type"] {
		v = strings.TrimSpace(v)
		if len(v) >= len(rpcFormType) && strings.EqualFold(v[:len(rpcFormType)], rpcFormType) {
			return true
		}
	}
	return false
}

// rpcParams collects the call's parameters, decoded: the query's, then a
// form body's. A body that is not a form is refused: the scheme cannot
// cover it.
func rpcParams(req *http.Request, m headers, body []byte) ([]queryPair, error) {
	ps := decodeQuery(rawQuery(req))
	if len(body) == 0 {
		return ps, nil
	}
	if !isForm(m) {
		return nil, errorf(CodeIncompleteSignature,
			"A request signed with the Signature parameter may carry only an %s body, which the signature covers; this one is %q.", rpcFormType, m.value("content-type"))
	}
	return append(ps, decodeQuery(string(body))...), nil
}

// hasRPCSignature reports whether the query or a form body carries the RPC
// scheme's Signature or AccessKeyId parameter.
func hasRPCSignature(ps []queryPair) bool {
	for _, p := range ps {
		if p.key == rpcSignature || p.key == rpcAccessKeyID {
			return true
		}
	}
	return false
}

func parseRPC(req *http.Request, m headers, ps []queryPair) (*Signed, error) {
	if p := wirePath(req); p != "/" && p != "" {
		return nil, errorf(CodeIncompleteSignature,
			"The Signature parameter (the RPC signature) is accepted only for RPC-style calls to the path \"/\"; sign calls to %s with ACS3-HMAC-SHA256 or with an Authorization header of the form acs <AccessKeyId>:<signature>.", p)
	}
	one := map[string]string{}
	for _, p := range ps {
		if !IsRPCProtocolParameter(p.key) {
			continue
		}
		if _, dup := one[p.key]; dup {
			return nil, errorf(CodeInvalidParameter, "The parameter %s is given more than once.", p.key)
		}
		one[p.key] = p.value
	}
	ak, sig64 := one[rpcAccessKeyID], one[rpcSignature]
	if ak == "" {
		return nil, errorf(CodeIncompleteSignature, "The request carries a Signature parameter but no AccessKeyId.")
	}
	if sig64 == "" {
		return nil, errorf(CodeIncompleteSignature, "The request carries an AccessKeyId parameter but no Signature.")
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) != sha1.Size {
		return nil, errorf(CodeIncompleteSignature, "The Signature parameter is not a base64 HMAC-SHA1.")
	}
	for _, name := range []string{rpcSignatureMethod, rpcSignatureVersion, rpcSignatureNonce, rpcTimestamp, rpcAction, rpcVersion} {
		if one[name] == "" {
			return nil, errorf(CodeMissingParameter, "The %s parameter is missing.", name)
		}
	}
	if v := one[rpcSignatureMethod]; v != "HMAC-SHA1" {
		return nil, errorf(CodeInvalidParameter, "The SignatureMethod %q is not supported; use HMAC-SHA1.", v)
	}
	if v := one[rpcSignatureVersion]; v != "1.0" {
		return nil, errorf(CodeInvalidParameter, "The SignatureVersion %q is not supported; use 1.0.", v)
	}
	if v := one[rpcSignatureType]; v != "" {
		return nil, errorf(CodeInvalidParameter, "The SignatureType %q is not supported; sign with an AccessKey.", v)
	}
	ts := one[rpcTimestamp]
	date, err := time.Parse(time.RFC3339, ts)
	if err != nil || !strings.HasSuffix(ts, "Z") {
		return nil, errorf(CodeInvalidParameter, "The Timestamp %q is not an ISO 8601 UTC time of the form yyyy-MM-ddTHH:mm:ssZ.", ts)
	}
	// The headers are not signed; the ones that choose the operation must
	// agree with the signed parameters or they could redirect the call.
	for _, h := range []struct{ header, param string }{{"x-acs-action", rpcAction}, {"x-acs-version", rpcVersion}} {
		if m.has(h.header) && m.value(h.header) != one[h.param] {
			return nil, errorf(CodeInvalidParameter, "The %s header %q does not match the signed %s parameter %q.", h.header, m.value(h.header), h.param, one[h.param])
		}
	}
	return &Signed{Scheme: SchemeRPC, AccessKeyID: ak, signature: sig, Date: date,
		SecurityToken: one[rpcSecurityToken], Nonce: one[rpcSignatureNonce],
		Action: one[rpcAction], Version: one[rpcVersion]}, nil
}

func (s *Signed) verifyRPC(req *http.Request, body []byte, secret string) error {
	if p := wirePath(req); p != "/" && p != "" {
		return errorf(CodeIncompleteSignature, "The RPC signature is accepted only for calls to the path \"/\", not %s.", p)
	}
	ps, err := rpcParams(req, s.headersOf(req), body)
	if err != nil {
		return err
	}
	signed := ps[:0:0]
	for _, p := range ps {
		if p.key != rpcSignature {
			signed = append(signed, p)
		}
	}
	sts := stringToSignRPC(requestMethod(req), signed)
	if !hmac.Equal(hmacSHA1(secret+"&", sts), s.signature) {
		return signatureMismatch(sts)
	}
	return nil
}
