// Package gateway is the way in to the Ray clusters rayfleet runs: the Ray
// dashboard and the Ray job API over HTTP, and the Ray client protocol (gRPC
// over HTTP/2) for ray.init("ray://..."), all behind the data-plane
// credentials (per user, access key and cluster instance, expiring) that
// dashboardUrl and submitToken carry, each door authorized on its own.
//
// NewHTTP serves /workspace/<ws>/raycluster/<id>/dashboard/... and
// /workspace/<ws>/raycluster/<id>/api/... and proxies them to the head's
// dashboard (which also serves the job API) with the prefix stripped; NewGRPC
// routes each HTTP/2 stream by its ray-token metadata to the head's Ray client
// server. Both check the credential at its door (Lookup.Authorize) before
// anything reaches a head, keep what is open ending with it (flights.go),
// tell an Auditor of sessions, jobs and Ray client connections, never forward
// the token, the gateway's cookie, the caller's Authorization header or its
// forwarding headers (X-Forwarded-*, X-Real-IP, Forwarded), inject
// Ray's own token when Ray's token authentication is on, stream bodies both
// ways without buffering them, and bound bodies and concurrent requests;
// LimitListener bounds the client connections a listener holds.
//
// NewHTTPServer is the HTTP side: one net/http server, and
// httputil.ReverseProxy over the standard library's transport to the
// heads, whose kept connections refuse bytes a head sends before it is
// asked (upstream.go). The gateway remembers that a credential opens a door
// of a running cluster, with its head, for Config.LookupCacheTTL instead of
// asking Lookup each time (cache.go). The in-flight slots are shared between
// accounts (see Config.MaxConns and Grant.Account); a client that hangs up gives its slot
// back at once, since net/http cancels its request. bench/README.md has
// the figures.
//
// What the clients send, and so what this package relies on (read in Ray's
// sources, python/ray/...):
//   - JobSubmissionClient(jobUrl, headers={"ray-token": t}) and
//     `ray job submit|status|logs|stop --address jobUrl --headers '{"ray-token":"t"}'`
//     (dashboard/modules/dashboard_sdk.py, job/sdk.py, job/cli.py; the
//     headers may also come from RAY_JOB_HEADERS) join the address and the
//     endpoint by plain concatenation, so a path prefix survives: GET
//     /api/version, POST and GET /api/jobs/, GET and DELETE /api/jobs/<id>,
//     GET /api/jobs/<id>/logs, POST /api/jobs/<id>/stop, GET and PUT
//     /api/packages/<protocol>/<name> (working_dir and py_modules zips, whole
//     files as the body), and a WebSocket on /api/jobs/<id>/logs/tail, every
//     one of them with the same headers.
//   - ray.init("ray://host:port", _metadata=[("ray-token", t)]) (client_builder.py
//     takes _metadata; util/client/worker.py, dataclient.py and logsclient.py
//     send it on every call and stream, next to Ray's own client_id).
//   - The dashboard's frontend asks for everything by relative URL
//     (dashboard/client/src/service/requestHandlers.ts strips the leading
//     slash), so it works under a prefix as long as the page URL ends in "/";
//     Ray's docs ("Running behind a reverse proxy") say the same. Its log
//     views read plain and chunked GETs (api/v0/logs/file, api/v0/logs/stream).
//   - Ray's own token authentication (RAY_AUTH_MODE=token) takes
//     "authorization: Bearer <token>" on HTTP and as gRPC metadata
//     (_private/authentication/authentication_constants.py,
//     http_token_authentication.py, grpc_authentication_server_interceptor.py).
//
// It imports only the standard library: net/http speaks HTTP/2 without TLS
// (http.Protocols) on both sides of the gRPC proxy. The consumer-owned Lookup
// interface is how it learns tokens and upstreams; internal/app wires it to
// the store and the runtime.
package gateway
