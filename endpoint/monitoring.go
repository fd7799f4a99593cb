package endpoint

import (
	"github.com/go-kit/kit/endpoint"

	"github.com/workflow-runtime/workflow-runtime/service/monitoring"
)

// MonitoringEndpoints holds an endpoint for each MonitoringService RPC.
type MonitoringEndpoints struct {
	GetDeploymentStats    endpoint.Endpoint
	GetSchedulingMetrics  endpoint.Endpoint
	GetJitterDistribution endpoint.Endpoint
	GetLoadDistribution   endpoint.Endpoint
	GetSystemHealth       endpoint.Endpoint
	GetScheduleReport     endpoint.Endpoint
}

// NewMonitoringEndpoints builds the monitoring endpoints, each wrapped by
// mw(name) where name is the RPC's method name.
func NewMonitoringEndpoints(svc monitoring.Service, mw func(method string) endpoint.Middleware) MonitoringEndpoints {
	return MonitoringEndpoints{
		GetDeploymentStats:    mw("GetDeploymentStats")(unary(svc.DeploymentStats)),
		GetSchedulingMetrics:  mw("GetSchedulingMetrics")(unary(svc.SchedulingMetrics)),
		GetJitterDistribution: mw("GetJitterDistribution")(unary(svc.JitterDistribution)),
		GetLoadDistribution:   mw("GetLoadDistribution")(unary(svc.LoadDistribution)),
		GetSystemHealth:       mw("GetSystemHealth")(unary(svc.SystemHealth)),
		GetScheduleReport:     mw("GetScheduleReport")(unary(svc.ScheduleReport)),
	}
}
