package rayjob

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A tail gets the chunks the head sends, with the client's headers on the
// handshake, and ends when the head closes the stream as Ray does once the
// job has ended; an unknown job is ErrNotFound.
func TestTail(t *testing.T) {
	upgrader := websocket.Upgrader{}
	var gotToken string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/jobs/rj-1/logs/tail" {
			http.Error(w, "Job does not exist", http.StatusNotFound)
			return
		}
		gotToken = r.Header.Get("ray-token")
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for _, m := range []string{"line 1\n", "line 2\n"} {
			_ = conn.WriteMessage(websocket.TextMessage, []byte(m))
		}
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	}))
	defer srv.Close()
	c := &Client{Address: srv.URL + "/", Header: http.Header{"ray-token": {"tok"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := c.Tail(ctx, "rj-1", &out); err != nil || out.String() != "line 1\nline 2\n" || gotToken != "tok" {
		t.Fatalf("Tail = %v, %q, token %q", err, out.String(), gotToken)
	}
	if err := c.Tail(ctx, "rj-2", &out); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Tail of an unknown job = %v, want ErrNotFound", err)
	}
}

// A tail ends with the context's error when the context ends first.
func TestTailCancelled(t *testing.T) {
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		_, _, _ = conn.ReadMessage() // until the client goes
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := (&Client{Address: srv.URL}).Tail(ctx, "rj-1", &bytes.Buffer{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Tail = %v, want the deadline", err)
	}
}
