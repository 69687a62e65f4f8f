package kuberay

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/rayfleet/rayfleet/internal/kubetest"
)

// The integration tests run against a real kube-apiserver, scheduler,
// controller-manager, kwok and KubeRay operator, which internal/kubetest
// starts on first use and stops when the tests end (see there, and for
// RAYFLEET_TEST_KUBECONFIG, which uses a stack already running).
// RAYFLEET_TEST_KEEP_FAILED=1 keeps a failed test's namespace (with
// RAYFLEET_TEST_KUBECONFIG, so that the stack stays up too). Without a
// built stack, or with -short, they are skipped, saying so.
//
// Unit tests never start anything.

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// needKube returns the stack's rest config, starting the stack on first
// use, or skips t.
func needKube(t *testing.T) *rest.Config {
	t.Helper()
	return kubetest.Need(t).RestConfig()
}
