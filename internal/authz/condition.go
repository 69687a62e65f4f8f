package authz

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Condition keys rayfleet supplies from a Request. Keys are matched
// case-insensitively. Any other key (acs:SourceVpc, acs:MFAPresent,
// acs:ResourceTag/..., a service's own keys) is absent from every request.
const (
	KeySourceIP        = "acs:SourceIp"        // the client's address, Request.SourceIP
	KeyCurrentTime     = "acs:CurrentTime"     // when the request arrived, Request.Now
	KeySecureTransport = "acs:SecureTransport" // "true" over HTTPS, Request.SecureTransport
	KeyUserAgent       = "acs:UserAgent"       // the User-Agent header, Request.UserAgent
	KeyReferer         = "acs:Referer"         // the Referer header, Request.Referer
)

type opKind int

const (
	kindString opKind = iota
	kindNumeric
	kindDate
	kindBool
	kindIP
)

// operator is one of RAM's condition operators. match compares the request's
// value with one policy value; negate turns "matches any value" into "matches
// none of the values".
type operator struct {
	kind   opKind
	negate bool
	str    func(req, pol string) bool
	cmp    func(c int) bool // numeric and date: c = compare(request, policy)
}

func equal(c int) bool     { return c == 0 }
func less(c int) bool      { return c < 0 }
func lessEq(c int) bool    { return c <= 0 }
func greater(c int) bool   { return c > 0 }
func greaterEq(c int) bool { return c >= 0 }

func strEq(req, pol string) bool     { return req == pol }
func strEqFold(req, pol string) bool { return strings.EqualFold(req, pol) }
func strLike(req, pol string) bool   { return globMatch(pol, req) }

// operators are the operators RAM documents ("Conditional operators":
// string, number, date and time, Boolean, IP address). RAM lists no
// ...IfExists, ForAnyValue/ForAllValues, Null, Arn* or Binary* operators,
// so Parse refuses them.
var operators = map[string]operator{
	"StringEquals":              {kind: kindString, str: strEq},
	"StringNotEquals":           {kind: kindString, str: strEq, negate: true},
	"StringEqualsIgnoreCase":    {kind: kindString, str: strEqFold},
	"StringNotEqualsIgnoreCase": {kind: kindString, str: strEqFold, negate: true},
	"StringLike":                {kind: kindString, str: strLike},
	"StringNotLike":             {kind: kindString, str: strLike, negate: true},

	"NumericEquals":            {kind: kindNumeric, cmp: equal},
	"NumericNotEquals":         {kind: kindNumeric, cmp: equal, negate: true},
	"NumericLessThan":          {kind: kindNumeric, cmp: less},
	"NumericLessThanEquals":    {kind: kindNumeric, cmp: lessEq},
	"NumericGreaterThan":       {kind: kindNumeric, cmp: greater},
	"NumericGreaterThanEquals": {kind: kindNumeric, cmp: greaterEq},

	"DateEquals":            {kind: kindDate, cmp: equal},
	"DateNotEquals":         {kind: kindDate, cmp: equal, negate: true},
	"DateLessThan":          {kind: kindDate, cmp: less},
	"DateLessThanEquals":    {kind: kindDate, cmp: lessEq},
	"DateGreaterThan":       {kind: kindDate, cmp: greater},
	"DateGreaterThanEquals": {kind: kindDate, cmp: greaterEq},

	"Bool": {kind: kindBool},

	"IpAddress":    {kind: kindIP},
	"NotIpAddress": {kind: kindIP, negate: true},
}

// checkValue returns why v cannot be a policy value of o, or "".
func (o operator) checkValue(v string) string {
	switch o.kind {
	case kindNumeric:
		if _, ok := parseNumber(v); !ok {
			return "must be a number"
		}
	case kindDate:
		if _, ok := parseDate(v); !ok {
			return "must be an ISO 8601 time such as 2026-01-01T00:00:00Z or 2026-01-01T08:00:00+08:00, or a date such as 2026-01-01"
		}
	case kindBool:
		if _, ok := parseBool(v); !ok {
			return `must be "true" or "false"`
		}
	case kindIP:
		if _, ok := parsePolicyIP(v); !ok {
			return "must be an IPv4 or IPv6 address or CIDR block such as 192.0.2.0/24 or 2001:db8::/32"
		}
	}
	return ""
}

