package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// logBuffer is a log's text, safe for the server's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hangingLookup is a Lookup whose token queries wait for their context,
// as a store's do, and end with its error: it says when one has started.
func hangingLookup(started chan<- struct{}) *lookupFuncs {
	var once sync.Once
	wait := func(ctx context.Context) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	}
	return &lookupFuncs{
		authorize: func(ctx context.Context, _ Request) (Grant, Verdict, error) { return Grant{}, 0, wait(ctx) },
	}
}

// A caller that hangs up while its token is looked up ends the lookup's
// context; that is no failure of the gateway or the store, and a soak of
// Ray clients that close their streams at once logged an error for each.
func TestLookupCutShortByTheCallerIsNoError(t *testing.T) {
	call := map[string]func(t *testing.T, cfg Config, ctx context.Context){
		"grpc": func(t *testing.T, cfg Config, ctx context.Context) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := GRPCServer(cfg, NewGRPC(cfg))
			go func() { _ = srv.Serve(l) }()
			t.Cleanup(func() { srv.Close() })
			conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			in, out := []byte("ping"), []byte(nil)
			_ = conn.Invoke(metadata.AppendToOutgoingContext(ctx, "ray-token", tokenA), "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}))
		},
		"http": func(t *testing.T, cfg Config, ctx context.Context) {
			srv := httptest.NewServer(NewHTTP(cfg))
			t.Cleanup(srv.Close)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/workspace/w-aaaaaaaaaaaaaaaa/raycluster/ray-aaaaaaaaaaaaaaaa/api/version", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("ray-token", tokenA)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		},
	}
	for name, do := range call {
		t.Run(name, func(t *testing.T) {
			var log logBuffer
			started := make(chan struct{})
			cfg := Config{Lookup: hangingLookup(started), Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-started
				cancel()
			}()
			do(t, cfg, ctx)
			poll.Until(t, 10*time.Second, "the lookup's end logged", func() bool { return strings.Contains(log.String(), "the caller hung up") })
			if strings.Contains(log.String(), "level=ERROR") {
				t.Errorf("a caller that hung up was logged as an error:\n%s", log.String())
			}
		})
	}
}
