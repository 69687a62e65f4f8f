package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rayfleet/rayfleet/api"
)

// tokenHeader is how the job API and the Ray client protocol present a
// cluster's submitToken to the gateway.
const tokenHeader = "ray-token"

// wrongToken has a real token's shape.
const wrongToken = "0123456789abcdef0123456789abcdef"

// gatewayClient is the HTTP client of the gateway calls: connections kept,
// redirects not followed, so that the dashboard's 302 is seen.
func gatewayClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get asks url with the token in the ray-token header ("" for none) and
// checks the answer's status; it returns the body.
func get(ctx context.Context, c *http.Client, url, token string, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set(tokenHeader, token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return body, fmt.Errorf("%d, want %d: %.200s", resp.StatusCode, want, body)
	}
	return body, nil
}

// submitJob submits, through the gateway, a job that prints a line every
// 2 s until its cluster stops, for the log tails to read.
func (s *soak) submitJob(ctx context.Context, cl *api.Cluster) (string, error) {
	body, _ := json.Marshal(map[string]string{"entrypoint": "while true; do echo soak $(date +%s); sleep 2; done"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.JobURL+"/api/jobs/", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set(tokenHeader, cl.SubmitToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := gatewayClient(nil).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /api/jobs/: %d %.200s", resp.StatusCode, out)
	}
	var job struct {
		SubmissionID string `json:"submission_id"`
	}
	if err := json.Unmarshal(out, &job); err != nil || job.SubmissionID == "" {
		return "", fmt.Errorf("POST /api/jobs/: no submission_id in %.200s", out)
	}
	return job.SubmissionID, nil
}

// httpCalls is the gateway's HTTP mix on the steady cluster: the job API
// and the dashboard with the token, without it and with a wrong one, and
// clients that hang up before the answer.
func (s *soak) httpCalls() []call {
	c := gatewayClient(nil)
	// The steady cluster's gateway URL and token, as of now: a restart
	// gives it a new token.
	cur := func() (base, token string) {
		cl, _ := s.steady.get()
		return cl.JobURL, cl.SubmitToken
	}
	// raw is a request line and headers for a client that hangs up.
	raw := func(method, path string) (addr, req string) {
		base, token := cur()
		u, _ := url.Parse(base)
		return u.Host, method + " " + u.Path + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + tokenHeader + ": " + token + "\r\n"
	}
	return []call{
		s.viaHead("gateway GET /api/version", func(ctx context.Context) error {
			base, token := cur()
			body, err := get(ctx, c, base+"/api/version", token, http.StatusOK)
			if err == nil && !bytes.Contains(body, []byte("ray_version")) {
				err = fmt.Errorf("no ray_version in %.200s", body)
			}
			return err
		}),
		s.viaHead("gateway GET /api/jobs/", func(ctx context.Context) error {
			base, token := cur()
			_, err := get(ctx, c, base+"/api/jobs/", token, http.StatusOK)
			return err
		}),
		s.viaHead("gateway dashboard with ?token= (302, then the page)", func(ctx context.Context) error {
			cl, _ := s.steady.get()
			jar, _ := cookiejar.New(nil)
			dc := gatewayClient(jar)
			if _, err := get(ctx, dc, cl.DashboardURL, "", http.StatusFound); err != nil {
				return err
			}
			body, err := get(ctx, dc, cl.JobURL+"/dashboard/", "", http.StatusOK)
			if err == nil && !bytes.Contains(bytes.ToLower(body), []byte("<html")) {
				err = fmt.Errorf("not a page: %.200s", body)
			}
			return err
		}),
		{"gateway dashboard, no token (refused)", func(ctx context.Context) error {
			base, _ := cur()
			_, err := get(ctx, c, base+"/dashboard/", "", http.StatusUnauthorized)
			return err
		}},
		{"gateway dashboard, wrong ?token= (refused)", func(ctx context.Context) error {
			base, _ := cur()
			_, err := get(ctx, c, base+"/dashboard/?token="+wrongToken, "", http.StatusUnauthorized)
			return err
		}},
		{"gateway GET /api/version, wrong token (refused)", func(ctx context.Context) error {
			base, _ := cur()
			_, err := get(ctx, c, base+"/api/version", wrongToken, http.StatusUnauthorized)
			return err
		}},
		{"gateway GET /api/jobs/, no token (refused)", func(ctx context.Context) error {
			base, _ := cur()
			_, err := get(ctx, c, base+"/api/jobs/", "", http.StatusUnauthorized)
			return err
		}},
		{"gateway hang-up: headers cut short", func(ctx context.Context) error {
			addr, req := raw("GET", "/api/version")
			return hangUp(ctx, addr, req)
		}},
		{"gateway hang-up: request sent, answer unread", func(ctx context.Context) error {
			addr, req := raw("GET", "/api/jobs/")
			return hangUp(ctx, addr, req+"\r\n")
		}},
		{"gateway hang-up: body cut short", func(ctx context.Context) error {
			addr, req := raw("POST", "/api/jobs/")
			return hangUp(ctx, addr, req+"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"entrypoint\":")
		}},
	}
}

// hangUp opens a connection to addr, writes what, waits 50 ms and closes
// it without reading an answer.
func hangUp(ctx context.Context, addr, what string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, what); err != nil {
		return err
	}
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

// grpcCalls is the Ray client protocol's mix through the gateway's gRPC
// listener: calls to the head's Ray client server with the token (any
// answer of Ray's will do: these carry no Ray client id, so Ray refuses
// them cheaply instead of starting a server per client), on a kept
// connection and on a new one each time, a stream hung up at once, and
// calls with a wrong token or none, which the gateway must refuse.
func (s *soak) grpcCalls() []call {
	// The gateway's address stays; the token changes when the steady
	// cluster is started again.
	cl, _ := s.steady.get()
	target := trimScheme(cl.GrpcEndpoint)
	kept, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return []call{{"grpc connect", func(context.Context) error { return err }}}
	}
	s.atEnd = append(s.atEnd, func() { kept.Close() })
	good := func(ctx context.Context) context.Context {
		cl, _ := s.steady.get()
		return metadata.AppendToOutgoingContext(ctx, tokenHeader, cl.SubmitToken)
	}
	clusterInfo := func(ctx context.Context, conn *grpc.ClientConn) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // as the HTTP calls' client
		defer cancel()
		return conn.Invoke(ctx, "/ray.rpc.RayletDriver/ClusterInfo", &emptypb.Empty{}, &emptypb.Empty{})
	}
	// fromHead accepts any status but those that say the gateway did not
	// reach the head.
	fromHead := func(kind string, err error) error {
		st := status.Convert(err)
		s.tally.note(kind, st.Code().String())
		switch st.Code() {
		case codes.Unauthenticated, codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			return fmt.Errorf("%s: %s", st.Code(), st.Message())
		}
		return nil
	}
	refusedToken := func(err error) error {
		if st := status.Convert(err); st.Code() != codes.Unauthenticated {
			return fmt.Errorf("%s (%s), want Unauthenticated", st.Code(), st.Message())
		}
		return nil
	}
	const keptKind, newKind = "grpc ClusterInfo, kept connection", "grpc ClusterInfo, new connection"
	return []call{
		s.viaHead(keptKind, func(ctx context.Context) error {
			return fromHead(keptKind, clusterInfo(good(ctx), kept))
		}),
		s.viaHead(newKind, func(ctx context.Context) error {
			conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return err
			}
			defer conn.Close()
			return fromHead(newKind, clusterInfo(good(ctx), conn))
		}),
		s.viaHead("grpc Datapath stream, hung up", func(ctx context.Context) error {
			sctx, cancel := context.WithCancel(good(ctx))
			st, err := kept.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/ray.rpc.RayletDataStreamer/Datapath")
			if err == nil {
				err = st.SendMsg(&emptypb.Empty{})
			}
			cancel()
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		}),
		{"grpc ClusterInfo, wrong token (refused)", func(ctx context.Context) error {
			return refusedToken(clusterInfo(metadata.AppendToOutgoingContext(ctx, tokenHeader, wrongToken), kept))
		}},
		{"grpc ClusterInfo, no token (refused)", func(ctx context.Context) error {
			return refusedToken(clusterInfo(ctx, kept))
		}},
	}
}

