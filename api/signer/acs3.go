package signer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

const acs3DateLayout = "2006-01-02T15:04:05Z"

// SignACS3 signs req (ACS3-HMAC-SHA256, "V3") whose body is body (nil/empty
// for none). It sets host, x-acs-date, x-acs-signature-nonce,
// x-acs-content-sha256 and, with a token, x-acs-security-token and
// x-acs-accesskey-id; it signs host, content-type when present and every
// x-acs-* header, then sets Authorization. Set x-acs-action, x-acs-version and
// content-type before calling; the caller still attaches body to req.
func SignACS3(req *http.Request, body []byte, cred Credentials, now time.Time, nonce string) error {
	if err := checkSignable(req, cred); err != nil {
		return err
	}
	if nonce == "" {
		return errors.New("signer: ACS3 needs a nonce")
	}
	req.Host = requestHost(req)
	if req.Host == "" {
		return errors.New("signer: request has no host")
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	h := req.Header
	setHeader(h, "x-acs-date", now.UTC().Format(acs3DateLayout))
	setHeader(h, "x-acs-signature-nonce", nonce)
	setHeader(h, "x-acs-content-sha256", payload)
	if cred.SecurityToken != "" {
		setHeader(h, "x-acs-security-token", cred.SecurityToken)
		setHeader(h, "x-acs-accesskey-id", cred.AccessKeyID)
	}
	m := lowerHeaders(h)
	signed := append([]string{"host"}, m.acsNames()...)
	if m.has("content-type") {
		signed = append(signed, "content-type")
	}
	slices.Sort(signed)
	cr := canonicalRequestACS3(requestMethod(req), CanonicalURI(wirePath(req)), CanonicalQuery(rawQuery(req)), m, req.Host, signed, payload)
	sig := hmacSHA256(cred.AccessKeySecret, stringToSignACS3(cr))
	setHeader(h, "Authorization", SchemeACS3+" Credential="+cred.AccessKeyID+
		",SignedHeaders="+strings.Join(signed, ";")+",Signature="+hex.EncodeToString(sig))
	return nil
}

const acs3Shape = "ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;c>,Signature=<hex>"

func parseACS3(m headers, params string) (*Signed, error) {
	fields := map[string]string{}
	for part := range strings.SplitSeq(params, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if _, dup := fields[k]; !ok || dup {
			return nil, errorf(CodeIncompleteSignature, "The Authorization header is not of the form %s.", acs3Shape)
		}
		fields[k] = v
	}
	ak, list, sigHex := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if len(fields) != 3 || ak == "" || list == "" || sigHex == "" {
		return nil, errorf(CodeIncompleteSignature, "The Authorization header is not of the form %s.", acs3Shape)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != sha256.Size {
		return nil, errorf(CodeIncompleteSignature, "The Signature in the Authorization header is not 64 hex digits.")
	}
	signed := strings.Split(list, ";")
	covered := map[string]bool{}
	for _, name := range signed {
		if name == "" {
			return nil, errorf(CodeIncompleteSignature, "SignedHeaders in the Authorization header has an empty name.")
		}
		covered[strings.ToLower(name)] = true
	}
	// An unsigned host or x-acs-* header could be added or altered in transit
	// without breaking the signature, so the client must have signed them all.
	if !covered["host"] {
		return nil, errorf(CodeIncompleteSignature, "SignedHeaders in the Authorization header must include host.")
	}
	for _, name := range m.acsNames() {
		if !covered[name] {
			return nil, errorf(CodeIncompleteSignature,
				"SignedHeaders in the Authorization header leaves out %s, which the request carries.", name)
		}
	}
	s := &Signed{Scheme: SchemeACS3, AccessKeyID: ak, signedHeaders: signed, signature: sig,
		SecurityToken: m.value("x-acs-security-token"), Nonce: m.value("x-acs-signature-nonce")}
	if !m.has("x-acs-date") {
		return nil, errorf(CodeMissingParameter, "The x-acs-date header is missing.")
	}
	if s.Date, err = time.Parse(acs3DateLayout, m.value("x-acs-date")); err != nil {
		return nil, errorf(CodeInvalidParameter, "The x-acs-date header %q is not of the form yyyy-MM-ddTHH:mm:ssZ.", m.value("x-acs-date"))
	}
	if !m.has("x-acs-content-sha256") {
		return nil, errorf(CodeMissingParameter, "The x-acs-content-sha256 header is missing.")
	}
	if s.Nonce == "" {
		return nil, errorf(CodeMissingParameter, "The x-acs-signature-nonce header is missing.")
	}
	if m.has("x-acs-accesskey-id") && m.value("x-acs-accesskey-id") != ak {
		return nil, errorf(CodeInvalidParameter, "The x-acs-accesskey-id header does not match the Credential in the Authorization header.")
	}
	return s, nil
}

func (s *Signed) verifyACS3(req *http.Request, body []byte, secret string) error {
	m := s.headersOf(req)
	// The canonical request carries the hash the client claims, so a body
	// mismatch is reported as such rather than as a bad signature.
	payload := m.value("x-acs-content-sha256")
	cr := canonicalRequestACS3(requestMethod(req), CanonicalURI(wirePath(req)), CanonicalQuery(rawQuery(req)),
		m, requestHost(req), s.signedHeaders, payload)
	sts := stringToSignACS3(cr)
	if !hmac.Equal(hmacSHA256(secret, sts), s.signature) {
		return signatureMismatch(sts)
	}
	sum := sha256.Sum256(body)
	if !hmac.Equal([]byte(payload), []byte(hex.EncodeToString(sum[:]))) {
		return errorf(CodeSignatureDoesNotMatch, "The x-acs-content-sha256 header does not match the SHA-256 of the request body.")
	}
	return nil
}
