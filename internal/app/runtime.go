package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/reconcile"
	"github.com/rayfleet/rayfleet/internal/runtime/kuberay"
	"github.com/rayfleet/rayfleet/internal/runtime/local"
)

// clusterRuntime is what the server needs of a runtime: the reconciler's
// interface, the job runner's way to heads, the gateway's head lookup,
// and a shutdown.
type clusterRuntime interface {
	reconcile.Runtime
	reconcile.Heads
	HeadEndpoints(c *rayfleet.Cluster) (dashboard, client string, ok bool)
	HeadToken(c *rayfleet.Cluster) string
	Close() error
}

// newRuntime builds the configured runtime; waker is told of node events.
func newRuntime(ctx context.Context, cfg Config, logger *slog.Logger, waker reconcile.Waker) (clusterRuntime, error) {
	switch cfg.Runtime {
	case "kuberay":
		rc, err := restConfig(cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		releases := cfg.Releases()
		gpus := make(map[string]kuberay.GPUType, len(cfg.GPUTypes))
		for name, g := range cfg.GPUTypes {
			gpus[name] = kuberay.GPUType{GPUs: g.GPUs, Resource: g.Resource, NodeSelector: g.NodeSelector}
		}
		r, err := kuberay.New(ctx, kuberay.Config{
			RestConfig: rc, NamespacePrefix: cfg.NamespacePrefix, GPUTypes: gpus, Logger: logger, Waker: waker, Now: time.Now,
			Image: func(release string) (string, bool) {
				for _, r := range releases {
					if r.Display == release || r.Version == release {
						return r.Image, true
					}
				}
				return "", false
			},
		})
		if err != nil {
			return nil, fmt.Errorf("start the kuberay runtime: %w", err)
		}
		return r, nil
	default:
		releases := cfg.Releases()
		r, err := local.New(local.Config{
			DataDir: cfg.DataDir, RayPath: cfg.RayPath, Grace: cfg.StopGrace, Logger: logger, Now: time.Now, TempRoot: cfg.LocalTempRoot,
			GPUs: func(spec string) int { return cfg.GPUTypes[spec].GPUs }, Waker: waker, ReleaseEnvs: cfg.RayEnvs == "pip",
			PrometheusURL: cfg.PrometheusURL,
			Release: func(display string) (string, string, bool) {
				for _, r := range releases {
					if r.Display == display || r.Version == display {
						return r.RayVersion, r.PythonVersion, true
					}
				}
				return "", "", false
			},
			ReleaseFor: func(ray, python string) string {
				for _, r := range releases {
					if r.RayVersion == ray && r.PythonVersion == python {
						return r.Display
					}
				}
				return ""
			},
		})
		if err != nil {
			return nil, fmt.Errorf("start the local runtime: %w", err)
		}
		return r, nil
	}
}

// restConfig reads a kubeconfig, or the in-cluster config when path is "".
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kuberay runtime: no --kubeconfig given and not running in a pod (%w)", err)
		}
		return rc, nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kuberay runtime: kubeconfig %s: %w", path, err)
	}
	return rc, nil
}
