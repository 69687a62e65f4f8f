package signer

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// headers is an http.Header with lowercased keys, values merged across
// spellings, so lookups match what clients signed whatever case reached us.
type headers map[string][]string

func lowerHeaders(h http.Header) headers {
	m := make(headers, len(h))
	for k, v := range h {
		lk := strings.ToLower(k)
		m[lk] = append(m[lk], v...)
	}
	return m
}

// has reports whether name goes on the wire: net/http writes no line for a
// key without values.
func (m headers) has(name string) bool { return len(m[name]) > 0 }

// value canonicalises a header as the official clients do: each value trimmed,
// several values sorted and joined with ",".
func (m headers) value(name string) string {
	vs := m[name]
	if len(vs) == 1 {
		return strings.TrimSpace(vs[0])
	}
	t := make([]string, len(vs))
	for i, v := range vs {
		t[i] = strings.TrimSpace(v)
	}
	slices.Sort(t)
	return strings.Join(t, ",")
}

// acsNames lists the x-acs-* headers present, sorted.
func (m headers) acsNames() []string {
	var names []string
	for k := range m {
		if strings.HasPrefix(k, "x-acs-") && m.has(k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

var uriReplacer = strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~")

// CanonicalURI turns a path as sent on the wire (still percent-encoded) into
// the ACS3 CanonicalURI. The clients do not re-encode the path; they patch
// three characters, so neither may we.
func CanonicalURI(rawPath string) string {
	if rawPath == "" {
		return "/"
	}
	return uriReplacer.Replace(rawPath)
}

type queryPair struct{ key, value string }

// decodeQuery splits a raw query into decoded pairs. '+' is a space because
// the Go clients encode spaces that way. A malformed escape is kept as text
// rather than refused: canonicalisation stays total, and no official client
// sends one, so the signature decides.
func decodeQuery(rawQuery string) []queryPair {
	var ps []queryPair
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		ps = append(ps, queryPair{unescape(k, true), unescape(v, true)})
	}
	return ps
}

func unescape(s string, plusIsSpace bool) string {
	if !strings.Contains(s, "%") && !(plusIsSpace && strings.Contains(s, "+")) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' && plusIsSpace:
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// escapeRFC3986 is what the clients get from url.QueryEscape (Go) or
// encodeURIComponent (Node) followed by their "+"→"%20", "*"→"%2A", "%7E"→"~"
// patch-up.
func escapeRFC3986(s string) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !isUnreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; isUnreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

// canonicalQueryPairs holds decoded keys and escaped values, sorted. Keys stay
// decoded because every official client (Go, Node) writes them unescaped.
func canonicalQueryPairs(rawQuery string) []queryPair {
	ps := decodeQuery(rawQuery)
	for i := range ps {
		ps[i].value = escapeRFC3986(ps[i].value)
	}
	slices.SortFunc(ps, func(a, b queryPair) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	return ps
}

// CanonicalQuery turns a query as received into the ACS3 CanonicalQueryString.
func CanonicalQuery(rawQuery string) string {
	var b strings.Builder
	for i, p := range canonicalQueryPairs(rawQuery) {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// CanonicalRequestACS3 builds the ACS3 CanonicalRequest. signedHeaders is used
// in the order given (the client's own list); host is passed separately
// because a Go server keeps it out of the header map.
func CanonicalRequestACS3(method, canonicalURI, canonicalQuery string, h http.Header, host string, signedHeaders []string, hashedPayload string) string {
	return canonicalRequestACS3(method, canonicalURI, canonicalQuery, lowerHeaders(h), host, signedHeaders, hashedPayload)
}

func canonicalRequestACS3(method, canonicalURI, canonicalQuery string, m headers, host string, signedHeaders []string, hashedPayload string) string {
	var b strings.Builder
	b.WriteString(method + "\n" + canonicalURI + "\n" + canonicalQuery + "\n")
	for _, name := range signedHeaders {
		v := strings.TrimSpace(host)
		if lname := strings.ToLower(name); lname != "host" {
			v = m.value(lname)
		}
		b.WriteString(name + ":" + v + "\n")
	}
	b.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n" + hashedPayload)
	return b.String()
}

func stringToSignACS3(canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return SchemeACS3 + "\n" + hex.EncodeToString(sum[:])
}

// StringToSignROA builds the legacy ROA string to sign from the headers, the
// decoded path and the decoded query.
func StringToSignROA(method string, h http.Header, decodedPath string, query url.Values) string {
	return roaHeaderBlock(method, lowerHeaders(h)) + roaResource(decodedPath, query)
}

func roaHeaderBlock(method string, m headers) string {
	var b strings.Builder
	for _, s := range []string{method, m.value("accept"), m.value("content-md5"), m.value("content-type"), m.value("date")} {
		b.WriteString(s + "\n")
	}
	for _, name := range m.acsNames() {
		b.WriteString(name + ":" + m.value(name) + "\n")
	}
	return b.String()
}

// roaResource writes the query raw, and a key without a value as the bare key,
// as both the classic SDK and darabonba do.
func roaResource(path string, query url.Values) string {
	if len(query) == 0 {
		return path
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(query)) {
		vs := slices.Sorted(slices.Values(query[k]))
		if len(vs) == 0 {
			vs = []string{""}
		}
		for _, v := range vs {
			if v == "" {
				parts = append(parts, k)
			} else {
				parts = append(parts, k+"="+v)
			}
		}
	}
	return path + "?" + strings.Join(parts, "&")
}

func queryValues(rawQuery string) url.Values {
	q := url.Values{}
	for _, p := range decodeQuery(rawQuery) {
		q.Add(p.key, p.value)
	}
	return q
}
