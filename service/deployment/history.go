package deployment

import (
	"context"

	"github.com/workflow-runtime/workflow-runtime/pkg/errors"
	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// VersionsRequest pages a deployment's versions.
type VersionsRequest struct {
	DeploymentID string
	PageSize     int32
	PageToken    string
}

// VersionsResponse is one page of versions, newest first.
type VersionsResponse struct {
	Versions      []workflow.DeploymentVersion
	NextPageToken string
}

// EventsRequest pages the events of a deployment, or of every deployment of
// a workflow: exactly one of the two is set.
type EventsRequest struct {
	DeploymentID string
	WorkflowID   string
	PageSize     int32
	PageToken    string
}

// EventsResponse is one page of events, newest first.
type EventsResponse struct {
	Events        []workflow.Event
	NextPageToken string
}

func (s *service) Versions(ctx context.Context, req VersionsRequest) (VersionsResponse, error) {
	const op errors.Op = "deployment.Versions"
	var v errors.Violations
	validateDeploymentID(&v, req.DeploymentID)
	validatePageSize(&v, req.PageSize)
	if err := v.Err(op); err != nil {
		return VersionsResponse{}, err
	}
	if _, err := s.store.GetDeployment(ctx, req.DeploymentID); err != nil {
		return VersionsResponse{}, errors.E(op, err)
	}
	page, err := s.store.ListDeploymentVersions(ctx, workflow.VersionFilter{
		DeploymentID: req.DeploymentID, Limit: workflow.PageLimit(req.PageSize), After: req.PageToken,
	}, pageBudget)
	if err != nil {
		return VersionsResponse{}, pageError(op, err)
	}
	return VersionsResponse{Versions: page.Versions, NextPageToken: page.Next}, nil
}

func (s *service) Events(ctx context.Context, req EventsRequest) (EventsResponse, error) {
	const op errors.Op = "deployment.Events"
	var v errors.Violations
	validateOneOf(&v, req.DeploymentID, req.WorkflowID)
	validatePageSize(&v, req.PageSize)
	if err := v.Err(op); err != nil {
		return EventsResponse{}, err
	}
	if req.DeploymentID != "" {
		// An unknown deployment is NOT_FOUND, not an empty trail; a
		// workflow's trail is empty until its first deployment.
		if _, err := s.store.GetDeployment(ctx, req.DeploymentID); err != nil {
			return EventsResponse{}, errors.E(op, err)
		}
	}
	page, err := s.store.ListDeploymentEvents(ctx, workflow.EventFilter{
		DeploymentID: req.DeploymentID, WorkflowID: req.WorkflowID, Limit: workflow.PageLimit(req.PageSize), After: req.PageToken,
	})
	if err != nil {
		return EventsResponse{}, pageError(op, err)
	}
	return EventsResponse{Events: page.Events, NextPageToken: page.Next}, nil
}

func validatePageSize(v *errors.Violations, size int32) {
	if size < 0 {
		v.Addf("page_size", "must not be negative")
	}
}

// pageError names a bad page token as the caller's mistake.
func pageError(op errors.Op, err error) error {
	if errors.Is(err, store.ErrBadCursor) {
		return errors.Violations{{Field: "page_token", Description: "is not a token this service issued"}}.Err(op)
	}
	return errors.E(op, err)
}
