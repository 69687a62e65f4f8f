package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
)

const (
	// tokenHeader carries the submit token on the job API and, as gRPC
	// metadata, on the Ray client protocol.
	tokenHeader = "Ray-Token"
	// tokenParam carries it in a dashboardUrl.
	tokenParam = "token"
	// sessionCookie is the gateway's dashboard session, scoped to one
	// cluster's path.
	sessionCookie = "rayfleet_session"
	// rayAuthCookie is Ray's own dashboard token cookie
	// (AUTHENTICATION_TOKEN_COOKIE_NAME); it is a credential, so it never
	// goes upstream from a browser.
	rayAuthCookie = "ray-authentication-token"
	// maxTokenLen bounds what is hashed; tokens are 32 hex characters.
	maxTokenLen = 256
)

// hashToken returns the hex SHA-256 of t, as the service stores it.
func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// tokenMatches reports whether t hashes to want (hex SHA-256), in time that
// does not depend on where they differ. An empty want (no live instance)
// matches nothing.
func tokenMatches(t, want string) bool {
	if t == "" || want == "" || len(t) > maxTokenLen || len(want) != sha256.Size*2 {
		return false
	}
	sum := sha256.Sum256([]byte(t))
	var got [sha256.Size * 2]byte
	hex.Encode(got[:], sum[:])
	return subtle.ConstantTimeCompare(got[:], []byte(want)) == 1
}

// sessionValue is the dashboard cookie of cluster ws/id while its token
// hashes to tokenHash: an HMAC under the gateway's key, not the token
// itself. So the token never sits in a browser's cookie store, the cookie
// opens only that cluster (the MAC covers the ids, the path scopes it) and
// dies with the instance (the MAC covers the token's hash, which the service
// clears when the instance stops), and no server state is kept.
func sessionValue(key []byte, ws, id, tokenHash string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("rayfleet-gateway-session\x00"))
	m.Write([]byte(ws))
	m.Write([]byte{0})
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(tokenHash))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
}

// sessionMatches reports whether cookie value v is the current session of
// ws/id.
func sessionMatches(key []byte, ws, id, tokenHash, v string) bool {
	if v == "" || tokenHash == "" {
		return false
	}
	want := sessionValue(key, ws, id, tokenHash)
	return subtle.ConstantTimeCompare([]byte(v), []byte(want)) == 1
}

// anyCookie reports whether the Cookie lines have a cookie named name, and
// whether match accepts one of them. Every cookie of that name is tried: a
// page of the same origin can add its own with a longer path, which
// browsers send first.
func anyCookie(lines []string, name string, match func(string) bool) (present, matched bool) {
	for _, line := range lines {
		if !strings.Contains(line, name) {
			continue
		}
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k != name {
				continue
			}
			present = true
			if match(strings.Trim(v, `"`)) {
				return true, true
			}
		}
	}
	return present, false
}

// dropCookies removes the gateway's and Ray's credential cookies from h's
// Cookie lines, keeping every other cookie as it was.
func dropCookies(h http.Header) {
	kept, changed := keptCookies(h["Cookie"])
	switch {
	case !changed:
	case len(kept) == 0:
		h.Del("Cookie")
	default:
		h["Cookie"] = kept
	}
}

// keptCookies returns the Cookie lines without the gateway's and Ray's
// credential cookies, and whether that changed anything (when not, lines
// itself is returned).
func keptCookies(lines []string) ([]string, bool) {
	touched := false
	for _, line := range lines {
		if strings.Contains(line, sessionCookie) || strings.Contains(line, rayAuthCookie) {
			touched = true
			break
		}
	}
	if !touched {
		return lines, false
	}
	kept := make([]string, 0, len(lines))
	for _, line := range lines {
		var b strings.Builder
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			k, _, _ := strings.Cut(p, "=")
			if p == "" || k == sessionCookie || k == rayAuthCookie {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(p)
		}
		if b.Len() > 0 {
			kept = append(kept, b.String())
		}
	}
	return kept, true
}

// takeParam returns rawQuery without any parameter named name, and the
// (unescaped) value of the first one. Other parameters keep their order and
// encoding.
func takeParam(rawQuery, name string) (rest, value string, found bool) {
	if !strings.Contains(rawQuery, name) && !strings.Contains(rawQuery, "%") {
		return rawQuery, "", false
	}
	var b strings.Builder
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			if !found {
				value, _ = url.QueryUnescape(v)
				found = true
			}
			continue
		}
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	return b.String(), value, found
}
