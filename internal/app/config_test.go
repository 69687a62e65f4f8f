package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPrometheusURLSetting: the flag, its environment variable and the
// YAML key set prometheusUrl; what is not an http(s) URL is refused with
// the flag's name.
func TestPrometheusURLSetting(t *testing.T) {
	yaml := filepath.Join(t.TempDir(), "rayfleet.yaml")
	if err := os.WriteFile(yaml, []byte("prometheusUrl: http://from-yaml:9090\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		getenv func(string) string
		want   string
	}{
		{"default", nil, env(), ""},
		{"flag", []string{"--prometheus-url", "http://127.0.0.1:9090"}, env(), "http://127.0.0.1:9090"},
		{"env", nil, env("RAYFLEET_PROMETHEUS_URL", "https://prom.example/p/"), "https://prom.example/p/"},
		{"yaml", []string{"--config", yaml}, env(), "http://from-yaml:9090"},
		{"flag over env", []string{"--prometheus-url", "http://a:1"}, env("RAYFLEET_PROMETHEUS_URL", "http://b:2"), "http://a:1"},
	} {
		cfg, err := LoadConfig(tc.args, tc.getenv)
		if err != nil || cfg.PrometheusURL != tc.want {
			t.Errorf("%s: prometheusUrl %q, %v; want %q", tc.name, cfg.PrometheusURL, err, tc.want)
		}
	}
	for _, bad := range []string{"127.0.0.1:9090", "ftp://prom:21", "http://"} {
		if _, err := LoadConfig([]string{"--prometheus-url", bad}, env()); err == nil || !strings.Contains(err.Error(), "prometheus-url") {
			t.Errorf("--prometheus-url %q: %v", bad, err)
		}
	}
}

// TestLogSettings: the log bucket, the base and expiry of log URLs, from
// their defaults, flags, environment and YAML; what is refused names the
// setting.
func TestLogSettings(t *testing.T) {
	yaml := filepath.Join(t.TempDir(), "rayfleet.yaml")
	if err := os.WriteFile(yaml, []byte("logs:\n  bucket: team-logs\n  url: https://rayfleet.example.com\n  urlExpiry: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	none := func(string) string { return "" }
	cfg, err := LoadConfig(nil, none)
	if err != nil || cfg.Logs.Bucket != "rayfleet-logs" || cfg.Logs.URL != "" || cfg.Logs.URLExpiry != 15*time.Minute {
		t.Fatalf("defaults: %+v, %v", cfg.Logs, err)
	}
	cfg, err = LoadConfig([]string{"--config", yaml}, none)
	if err != nil || cfg.Logs.Bucket != "team-logs" || cfg.Logs.URL != "https://rayfleet.example.com" || cfg.Logs.URLExpiry != time.Hour {
		t.Fatalf("yaml: %+v, %v", cfg.Logs, err)
	}
	env := map[string]string{"RAYFLEET_LOG_BUCKET": "env-logs", "RAYFLEET_LOG_URL_EXPIRY": "30s"}
	cfg, err = LoadConfig([]string{"--config", yaml, "--log-url", "http://127.0.0.1:8080"}, func(k string) string { return env[k] })
	if err != nil || cfg.Logs.Bucket != "env-logs" || cfg.Logs.URL != "http://127.0.0.1:8080" || cfg.Logs.URLExpiry != 30*time.Second {
		t.Fatalf("flags and env: %+v, %v", cfg.Logs, err)
	}
	env = map[string]string{"RAYFLEET_LOG_S3_ACCESS_KEY_ID": "AK", "RAYFLEET_LOG_S3_SECRET_ACCESS_KEY": "SK", "RAYFLEET_LOG_S3_REGION": "eu-central-1"}
	cfg, err = LoadConfig([]string{"--log-s3-endpoint", "https://s3.example.com"}, func(k string) string { return env[k] })
	if s3 := cfg.Logs.S3; err != nil || s3.Endpoint != "https://s3.example.com" || s3.Region != "eu-central-1" || s3.AccessKeyID != "AK" || s3.SecretAccessKey != "SK" {
		t.Fatalf("S3: %+v, %v", cfg.Logs.S3, err)
	}
	for _, bad := range [][]string{
		{"--log-s3-endpoint", "https://s3.example.com"}, {"--log-s3-endpoint", "s3.example.com"},
		{"--log-bucket", "Not_A_Bucket"}, {"--log-url-expiry", "0s"}, {"--log-url-expiry", "200h"}, {"--log-url", "rayfleet.example.com"},
	} {
		if _, err := LoadConfig(bad, none); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

func env(kv ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1]
			}
		}
		return ""
	}
}

// TestMaxRunningJobsSetting: 100 by default; the flag, its environment
// variable and the YAML key set it; what is not a number from 1 up is
// refused with the flag's name.
func TestMaxRunningJobsSetting(t *testing.T) {
	yaml := filepath.Join(t.TempDir(), "rayfleet.yaml")
	if err := os.WriteFile(yaml, []byte("maxRunningJobsPerCluster: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		getenv func(string) string
		want   int
	}{
		{"default", nil, env(), 100},
		{"flag", []string{"--max-running-jobs-per-cluster", "3"}, env(), 3},
		{"env", nil, env("RAYFLEET_MAX_RUNNING_JOBS_PER_CLUSTER", "5"), 5},
		{"yaml", []string{"--config", yaml}, env(), 7},
		{"flag over env over yaml", []string{"--config", yaml, "--max-running-jobs-per-cluster", "2"}, env("RAYFLEET_MAX_RUNNING_JOBS_PER_CLUSTER", "5"), 2},
	} {
		cfg, err := LoadConfig(tc.args, tc.getenv)
		if err != nil || cfg.MaxRunningJobsPerCluster != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, cfg.MaxRunningJobsPerCluster, err, tc.want)
		}
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, err := LoadConfig([]string{"--max-running-jobs-per-cluster", bad}, env()); err == nil || !strings.Contains(err.Error(), "max-running-jobs-per-cluster") {
			t.Errorf("--max-running-jobs-per-cluster %q: %v", bad, err)
		}
	}
}
