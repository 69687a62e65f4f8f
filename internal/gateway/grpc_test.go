package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// rawCodec moves messages as bytes, so the tests need no generated code: the
// gateway never looks inside messages anyway.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "raw" }

// seenCall is what a fake Ray client server received.
type seenCall struct {
	method string
	md     metadata.MD
}

// fakeClientServer stands in for a head's Ray client server: a real gRPC
// server that answers every method as a bidirectional stream, echoing each
// message as it comes, and ends with a trailer naming itself.
type fakeClientServer struct {
	name string
	addr string
	srv  *grpc.Server

	mu    sync.Mutex
	calls []seenCall
}

func newFakeClientServer(t *testing.T, name string) *fakeClientServer {
	t.Helper()
	s := &fakeClientServer{name: name}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		md, _ := metadata.FromIncomingContext(stream.Context())
		s.mu.Lock()
		s.calls = append(s.calls, seenCall{method, md})
		s.mu.Unlock()
		stream.SetTrailer(metadata.Pairs("x-head", name))
		for {
			var msg []byte
			err := stream.RecvMsg(&msg)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if string(msg) == "fail" {
				return status.Error(codes.FailedPrecondition, name+" was told to fail")
			}
			out := append([]byte(name+" echo: "), msg...)
			if err := stream.SendMsg(&out); err != nil {
				return err
			}
		}
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr, s.srv = l.Addr().String(), srv
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s
}

func (s *fakeClientServer) seen() []seenCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenCall(nil), s.calls...)
}

type grpcEnv struct {
	fleet      *fleet
	srvA, srvB *fakeClientServer
	a, b       *fakeCluster
	conn       *grpc.ClientConn // to the gateway
	addr       string           // the gateway's
}

func newGRPCEnv(t *testing.T, cfg Config) *grpcEnv {
	t.Helper()
	e := &grpcEnv{fleet: newFleet(), srvA: newFakeClientServer(t, "A"), srvB: newFakeClientServer(t, "B")}
	e.a = e.fleet.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, client: e.srvA.addr})
	e.b = e.fleet.add(&fakeCluster{ws: "w-bbbbbbbbbbbbbbbb", id: "ray-bbbbbbbbbbbbbbbb", token: tokenB, client: e.srvB.addr})
	if c, ok := cfg.Lookup.(*countingLookup); ok {
		c.inner = e.fleet.lookup()
	} else {
		cfg.Lookup = e.fleet.lookup()
	}
	cfg.Logger = testLogger(t)
	srv := GRPCServer(cfg, NewGRPC(cfg))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.conn, e.addr = conn, l.Addr().String()
	return e
}

var bidi = &grpc.StreamDesc{StreamName: "Datapath", ServerStreams: true, ClientStreams: true}

