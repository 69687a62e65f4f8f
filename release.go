package rayfleet

import (
	"fmt"
	"strings"
	"time"
)

// ReleaseVersion is a Ray engine a cluster can run: the display string users
// pick, and the Ray version, Python version and container image behind it.
type ReleaseVersion struct {
	// Display is the string the API uses, e.g. "ray-1.0.0 (Ray 2.47.1, Python 3.12)".
	Display string `yaml:"displayReleaseVersion" json:"displayReleaseVersion"`
	// Version is the short name, e.g. "ray-1.0.0".
	Version       string    `yaml:"releaseVersion" json:"releaseVersion"`
	RayVersion    string    `yaml:"rayVersion" json:"rayVersion"`
	PythonVersion string    `yaml:"pythonVersion" json:"pythonVersion"`
	Image         string    `yaml:"image" json:"image"`
	State         string    `yaml:"state" json:"state"`
	Type          string    `yaml:"type" json:"type"`
	CPUArch       []string  `yaml:"cpuArchitectures" json:"cpuArchitectures"`
	CreateTime    time.Time `yaml:"-" json:"-"`
	Custom        bool      `yaml:"-" json:"-"`
}

// DisplayName builds the display string from the parts.
func DisplayName(version, ray, python string) string {
	return fmt.Sprintf("%s (Ray %s, Python %s)", version, ray, python)
}

// BuiltinReleaseVersions are the Ray engines every server knows. The image is
// relative to the configured registry.
func BuiltinReleaseVersions() []ReleaseVersion {
	mk := func(v, ray, py string, created string) ReleaseVersion {
		t, _ := time.Parse(time.DateOnly, created)
		return ReleaseVersion{
			Display: DisplayName(v, ray, py), Version: v, RayVersion: ray, PythonVersion: py,
			Image: "rayproject/ray:" + ray + "-py" + strings.ReplaceAll(py, ".", ""),
			State: "ONLINE", Type: "stable", CPUArch: []string{"x86"}, CreateTime: t,
		}
	}
	return []ReleaseVersion{
		mk("ray-1.3.0", "2.60.0", "3.11", "2026-11-20"),
		mk("ray-1.2.0", "2.55.1", "3.12", "2026-09-14"),
		mk("ray-1.1.0", "2.50.1", "3.12", "2026-06-11"),
		mk("ray-1.0.0", "2.47.1", "3.12", "2026-01-29"),
	}
}
