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

// sessionValue is the dashboard cookie of cluster ws/id opened with the
// credential whose token hashes to tokenHash: the hash and an HMAC under
// the gateway's key, not the token itself. So the token never sits in a
// browser's cookie store, the cookie opens only that cluster (the MAC
// covers the ids, the path scopes it) and dies with the credential (every
// request looks the credential up by the hash), and no server state is
// kept.
func sessionValue(key []byte, ws, id, tokenHash string) string {
	return tokenHash + "." + sessionMAC(key, ws, id, tokenHash)
}

func sessionMAC(key []byte, ws, id, tokenHash string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("rayfleet-gateway-session-v2\x00"))
	m.Write([]byte(ws))
	m.Write([]byte{0})
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(tokenHash))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
}

// sessionHash returns the credential's token hash of cookie value v, and
// whether v is a session of ws/id made with the gateway's key.
func sessionHash(key []byte, ws, id, v string) (string, bool) {
	hash, mac, ok := strings.Cut(v, ".")
	if !ok || len(hash) != sha256.Size*2 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", false
	}
	want := sessionMAC(key, ws, id, hash)
	return hash, subtle.ConstantTimeCompare([]byte(mac), []byte(want)) == 1
}

// eachCookie calls fn with the value of each cookie named name in the
// Cookie lines, in order, until fn returns true.
func eachCookie(lines []string, name string, fn func(string) bool) {
	for _, line := range lines {
		if !strings.Contains(line, name) {
			continue
		}
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == name && fn(strings.Trim(v, `"`)) {
				return
			}
		}
	}
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
