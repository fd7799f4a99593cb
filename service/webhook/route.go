package webhook

import (
	"context"

	"github.com/workflow-runtime/workflow-runtime/service/coordination"
)

// Triggerer starts an execution for a TriggerWorkflow call.
type Triggerer interface {
	Trigger(ctx context.Context, req coordination.TriggerRequest) (coordination.TriggerResponse, error)
}

// Route returns coord with TriggerWorkflow routed: a webhook trigger (API.md:
// WEBHOOK, or UNSPECIFIED with a webhook path) goes to hooks, any other to
// coord. Which service owns a trigger follows from the API contract, so it is
// decided here rather than by the endpoints, which pass calls on unread.
func Route(coord coordination.Service, hooks Triggerer) coordination.Service {
	return routed{Service: coord, hooks: hooks}
}

type routed struct {
	coordination.Service
	hooks Triggerer
}

func (r routed) Trigger(ctx context.Context, req coordination.TriggerRequest) (coordination.TriggerResponse, error) {
	if req.IsWebhook() {
		return r.hooks.Trigger(ctx, req)
	}
	return r.Service.Trigger(ctx, req)
}