func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// parseDate reads the ISO 8601 forms RAM's examples use: an RFC 3339 time
// with a zone ("2019-08-12T17:00:00+08:00", "2026-01-01T00:00:00Z", with or
// without fractional seconds) or a date alone, taken as midnight UTC. A time
// without a zone is refused: it would mean a different instant on every
// server.
func parseDate(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// parsePolicyIP reads a CIDR block or a single address (a /32 or /128).
// IPv4-mapped IPv6 forms are folded to IPv4 so that "::ffff:192.0.2.1" and
// "192.0.2.1" mean the same client.
func parsePolicyIP(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		a := p.Addr()
		if a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// parseRequestIP reads a client address as servers see it: a bare address,
// or host:port (a RemoteAddr), with any IPv6 zone dropped and IPv4-mapped
// addresses folded to IPv4.
func parseRequestIP(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), true
}

// tri is the outcome of a condition: it holds, it does not, or rayfleet
// cannot tell (unknown operator, key absent from the request, a value of the
// wrong type).
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

// holds evaluates every condition of a statement: false if any is false,
// else unknown if any is unknown, else true.
func (c Condition) holds(ctx *reqContext) tri {
	result := triTrue
	for op, keys := range c {
		for key, vals := range keys {
			switch evalCondition(op, key, vals, ctx) {
			case triFalse:
				return triFalse
			case triUnknown:
				result = triUnknown
			}
		}
	}
	return result
}

func evalCondition(opName, key string, vals []string, ctx *reqContext) tri {
	op, ok := operators[opName]
	if !ok || len(vals) == 0 {
		return triUnknown
	}
	raw, present := ctx.value(key)
	if !present {
		return triUnknown
	}
	// matched: the request value matches some policy value; bad: some policy
	// value could not be read. A match decides alone; without one, a bad
	// value leaves the answer unknown.
	matched, bad := false, false
	switch op.kind {
	case kindString:
		for _, v := range vals {
			if op.str(raw, v) {
				matched = true
				break
			}
		}
	case kindNumeric:
		x, ok := parseNumber(raw)
		if !ok {
			return triUnknown
		}
		for _, v := range vals {
			y, ok := parseNumber(v)
			if !ok {
				bad = true
				continue
			}
			c := 0
			if x < y {
				c = -1
			} else if x > y {
				c = 1
			}
			if op.cmp(c) {
				matched = true
				break
			}
		}
	case kindDate:
		x, ok := ctx.time(key, raw)
		if !ok {
			return triUnknown
		}
		// Times compare to the second, as RAM's examples are written.
		xs := x.Unix()
		for _, v := range vals {
			y, ok := parseDate(v)
			if !ok {
				bad = true
				continue
			}
			ys := y.Unix()
			c := 0
			if xs < ys {
				c = -1
			} else if xs > ys {
				c = 1
			}
			if op.cmp(c) {
				matched = true
				break
			}
		}
	case kindBool:
		x, ok := parseBool(raw)
		if !ok {
			return triUnknown
		}
		for _, v := range vals {
			y, ok := parseBool(v)
			if !ok {
				bad = true
				continue
			}
			if x == y {
				matched = true
				break
			}
		}
	case kindIP:
		x, ok := parseRequestIP(raw)
		if !ok {
			return triUnknown
		}
		for _, v := range vals {
			p, ok := parsePolicyIP(v)
			if !ok {
				bad = true
				continue
			}
			if p.Contains(x) {
				matched = true
				break
			}
		}
	}
	if !matched && bad {
		return triUnknown
	}
	if matched != op.negate {
		return triTrue
	}
	return triFalse
}

// reqContext answers condition keys from a Request.
type reqContext struct {
	req *Request
}

func (c *reqContext) value(key string) (string, bool) {
	r := c.req
	switch strings.ToLower(key) {
	case "acs:sourceip":
		return r.SourceIP, r.SourceIP != ""
	case "acs:currenttime":
		if r.Now.IsZero() {
			return "", false
		}
		return r.Now.UTC().Format(time.RFC3339), true
	case "acs:securetransport":
		return strconv.FormatBool(r.SecureTransport), true
	case "acs:useragent":
		return r.UserAgent, r.UserAgent != ""
	case "acs:referer":
		return r.Referer, r.Referer != ""
	}
	return "", false
}

func (c *reqContext) time(key, raw string) (time.Time, bool) {
	if strings.EqualFold(key, KeyCurrentTime) {
		return c.req.Now, true
	}
	return parseDate(raw)
}