// Ray's data stream, as ray.init("ray://...", _metadata=[("ray-token", t)])
// opens it: messages flow both ways, one at a time, and the trailers come
// back.
func TestGRPCBidiStream(t *testing.T) {
	e := newGRPCEnv(t, Config{})
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.rayToken = "ray-internal-secret" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, tc := range []struct {
		token, head, auth string
		srv               *fakeClientServer
	}{
		{tokenA, "A", "Bearer ray-internal-secret", e.srvA},
		{tokenB, "B", "", e.srvB},
	} {
		callCtx := metadata.AppendToOutgoingContext(ctx, "ray-token", tc.token, "client_id", "c0ffee", "authorization", "Bearer the-clients-own")
		cs, err := e.conn.NewStream(callCtx, bidi, "/ray.rpc.RayletDataStreamer/Datapath", grpc.ForceCodecV2(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		// Interleaved: each answer arrives before the next message is sent,
		// so nothing waits for the stream to end.
		for _, m := range []string{"init", "put", strings.Repeat("x", 1<<20), "get"} {
			msg := []byte(m)
			if err := cs.SendMsg(&msg); err != nil {
				t.Fatalf("send: %v", err)
			}
			var got []byte
			if err := cs.RecvMsg(&got); err != nil {
				t.Fatalf("recv: %v", err)
			}
			if want := tc.head + " echo: " + m; string(got) != want {
				t.Fatalf("got %.40q, want %.40q", got, want)
			}
		}
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var extra []byte
		if err := cs.RecvMsg(&extra); !errors.Is(err, io.EOF) {
			t.Fatalf("end of stream: %v", err)
		}
		if got := cs.Trailer().Get("x-head"); len(got) != 1 || got[0] != tc.head {
			t.Errorf("trailer x-head %v, want %s", got, tc.head)
		}

		calls := tc.srv.seen()
		if len(calls) != 1 || calls[0].method != "/ray.rpc.RayletDataStreamer/Datapath" {
			t.Fatalf("head %s saw %v", tc.head, calls)
		}
		md := calls[0].md
		if v := md.Get("ray-token"); len(v) != 0 {
			t.Errorf("head %s got ray-token %v", tc.head, v)
		}
		if v := md.Get("client_id"); len(v) != 1 || v[0] != "c0ffee" {
			t.Errorf("head %s got client_id %v", tc.head, v)
		}
		if v := md.Get("authorization"); tc.auth == "" && len(v) != 0 || tc.auth != "" && (len(v) != 1 || v[0] != tc.auth) {
			t.Errorf("head %s got authorization %v, want %q", tc.head, v, tc.auth)
		}
	}
}

// A unary call (ClusterInfo, KVGet...) and an error status from the head.
func TestGRPCUnaryAndStatus(t *testing.T) {
	e := newGRPCEnv(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "ray-token", tokenA)

	in, out := []byte("ping"), []byte(nil)
	var trailer metadata.MD
	if err := e.conn.Invoke(ctx, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}), grpc.Trailer(&trailer)); err != nil {
		t.Fatal(err)
	}
	if string(out) != "A echo: ping" || trailer.Get("x-head")[0] != "A" {
		t.Fatalf("got %q, trailer %v", out, trailer)
	}

	in = []byte("fail")
	err := e.conn.Invoke(ctx, "/ray.rpc.RayletDriver/KVGet", &in, &out, grpc.ForceCodecV2(rawCodec{}))
	if s := status.Convert(err); s.Code() != codes.FailedPrecondition || s.Message() != "A was told to fail" {
		t.Fatalf("status %v, want the head's FailedPrecondition", err)
	}
}

// When a head's client server dies, the gateway lets go of its connection
// to it at once, and an open stream through it ends with UNAVAILABLE.
func TestGRPCDeadHeadLetGo(t *testing.T) {
	e := newGRPCEnv(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "ray-token", tokenA)
	stream, err := e.conn.NewStream(ctx, bidi, "/ray.rpc.RayletDriver/Datapath", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	in, out := []byte("hello"), []byte(nil)
	if err := stream.SendMsg(&in); err != nil {
		t.Fatal(err)
	}
	if err := stream.RecvMsg(&out); err != nil || string(out) != "A echo: hello" {
		t.Fatalf("first message %q, %v", out, err)
	}
	if n := socketsTo(t, e.srvA.addr); n != 1 {
		t.Fatalf("%d gateway connections to the head, want 1", n)
	}
	e.srvA.srv.Stop() // the head dies: its connections close
	poll.Until(t, 10*time.Second, "the gateway to close its connection to the dead head", func() bool { return socketsTo(t, e.srvA.addr) == 0 })
	if err := stream.RecvMsg(&out); status.Code(err) != codes.Unavailable {
		t.Fatalf("the open stream got %v, want UNAVAILABLE", err)
	}
	poll.Until(t, 10*time.Second, "the stream's copy of the client's messages to end", func() bool {
		buf := make([]byte, 1<<20)
		return !bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("writeRequestBody"))
	})
}

