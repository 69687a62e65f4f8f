package authz

import "strings"

// globMatch reports whether s matches pattern, where "*" matches any run of
// characters (also none, also across "/" and ":") and "?" exactly one
// character; every other character matches itself. It backtracks only to
// the last "*", so it runs in O(len(pattern)·len(s)) at worst.
func globMatch(pattern, s string) bool {
	// Fast paths for the common shapes.
	if pattern == "*" {
		return true
	}
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	starP, starT := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '*':
			starP, starT = pi, ti
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case starP >= 0:
			// Let the last "*" swallow one more character and retry.
			starT++
			pi, ti = starP+1, starT
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// actionMatches compares an action pattern with an action name. RAM treats
// action names case-insensitively ("In most cases, the value of the Action
// element is not case-sensitive").
func actionMatches(pattern, action string) bool {
	return globMatch(strings.ToLower(pattern), strings.ToLower(action))
}

// resourceMatches compares a Resource pattern with an ARN, case-sensitively
// as RAM does for resource names (OSS object names differ by case). rayfleet's
// ids are lower case, so a policy must spell them that way.
func resourceMatches(pattern, arn string) bool {
	return globMatch(pattern, arn)
}
