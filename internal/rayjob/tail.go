package rayjob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"
)

// Tail follows the driver's log of a job as `ray job logs --follow` does:
// a WebSocket on /api/jobs/<id>/logs/tail, on which the head sends the log
// so far and then each new chunk, and which it closes when the job ends.
// Each chunk is written to w as it comes. It returns nil when the head
// closes the stream, ctx's error when ctx ends first, and an error
// wrapping ErrNotFound when the head has no job of that id.
func (c *Client) Tail(ctx context.Context, id string, w io.Writer) error {
	path := jobPath(id, "logs", "tail")
	base := strings.TrimRight(c.Address, "/")
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	h := http.Header{}
	for k, vs := range c.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	d := *websocket.DefaultDialer
	// The TLS settings of the client's transport (a private CA, say) apply
	// to the tail as to every other call.
	if c.HTTP != nil {
		if t, ok := c.HTTP.Transport.(*http.Transport); ok {
			d.TLSClientConfig, d.Proxy = t.TLSClientConfig, t.Proxy
		}
	}
	conn, resp, err := d.DialContext(ctx, base+path, h)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				return &Error{Method: http.MethodGet, Path: path, StatusCode: resp.StatusCode, Body: lastLines(string(body), 600)}
			}
		}
		return fmt.Errorf("ray job API GET %s: %w", path, err)
	}
	defer conn.Close()
	// ReadMessage does not watch ctx; closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) {
				return nil
			}
			return fmt.Errorf("ray job API GET %s: %w", path, err)
		}
		if _, err := w.Write(msg); err != nil {
			return err
		}
	}
}
