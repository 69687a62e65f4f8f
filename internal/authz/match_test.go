package authz

import (
	"regexp"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "abbc", false},
		{"?", "é", true}, // one character, not one byte
		{"a*", "a", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*c", "abc", true},
		{"*b*", "abc", true},
		{"a**c", "ac", true},
		{"*a*b", "xaxxb", true},
		{"*a*b", "xaxxbx", false},
		{"a*b*c", "abacbc", true},
		{"a*?", "a", false},
		{"a*?", "ab", true},
		{"acs:emr-serverless-spark:*:*:workspace/w-1/*", "acs:emr-serverless-spark:cn-hangzhou:1234567890123456:workspace/w-1/raycluster/ray-1", true},
		{"acs:emr-serverless-spark:*:*:workspace/w-1/*", "acs:emr-serverless-spark:cn-hangzhou:1234567890123456:workspace/w-1", false},
		{"acs:emr-serverless-spark:*:*:workspace/w-1/*", "acs:emr-serverless-spark:cn-hangzhou:1234567890123456:workspace/w-2/raycluster/ray-1", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// globMatch agrees with a regular expression built from the same pattern.
func TestGlobMatchAgreesWithRegexp(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pattern := rapid.StringMatching(`[ab*?/]{0,8}`).Draw(t, "pattern")
		s := rapid.StringMatching(`[abé/]{0,10}`).Draw(t, "s")
		var re strings.Builder
		re.WriteString(`^`)
		for _, r := range pattern {
			switch r {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(`$`)
		want := regexp.MustCompile("(?s)" + re.String()).MatchString(s)
		if got := globMatch(pattern, s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
	})
}

func TestActionAndResourceCase(t *testing.T) {
	if !actionMatches("EMR-Serverless-Spark:getraycluster", "emr-serverless-spark:GetRayCluster") {
		t.Error("action names must match case-insensitively")
	}
	if !actionMatches("emr-serverless-spark:get*", "emr-serverless-spark:GetRayCluster") {
		t.Error("action wildcards must match case-insensitively")
	}
	if resourceMatches("acs:emr-serverless-spark:*:*:workspace/W-1", "acs:emr-serverless-spark:r:1:workspace/w-1") {
		t.Error("resources must match case-sensitively")
	}
}

func BenchmarkGlobMatchWorstCase(b *testing.B) {
	pattern := strings.Repeat("*a", 50) + "b"
	s := strings.Repeat("a", 3000)
	for b.Loop() {
		globMatch(pattern, s)
	}
}
