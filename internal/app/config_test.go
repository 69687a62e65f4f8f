package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// TestNetworkPolicySettings: the gateway's peers default to deploy/'s pods
// and namespace; flags, environment and YAML set all four selectors, and
// what is not a label selector is refused with the flag's name.
func TestNetworkPolicySettings(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := LoadConfig(nil, none)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.peers(); p.GatewayPods != "app.kubernetes.io/name=rayfleet" || p.GatewayNamespaces != "kubernetes.io/metadata.name=rayfleet" ||
		p.ScraperPods != "" || p.ScraperNamespaces != "" {
		t.Errorf("defaults = %+v", p)
	}
	yaml := filepath.Join(t.TempDir(), "rayfleet.yaml")
	if err := os.WriteFile(yaml, []byte("networkPolicy:\n  gatewayPods: app=gw\n  scraperPods: app=prometheus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig([]string{"--config", yaml, "--network-policy-scraper-namespaces", "team in (mon)"},
		func(k string) string {
			if k == "RAYFLEET_NETWORK_POLICY_GATEWAY_NAMESPACES" {
				return "kubernetes.io/metadata.name=rf"
			}
			return ""
		})
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.peers(); p.GatewayPods != "app=gw" || p.GatewayNamespaces != "kubernetes.io/metadata.name=rf" ||
		p.ScraperPods != "app=prometheus" || p.ScraperNamespaces != "team in (mon)" {
		t.Errorf("set = %+v", p)
	}
	_, err = LoadConfig([]string{"--network-policy-gateway-pods", "app=(x", "--network-policy-scraper-namespaces", "a in b"}, none)
	for _, want := range []string{"network-policy-gateway-pods", "network-policy-scraper-namespaces"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
}
