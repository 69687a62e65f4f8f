// Package kubetest starts the test Kubernetes stack (scripts/kube: a real
// kube-apiserver, etcd, scheduler, controller-manager, kwok nodes and the
// KubeRay operator) for the integration tests of any package, once per
// test binary, and stops it when the tests end, even when they fail.
//
// Only tests import it. It imports the standard library and client-go.
package kubetest
