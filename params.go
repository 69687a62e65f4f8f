package rayfleet

import (
	"errors"
	"strings"
)

// SplitRayStartParams splits rayStartParams the way a POSIX shell splits words,
// without expanding anything: blanks separate words, '...' is literal,
// "..." is literal except for \" \\ \$ \` and \newline, and a backslash
// outside quotes escapes the next character. Owners write the parameters
// as they would after `ray start` on a command line
// (--resources='{"GPU_A": 1}'), so this is the reading they expect. Both
// runtimes read them with it, so a spec means the same on each.
func SplitRayStartParams(s string) ([]string, error) {
	var (
		out     []string
		cur     strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
			if quote == '"' && !strings.ContainsRune("\"\\$`\n", r) {
				cur.WriteRune('\\')
			}
			if r != '\n' { // a line continuation is no character
				cur.WriteRune(r)
				inWord = true
			}
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped = true
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, errors.New("ends with a lone backslash")
	case quote == '\'':
		return nil, errors.New("has an unterminated ' quote")
	case quote == '"':
		return nil, errors.New("has an unterminated \" quote")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
