package kuberay

import (
	"errors"
	"fmt"
	"strings"
)

// parseRayStartParams turns rayStartParams, written as after `ray start` on
// a command line, into KubeRay's rayStartParams map: --key=value and
// --key value give key → value, a --flag alone (or followed by another
// --option) gives flag → "true", which KubeRay turns back into a bare
// --flag. A later value of a key wins, as with Ray's own options. Words
// that are not options, and single-dash options, are refused: KubeRay has
// no way to pass them.
func parseRayStartParams(s string) (map[string]string, error) {
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "--") || w == "--" {
			return nil, fmt.Errorf("%q is not a --option (write --key=value, --key value or --flag)", w)
		}
		key, value, hasValue := strings.Cut(w[2:], "=")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("%q has no option name", w)
		}
		if !hasValue {
			if i+1 < len(words) && !strings.HasPrefix(words[i+1], "--") {
				value = words[i+1]
				i++
			} else {
				value = "true"
			}
		}
		out[key] = value
	}
	return out, nil
}

// splitWords splits s the way a POSIX shell splits words, without
// expanding anything: blanks separate words, '...' is literal, "..." is
// literal except for \" \\ \$ \` and \newline, and a backslash outside
// quotes escapes the next character. It reads rayStartParams exactly as the
// local runtime does, so a spec means the same on both.
func splitWords(s string) ([]string, error) {
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
