package kuberay

import (
	"fmt"
	"strings"

	"github.com/rayfleet/rayfleet"
)

// parseRayStartParams turns rayStartParams, written as after `ray start` on
// a command line, into KubeRay's rayStartParams map: --key=value and
// --key value give key → value, a --flag alone (or followed by another
// --option) gives flag → "true", which KubeRay turns back into a bare
// --flag. A later value of a key wins, as with Ray's own options. Words
// that are not options, and single-dash options, are refused: KubeRay has
// no way to pass them.
func parseRayStartParams(s string) (map[string]string, error) {
	words, err := rayfleet.SplitRayStartParams(s)
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
