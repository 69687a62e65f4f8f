package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The first refusal from a source is logged at once, the next ones of the
// minute are counted into one line, and other sources are logged apart;
// refusals that are not about credentials are not logged.
func TestAuthFailuresLoggedPerSource(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1_800_000_000, 0)
	a := newAuthFailures(slog.New(slog.NewTextHandler(&buf, nil)), nil, func() time.Time { return now })
	ctx := context.Background()
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }

	a.note(ctx, "10.0.0.1", "LTAIone", "SignatureDoesNotMatch")
	for range 5 {
		a.note(ctx, "10.0.0.1", "LTAIone", "SignatureDoesNotMatch")
	}
	a.note(ctx, "10.0.0.2", "LTAItwo", "InvalidAccessKeyId.NotFound")
	a.note(ctx, "10.0.0.3", "", "InvalidParameter")
	if l := lines(); len(l) != 2 || !strings.Contains(l[0], "source=10.0.0.1") || !strings.Contains(l[0], "failures=1") ||
		!strings.Contains(l[1], "source=10.0.0.2") || !strings.Contains(l[1], "lastAccessKeyId=LTAItwo") {
		t.Fatalf("log after the first refusals:\n%s", buf.String())
	}
	now = now.Add(authLogEvery)
	a.note(ctx, "10.0.0.1", "LTAIone", "SignatureNonceUsed")
	if l := lines(); len(l) != 3 || !strings.Contains(l[2], "source=10.0.0.1") || !strings.Contains(l[2], "failures=6") || !strings.Contains(l[2], "lastCode=SignatureNonceUsed") {
		t.Fatalf("log a minute later:\n%s", buf.String())
	}
}
