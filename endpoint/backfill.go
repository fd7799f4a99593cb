package endpoint

import (
	"github.com/go-kit/kit/endpoint"

	"github.com/workflow-runtime/workflow-runtime/service/backfill"
)

// BackfillEndpoints holds an endpoint for each backfill RPC.
type BackfillEndpoints struct {
	BackfillDeployment endpoint.Endpoint
	GetBackfill        endpoint.Endpoint
}

// NewBackfillEndpoints builds the backfill endpoints, each wrapped by
// mw(name) where name is the RPC's method name.
func NewBackfillEndpoints(svc backfill.Service, mw func(method string) endpoint.Middleware) BackfillEndpoints {
	return BackfillEndpoints{
		BackfillDeployment: mw("BackfillDeployment")(unary(svc.Backfill)),
		GetBackfill:        mw("GetBackfill")(unary(svc.Get)),
	}
}
