package kuberay

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

func TestConfigValidate(t *testing.T) {
	good := Config{RestConfig: &rest.Config{}, Image: testImages, GPUTypes: testGPUTypes}.withDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if good.NamespacePrefix != "rayfleet" || good.FieldManager != "rayfleet" || good.Logger == nil || good.Now == nil {
		t.Errorf("defaults = %+v", good)
	}
	bad := Config{
		NamespacePrefix: "Not_A_Label",
		GPUTypes:        map[string]GPUType{"g": {GPUs: 1}, "n": {GPUs: -1, Resource: "x"}},
	}.withDefaults()
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"RestConfig is required", "Image is required", `prefix "Not_A_Label"`,
		`gpu type "g": resource is required`, `gpu type "n": gpus must not be negative`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	long := Config{RestConfig: &rest.Config{}, Image: testImages, NamespacePrefix: strings.Repeat("a", 45)}.withDefaults()
	if err := long.Validate(); err == nil || !strings.Contains(err.Error(), "longer than 44") {
		t.Errorf("long prefix: %v", err)
	}
}