// No token, a wrong one, a revoked one: UNAUTHENTICATED, and no head sees
// the call.
func TestGRPCTokenRefused(t *testing.T) {
	e := newGRPCEnv(t, Config{})
	c := e.fleet.add(&fakeCluster{ws: "w-cccccccccccccccc", id: "ray-cccccccccccccccc", token: "cccccccccccccccccccccccccccccccc", client: e.srvA.addr})
	e.fleet.update(c.ws, c.id, func(c *fakeCluster) { c.token = "" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, md := range map[string][]string{
		"no token":      {"client_id", "x"},
		"wrong token":   {"ray-token", "0123456789abcdef0123456789abcdee"},
		"revoked token": {"ray-token", "cccccccccccccccccccccccccccccccc"},
		"long token":    {"ray-token", strings.Repeat("a", 4096)},
		"Ray's auth":    {"authorization", "Bearer " + tokenA},
	} {
		t.Run(name, func(t *testing.T) {
			callCtx := metadata.AppendToOutgoingContext(ctx, md...)
			in, out := []byte("ping"), []byte(nil)
			err := e.conn.Invoke(callCtx, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}))
			if s := status.Convert(err); s.Code() != codes.Unauthenticated || !strings.Contains(s.Message(), "ray-token") {
				t.Fatalf("got %v, want Unauthenticated naming ray-token", err)
			}
			cs, err := e.conn.NewStream(callCtx, bidi, "/ray.rpc.RayletDataStreamer/Datapath", grpc.ForceCodecV2(rawCodec{}))
			if err != nil {
				t.Fatal(err)
			}
			_ = cs.SendMsg(&in)
			if err := cs.RecvMsg(&out); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("stream: %v, want Unauthenticated", err)
			}
		})
	}
	if n := len(e.srvA.seen()) + len(e.srvB.seen()); n != 0 {
		t.Errorf("heads saw %d calls", n)
	}
}

func TestGRPCHeadNotRunning(t *testing.T) {
	e := newGRPCEnv(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "ray-token", tokenA)
	in, out := []byte("ping"), []byte(nil)

	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.running = false })
	err := e.conn.Invoke(ctx, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}))
	if s := status.Convert(err); s.Code() != codes.Unavailable || !strings.Contains(s.Message(), "not running") {
		t.Fatalf("got %v, want Unavailable", err)
	}
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.running, c.client = true, freeAddr(t) })
	err = e.conn.Invoke(ctx, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
}

func TestGRPCStreamLimit(t *testing.T) {
	e := newGRPCEnv(t, Config{MaxConns: 2, MaxConnsPerCluster: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctxA := metadata.AppendToOutgoingContext(ctx, "ray-token", tokenA)
	held, err := e.conn.NewStream(ctxA, bidi, "/ray.rpc.RayletDataStreamer/Datapath", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	msg, got := []byte("hold"), []byte(nil)
	if err := held.SendMsg(&msg); err != nil {
		t.Fatal(err)
	}
	if err := held.RecvMsg(&got); err != nil {
		t.Fatal(err)
	}
	in, out := []byte("ping"), []byte(nil)
	err = e.conn.Invoke(ctxA, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second stream to A: %v, want ResourceExhausted", err)
	}
	ctxB := metadata.AppendToOutgoingContext(ctx, "ray-token", tokenB)
	if err := e.conn.Invoke(ctxB, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{})); err != nil {
		t.Fatalf("B while A is full: %v", err)
	}
	_ = held.CloseSend()
	if err := held.RecvMsg(&got); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "A's slot freed", func() bool {
		return e.conn.Invoke(ctxA, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{})) == nil
	})
}

// The gRPC listener says what it is to anything that is not gRPC.
func TestGRPCListenerRefusesPlainHTTP(t *testing.T) {
	fl := newFleet()
	h := NewGRPC(Config{Lookup: fl.lookup()})
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := GRPCServer(Config{Lookup: fl.lookup()}, h)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Transport: &http.Transport{Protocols: &h2c}, Timeout: 10 * time.Second}
	res, err := client.Post("http://"+l.Addr().String()+"/ray.rpc.RayletDriver/ClusterInfo", "application/json", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	wantError(t, res, http.StatusUnsupportedMediaType, "UnsupportedProtocol")
}
