package gateway

import "strings"

// routeKind is what a path under /workspace/<ws>/raycluster/<id> asks for.
type routeKind uint8

const (
	// routeRoot is the cluster's own path, which sends the browser on to the
	// dashboard.
	routeRoot routeKind = iota + 1
	// routeDashboardBare is .../dashboard without the slash the dashboard's
	// relative URLs need.
	routeDashboardBare
	// routeDashboard is .../dashboard/...: the dashboard, prefix stripped.
	routeDashboard
	// routeAPI is .../api/...: the job API, passed on as /api/....
	routeAPI
)

// route is a parsed gateway path. base and upstream are slices of the
// request's escaped path, so parsing allocates nothing.
type route struct {
	kind     routeKind
	ws, id   string
	base     string // "/workspace/<ws>/raycluster/<id>"
	upstream string // the path the head gets, escaped, starting with "/"
}

// prefix is what Location and Set-Cookie paths from upstream are rewritten
// under.
func (r *route) prefix() string {
	if r.kind == routeDashboard {
		return r.base + "/dashboard"
	}
	return r.base
}

// parseRoute parses an escaped request path. Ids are limited to the
// characters rayfleet's ids use (and a little more), so they never need
// escaping and the escaped and decoded prefixes are the same.
func parseRoute(p string) (route, bool) {
	var r route
	rest, ok := strings.CutPrefix(p, "/workspace/")
	if !ok {
		return r, false
	}
	if r.ws, rest, ok = cutID(rest); !ok {
		return r, false
	}
	if rest, ok = strings.CutPrefix(rest, "/raycluster/"); !ok {
		return r, false
	}
	if r.id, rest, ok = cutID(rest); !ok {
		return r, false
	}
	r.base = p[:len(p)-len(rest)]
	switch {
	case rest == "" || rest == "/":
		r.kind = routeRoot
	case rest == "/dashboard":
		r.kind = routeDashboardBare
	case strings.HasPrefix(rest, "/dashboard/"):
		r.kind, r.upstream = routeDashboard, rest[len("/dashboard"):]
	case rest == "/api" || strings.HasPrefix(rest, "/api/"):
		r.kind, r.upstream = routeAPI, rest
	default:
		return r, false
	}
	return r, true
}

// cutID cuts one id off the front of s, up to the next "/" or the end.
func cutID(s string) (id, rest string, ok bool) {
	i := strings.IndexByte(s, '/')
	if i < 0 {
		i = len(s)
	}
	id, rest = s[:i], s[i:]
	if id == "" || len(id) > 128 {
		return "", "", false
	}
	for j := 0; j < len(id); j++ {
		c := id[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", "", false
		}
	}
	if id == "." || id == ".." {
		return "", "", false
	}
	return id, rest, true
}
