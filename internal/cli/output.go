package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// recorder is an http.RoundTripper that keeps the last response body. -o json
// prints what the server sent, not a re-encoding of api's typed structs, which
// would drop fields this client does not know yet and reorder the rest.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	last []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.last = data
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

func (r *recorder) body() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (a *app) json() bool { return a.output == "json" }

// printResponse prints the last response body, indented.
func (a *app) printResponse() error {
	return a.printRaw(a.rec.body())
}

func (a *app) printRaw(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the server's response is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := a.env.Stdout.Write(buf.Bytes())
	return err
}

// printValue prints a value of our own (profiles, version) as JSON.
func (a *app) printValue(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	_, err = a.env.Stdout.Write(data)
	return err
}

// table writes aligned columns; cells must not contain tabs or newlines
// (cell() takes care of that).
type table struct {
	tw     *tabwriter.Writer
	indent string
}

func newTable(w io.Writer, header ...string) *table {
	return newIndentedTable(w, "", header...)
}

// newIndentedTable is a table nested under a heading of a detail view.
func newIndentedTable(w io.Writer, indent string, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0), indent: indent}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = cell(c)
	}
	fmt.Fprintln(t.tw, t.indent+strings.Join(cols, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// cell makes s fit one table cell: one line, no tabs, no control
// characters (see printable), "-" when empty so columns stay countable.
func cell(s string) string {
	s = printable(strings.Join(strings.Fields(s), " "))
	if s == "" {
		return "-"
	}
	return s
}

// trim shortens s to n runes, marking the cut.
func trim(s string, n int) string {
	s = printable(strings.Join(strings.Fields(s), " "))
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// when formats a millisecond timestamp: relative ("5m ago") for people at a
// terminal, RFC 3339 in local time otherwise, so piped output is exact.
func (a *app) when(ms int64) string {
	return formatTime(ms, a.now(), a.env.IsTerminal)
}

func formatTime(ms int64, now time.Time, relative bool) string {
	if ms <= 0 {
		return "-"
	}
	t := time.UnixMilli(ms)
	if !relative {
		return t.Local().Format(time.RFC3339)
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.Local().Format(time.RFC3339)
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	case d < 30*24*time.Hour:
		return strconv.Itoa(int(d.Hours()/24)) + "d ago"
	}
	return t.Local().Format("2006-01-02")
}

// mask hides a secret but keeps its end, enough to tell two keys apart.
func mask(secret string) string {
	if secret == "" {
		return ""
	}
	if len(secret) < 12 {
		return "********"
	}
	return "********" + secret[len(secret)-4:]
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printable escapes what a terminal would act on rather than show:
// control characters (ESC starts colour and cursor sequences, which a
// name made by another user could use to rewrite the screen) and the
// bidirectional overrides that reorder what follows them, as Go's \x.. or
// \u.... escapes. Names and messages come from other users of the
// account: what the CLI prints of them is what they are.
func printable(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !unsafeRune(r) {
			b.WriteRune(r)
			continue
		}
		if r < 0x100 {
			fmt.Fprintf(&b, "\\x%02x", r)
		} else {
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == utf8.RuneError
}
