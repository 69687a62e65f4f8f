package rayfleet

import (
	"os"
	"regexp"
	"testing"
)

// TestRayPinIsInTheCatalog: the Ray the test environment installs
// (scripts/python/requirements.txt) is a version the built-in catalog
// lists, so the local runtime's end-to-end tests run a release users can
// pick, with the Python the machines have (3.11).
func TestRayPinIsInTheCatalog(t *testing.T) {
	b, err := os.ReadFile("scripts/python/requirements.txt")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ray\[[a-z,]+\]==(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no ray[...]==<version> pin in scripts/python/requirements.txt")
	}
	pin := string(m[1])
	for _, r := range BuiltinReleaseVersions() {
		if r.RayVersion == pin && r.PythonVersion == "3.11" {
			return
		}
	}
	t.Fatalf("the test environment pins Ray %s, which no built-in release lists for Python 3.11", pin)
}
