package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

// routes lists the whole API. Paths and methods are the hosted product's.
func (h *Handler) routes(mux *http.ServeMux) {
	const ws = "/api/v1/workspaces/{workspaceId}"
	mux.Handle("GET "+ws+"/rayCluster", h.wrap("ListRayCluster", h.listClusters))
	mux.Handle("POST "+ws+"/rayCluster", h.wrap("CreateRayCluster", h.createCluster))
	mux.Handle("GET "+ws+"/rayCluster/{clusterId}", h.wrap("GetRayCluster", h.getCluster))
	mux.Handle("POST "+ws+"/rayCluster/{clusterId}", h.wrap("UpdateRayCluster", h.updateCluster))
	mux.Handle("DELETE "+ws+"/rayCluster/{clusterId}", h.wrap("DeleteRayCluster", h.deleteCluster))
	mux.Handle("POST "+ws+"/rayCluster/{clusterId}/start", h.wrap("StartRayCluster", h.startCluster))
	mux.Handle("POST "+ws+"/rayCluster/{clusterId}/stop", h.wrap("StopRayCluster", h.stopCluster))

	mux.Handle("POST "+ws+"/rayJob", h.wrap("SubmitRayJob", h.submitJob))
	mux.Handle("GET "+ws+"/rayJob", h.wrap("ListRayJob", h.listJobs))
	mux.Handle("GET "+ws+"/rayJob/{submissionId}", h.wrap("GetRayJob", h.getJob))
	mux.Handle("POST "+ws+"/rayJob/{submissionId}/cancel", h.wrap("CancelRayJob", h.cancelJob))

	mux.Handle("GET /api/v1/workspaces", h.wrap("ListWorkspaces", h.listWorkspaces))
	mux.Handle("POST /api/v1/workspaces", h.wrap("CreateWorkspace", h.createWorkspace))
	mux.Handle("POST /api/v1/workspaces/update", h.wrap("UpdateWorkspace", h.updateWorkspace))
	mux.Handle("DELETE "+ws, h.wrap("DeleteWorkspace", h.deleteWorkspace))

	mux.Handle("GET "+ws+"/queues", h.wrap("ListWorkspaceQueues", h.listQueues))
	mux.Handle("POST /api/v1/workspaces/queues", h.wrap("CreateWorkspaceQueue", h.createQueue))
	mux.Handle("POST /api/v1/workspaces/queues/action/edit", h.wrap("EditWorkspaceQueue", h.editQueue))
	mux.Handle("DELETE "+ws+"/queues/{queueName}", h.wrap("DeleteWorkspaceQueue", h.deleteQueue))

	const logs = "/api/interactive/v1/workspace/{workspaceId}/ray/{instanceId}"
	mux.Handle("GET "+logs+"/logs", h.wrap("ListRayLogs", h.listLogs))
	mux.Handle("GET "+logs+"/log", h.wrap("GetRayLog", h.getLog))
	// GetRayLog's accessUrl: no credential but its signature.
	mux.Handle("GET "+service.LogURLPath+"{bucket}/{key...}", h.serveLog())

	mux.Handle("GET /api/v1/releaseVersions", h.wrap("ListReleaseVersions", h.listReleaseVersions))
	mux.Handle("GET "+ws+"/networkServices", h.wrap("ListNetworkServices", h.listNetworkServices))
	mux.Handle("POST "+ws+"/networkServices", h.wrap("CreateNetworkService", h.createNetworkService))

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"}, "")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if h.Ready != nil {
			if err := h.Ready(r.Context()); err != nil {
				h.Logger.WarnContext(r.Context(), "not ready", "err", err.Error())
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"}, "")
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"}, "")
	})
	mux.Handle("GET /metrics", h.metrics(promhttp.HandlerFor(h.Gatherer, promhttp.HandlerOpts{})))
	mux.Handle("GET /api/v1/auditEvents", h.wrap("ListAuditEvents", h.listAuditEvents))

	// RAM's admin API and STS, RPC style on "/" (ram.go lists their operations).
	mux.Handle("/{$}", h.ram())
	// Anything else is an unknown operation, answered in the API's error
	// format: never Go's plain-text 404/405.
	mux.Handle("/", h.wrapUnknown())
}

func (h *Handler) wrapUnknown() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		err := rayfleet.Errorf(rayfleet.EMETHOD, "There is no operation at %s %s.", r.Method, r.URL.Path)
		status, body := h.errorBody(err, id, "")
		writeJSON(w, status, body, id)
		if h.Metrics != nil {
			h.Metrics.requests.WithLabelValues("Unknown", rayfleet.EMETHOD).Inc()
		}
	})
}
