package rayjob

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// An ignore is a list of Git wildmatch patterns (.gitignore syntax) and the
// directory their paths are relative to. Ray matches a working directory's
// files against the runtime env's excludes (relative to the working
// directory) and against each .gitignore and .rayignore it meets (relative
// to the directory holding it, for that directory's subtree), with the
// same rules as Git's wildmatch: a path matches when the last pattern that
// matches it is not negated. Paths are matched without a trailing slash,
// directories included, so "build/" excludes what is under build but not
// the directory itself (which Ray still hashes).
type ignore struct {
	base     string // absolute
	patterns []ignorePattern
}

type ignorePattern struct {
	re      *regexp.Regexp
	include bool // false for a negated ("!") pattern
}

// newIgnore compiles lines relative to base; blank lines, comments and
// patterns that cannot match are dropped.
func newIgnore(base string, lines []string) *ignore {
	ig := &ignore{base: base}
	for _, l := range lines {
		if p, ok := compileWildmatch(l); ok {
			ig.patterns = append(ig.patterns, p)
		}
	}
	return ig
}

// readIgnoreFile reads dir/name into an ignore, nil when there is none.
func readIgnoreFile(dir, name string) *ignore {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil
	}
	return newIgnore(dir, strings.Split(string(b), "\n"))
}

// matches reports whether path (absolute) is excluded.
func (ig *ignore) matches(path string) bool {
	rel, err := filepath.Rel(ig.base, path)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	matched := false
	for _, p := range ig.patterns {
		if p.re.MatchString(rel) {
			matched = p.include
		}
	}
	return matched
}

// compileWildmatch turns one .gitignore line into a regular expression over
// slash-separated relative paths, the translation Ray's bundled pathspec
// makes: a pattern without a slash but at its end matches at any depth, a
// leading slash anchors it, a trailing slash stands for everything under
// it, "**" spans directories and "*", "?" and "[...]" stay in one segment.
func compileWildmatch(line string) (ignorePattern, bool) {
	pat := strings.TrimSpace(line)
	if pat == "" || strings.HasPrefix(pat, "#") || pat == "/" {
		return ignorePattern{}, false
	}
	include := true
	if strings.HasPrefix(pat, "!") {
		include, pat = false, pat[1:]
	}
	pat = strings.TrimPrefix(pat, `\`)
	segs := strings.Split(pat, "/")
	switch {
	case segs[0] == "":
		segs = segs[1:] // anchored at the base
	case len(segs) == 1 || len(segs) == 2 && segs[1] == "":
		if segs[0] != "**" {
			segs = append([]string{"**"}, segs...) // at any depth
		}
	}
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs[len(segs)-1] = "**"
	}
	var b strings.Builder
	b.WriteString("^")
	needSlash := false
	last := len(segs) - 1
	for i, seg := range segs {
		switch {
		case seg == "**" && i == 0 && i == last:
			b.WriteString(".+")
		case seg == "**" && i == 0:
			b.WriteString("(?:.+/)?")
			needSlash = false
		case seg == "**" && i == last:
			b.WriteString("/.*")
		case seg == "**":
			b.WriteString("(?:/.+)?")
			needSlash = true
		case seg == "*":
			if needSlash {
				b.WriteString("/")
			}
			b.WriteString("[^/]+")
			needSlash = true
		default:
			if needSlash {
				b.WriteString("/")
			}
			b.WriteString(segmentGlob(seg))
			if i == last && include {
				b.WriteString("(?:/.*)?")
			}
			needSlash = true
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return ignorePattern{}, false
	}
	return ignorePattern{re: re, include: include}, true
}

// segmentGlob translates the glob of one path segment.
func segmentGlob(seg string) string {
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '\\' && i+1 < len(seg):
			i++
			b.WriteString(regexp.QuoteMeta(seg[i : i+1]))
		case c == '\\':
			// A lone trailing backslash escapes nothing.
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			j := i + 1
			if j < len(seg) && seg[j] == '!' {
				j++
			}
			if j < len(seg) && seg[j] == ']' {
				j++
			}
			for j < len(seg) && seg[j] != ']' {
				j++
			}
			if j >= len(seg) {
				b.WriteString(`\[`)
				continue
			}
			body := seg[i+1 : j]
			b.WriteString("[")
			switch {
			case strings.HasPrefix(body, "!"):
				b.WriteString("^")
				body = body[1:]
			case strings.HasPrefix(body, "^"):
				b.WriteString(`\^`)
				body = body[1:]
			}
			b.WriteString(strings.ReplaceAll(body, `\`, `\\`))
			b.WriteString("]")
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(seg[i : i+1]))
		}
	}
	return b.String()
}
