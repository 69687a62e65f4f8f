package cli

import (
	"bytes"
	"strings"
	"testing"
)

// Names other users made are printed as they are, never acted on: no
// control character or bidirectional override reaches the terminal, in a
// table or an error line.
func TestUntrustedTextIsEscaped(t *testing.T) {
	for in, want := range map[string]string{
		"demo":                        "demo",
		"red\x1b[31mALERT\x1b[0m":     `red\x1b[31mALERT\x1b[0m`,
		"evil\u202egnp.exe":           `evil\u202egnp.exe`,
		"bell\a and\x7fdel":           `bell\x07 and\x7fdel`,
		"clear\x1b[2J\x1b[H":          `clear\x1b[2J\x1b[H`,
		"数据\u2066x\u2069":             `数据\u2066x\u2069`,
		"line one\nline two\r\tthree": "line one line two three",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
	var buf bytes.Buffer
	tb := newTable(&buf, "NAME", "STATE")
	tb.row("x\x1b]0;owned\x07", "Running")
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(buf.String(), "\x1b\x07") {
		t.Fatalf("a table printed a control character: %q", buf.String())
	}
	if got := printable("error: cluster \x1b[2Jgone"); got != `error: cluster \x1b[2Jgone` {
		t.Fatalf("printable: %q", got)
	}
}
