package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	for _, tt := range []struct {
		path               string
		ok                 bool
		kind               routeKind
		ws, id, upstream   string
		prefixForRedirects string
	}{
		{path: "/workspace/w-1/raycluster/ray-1", ok: true, kind: routeRoot, ws: "w-1", id: "ray-1"},
		{path: "/workspace/w-1/raycluster/ray-1/", ok: true, kind: routeRoot, ws: "w-1", id: "ray-1"},
		{path: "/workspace/w-1/raycluster/ray-1/dashboard", ok: true, kind: routeDashboardBare, ws: "w-1", id: "ray-1"},
		{path: "/workspace/w-1/raycluster/ray-1/dashboard/", ok: true, kind: routeDashboard, ws: "w-1", id: "ray-1", upstream: "/", prefixForRedirects: "/workspace/w-1/raycluster/ray-1/dashboard"},
		{path: "/workspace/w-1/raycluster/ray-1/dashboard/api/v0/logs/file", ok: true, kind: routeDashboard, ws: "w-1", id: "ray-1", upstream: "/api/v0/logs/file", prefixForRedirects: "/workspace/w-1/raycluster/ray-1/dashboard"},
		{path: "/workspace/w-1/raycluster/ray-1/api", ok: true, kind: routeAPI, ws: "w-1", id: "ray-1", upstream: "/api", prefixForRedirects: "/workspace/w-1/raycluster/ray-1"},
		{path: "/workspace/w-1/raycluster/ray-1/api/jobs/raysubmit%2F1", ok: true, kind: routeAPI, ws: "w-1", id: "ray-1", upstream: "/api/jobs/raysubmit%2F1", prefixForRedirects: "/workspace/w-1/raycluster/ray-1"},
		{path: "/workspace/w-1/raycluster/ray-1/apis"},
		{path: "/workspace/w-1/raycluster/ray-1/dashboards/"},
		{path: "/workspace/w-1/raycluster/ray-1/other"},
		{path: "/workspace/w-1/raycluster/"},
		{path: "/workspace/w-1/raycluster//api/"},
		{path: "/workspace//raycluster/ray-1/api/"},
		{path: "/workspace/w-1/ray-1/api/"},
		{path: "/workspace/w%2D1/raycluster/ray-1/api/"},
		{path: "/workspace/../raycluster/ray-1/api/"},
		{path: "/workspace/w-1/raycluster/../api/"},
		{path: "/workspaces/w-1/raycluster/ray-1/api/"},
		{path: "/workspace/" + strings.Repeat("w", 129) + "/raycluster/ray-1/api/"},
		{path: ""},
	} {
		r, ok := parseRoute(tt.path)
		if ok != tt.ok {
			t.Errorf("%q: ok %v", tt.path, ok)
			continue
		}
		if !ok {
			continue
		}
		if r.kind != tt.kind || r.ws != tt.ws || r.id != tt.id || r.upstream != tt.upstream || r.base != "/workspace/"+tt.ws+"/raycluster/"+tt.id {
			t.Errorf("%q: %+v", tt.path, r)
		}
		if tt.prefixForRedirects != "" && r.prefix() != tt.prefixForRedirects {
			t.Errorf("%q: prefix %q", tt.path, r.prefix())
		}
	}
}

func TestParseRouteAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = parseRoute("/workspace/w-1/raycluster/ray-1/dashboard/api/jobs/") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestTakeParam(t *testing.T) {
	for _, tt := range []struct{ in, rest, value string }{
		{"token=abc", "", "abc"},
		{"a=1&token=abc&b=2", "a=1&b=2", "abc"},
		{"a=1&b=2", "a=1&b=2", ""},
		{"tokens=1&mytoken=2", "tokens=1&mytoken=2", ""},
		{"t%6Fken=abc&x=%41", "x=%41", "abc"},
		{"token=a%2Bb&token=second", "", "a+b"},
		{"token", "", ""},
	} {
		rest, value, _ := takeParam(tt.in, "token")
		if rest != tt.rest || value != tt.value {
			t.Errorf("%q: rest %q value %q, want %q %q", tt.in, rest, value, tt.rest, tt.value)
		}
	}
}

