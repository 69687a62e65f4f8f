package kuberay

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// What rayfleet made (and the pods, which carry its labels) wakes the
// reconciler on every change; what KubeRay makes beside the pods wakes it
// only when deleted.
func TestWakesOnChange(t *testing.T) {
	managed := labels.Set{labelManagedBy: managedByValue}
	kinds := 0
	for obj, by := range watched() {
		kinds++
		want := by.Label.Matches(managed)
		if got := wakesOnChange(obj); got != want {
			t.Errorf("wakesOnChange(%T) = %v; want %v (selector %s)", obj, got, want, by.Label)
		}
	}
	if kinds < 5 {
		t.Fatalf("watched() lists %d kinds", kinds)
	}
	if wakesOnChange(nil) != true {
		t.Error("an unknown kind must wake on change")
	}
}
