package grpc

import pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"

// NewMonitoringServer returns the MonitoringService. Its RPCs are specified in
// API.md and implemented with the monitoring service; until then every one
// answers UNIMPLEMENTED naming the method.
func NewMonitoringServer() pb.MonitoringServiceServer {
	return pb.UnimplementedMonitoringServiceServer{}
}