func TestDropCookies(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want []string
	}{
		{[]string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1; rayfleet_session=x; b=2"}, []string{"a=1; b=2"}},
		{[]string{"rayfleet_session=x", "ray-authentication-token=y", "c=3"}, []string{"c=3"}},
		{[]string{"rayfleet_session=x; ray-authentication-token=y"}, nil},
		{[]string{"rayfleet_session_other=1"}, []string{"rayfleet_session_other=1"}},
	} {
		h := http.Header{"Cookie": tt.in}
		dropCookies(h)
		if strings.Join(h["Cookie"], "|") != strings.Join(tt.want, "|") || (tt.want == nil) != (h["Cookie"] == nil) {
			t.Errorf("%q: %q, want %q", tt.in, h["Cookie"], tt.want)
		}
	}
	h := []string{"a=1; rayfleet_session=bad", "rayfleet_session=\"v\"; rayfleet_session=w"}
	var seen []string
	eachCookie(h, sessionCookie, func(v string) bool { seen = append(seen, v); return v == "v" })
	if strings.Join(seen, ",") != "bad,v" {
		t.Errorf("eachCookie saw %q, want bad and v, then stopped", seen)
	}
	seen = nil
	eachCookie(h, "other", func(v string) bool { seen = append(seen, v); return false })
	if len(seen) != 0 {
		t.Errorf("eachCookie other: %q", seen)
	}
}

func TestSessionValue(t *testing.T) {
	h := hashToken(tokenA)
	key := []byte("0123456789abcdef0123456789abcdef")
	v := sessionValue(key, "w", "r", h)
	if strings.Contains(v, tokenA) {
		t.Fatal("the session cookie holds the token")
	}
	if got, ok := sessionHash(key, "w", "r", v); !ok || got != h {
		t.Errorf("sessionHash of a session: %q %v", got, ok)
	}
	other := sessionValue(key, "w", "r", hashToken(tokenB))
	for name, bad := range map[string]struct{ key, ws, id, v string }{
		"another cluster":          {string(key), "w", "r2", v},
		"another workspace":        {string(key), "w2", "r", v},
		"another key":              {"another key, also thirty-two bytes", "w", "r", v},
		"another credential's MAC": {string(key), "w", "r", h + "." + strings.SplitN(other, ".", 2)[1]},
		"no MAC":                   {string(key), "w", "r", h},
		"upper-case hash":          {string(key), "w", "r", strings.ToUpper(h) + "." + strings.SplitN(v, ".", 2)[1]},
		"a short hash":             {string(key), "w", "r", h[:63] + "." + strings.SplitN(v, ".", 2)[1]},
		"empty":                    {string(key), "w", "r", ""},
	} {
		if _, ok := sessionHash([]byte(bad.key), bad.ws, bad.id, bad.v); ok {
			t.Errorf("%s: the session is accepted", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{Lookup: newFleet().lookup()}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{MaxBodyBytes: -1, MaxConns: 2, MaxConnsPerCluster: 3, SessionKey: []byte("short"), IdleTimeout: -1}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Lookup", "maxBodyBytes", "maxConnsPerCluster (3)", "sessionKey", "idleTimeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

func TestErrorBodies(t *testing.T) {
	w := httptest.NewRecorder()
	writeError(w, http.StatusUnauthorized, codeInvalidToken, "a \"quoted\" <message>\n")
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %v", w.Body, err)
	}
	if len(body) != 2 || body["Code"] != codeInvalidToken || body["Message"] != "a \"quoted\" <message>\n" {
		t.Errorf("%v", body)
	}
	if w.Code != http.StatusUnauthorized || w.Header().Get("Content-Length") != itoaLen(w.Body.Len()) {
		t.Errorf("status %d, length %s", w.Code, w.Header().Get("Content-Length"))
	}
	if got := grpcPercentEncode("100% sure\n"); got != "100%25 sure%0A" {
		t.Errorf("grpc-message %q", got)
	}
	if got := formatBytes(512 << 20); got != "512 MiB" {
		t.Errorf("formatBytes %q", got)
	}
}

func itoaLen(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