// tailCalls opens the WebSocket log tail of the steady cluster's job,
// reads what comes for 3 s and drops the connection without a close
// frame, as a closed browser tab does; and tries one with a wrong token.
func (s *soak) tailCalls() []call {
	tailURL := func() (string, string) {
		cl, job := s.steady.get()
		return "ws" + strings.TrimPrefix(cl.JobURL, "http") + "/api/jobs/" + url.PathEscape(job) + "/logs/tail", cl.SubmitToken
	}
	const tailKind = "gateway WebSocket log tail, dropped"
	return []call{
		s.viaHead(tailKind, func(ctx context.Context) error {
			u, token := tailURL()
			conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, http.Header{tokenHeader: {token}})
			if err != nil {
				return handshakeError(err, resp)
			}
			defer conn.NetConn().Close()
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			n := 0
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					break
				}
				n++
			}
			if n > 0 {
				s.tally.note(tailKind, "lines read")
			} else {
				s.tally.note(tailKind, "nothing read in 3 s")
			}
			return nil
		}),
		{"gateway WebSocket log tail, wrong token (refused)", func(ctx context.Context) error {
			u, _ := tailURL()
			conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, http.Header{tokenHeader: {wrongToken}})
			if err == nil {
				conn.Close()
				return errors.New("opened, want 401")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				return fmt.Errorf("%w, want 401", handshakeError(err, resp))
			}
			return nil
		}},
	}
}

// handshakeError is a failed WebSocket dial with the answer's status and
// the start of its body, if there was an answer.
func handshakeError(err error, resp *http.Response) error {
	if resp == nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return fmt.Errorf("%w (%d %s)", err, resp.StatusCode, body)
}
