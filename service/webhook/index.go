// Package webhook serves the webhook triggers that the API Gateway forwards:
// it keeps an in-memory index of the webhook paths of active deployments,
// resolves a path, and turns a verified call into an execution.
package webhook

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/workflow-runtime/workflow-runtime/pkg/startstop"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// IndexStore is what the index reads.
type IndexStore interface {
	ListWebhookTriggers(ctx context.Context, deploymentID string) ([]workflow.WebhookTrigger, error)
}

// Subscriber announces deployments changed on other replicas (the
// scheduler's Broadcaster); Subscribe returns when ctx ends.
type Subscriber interface {
	Subscribe(ctx context.Context, handle func(deploymentID string)) error
}

// Index maps webhook paths, compared by workflow.WebhookPathKey, to the webhook
// triggers of active deployments. It follows changes the way the scheduler
// does: from this replica's deployment service at once (DeploymentChanged),
// from the others through a Subscriber, and by a periodic full reload that
// makes good a lost announcement. Lookups take a read lock only.
type Index struct {
	store  IndexStore
	logger log.Logger
	// sub and resync are how the index follows changes between Start and
	// Stop (Follow); loops runs the following.
	sub    Subscriber
	resync time.Duration
	loops  startstop.Loops

	// refreshMu orders refreshes: each reads and applies under it, so that
	// two refreshes of one deployment cannot apply their reads out of
	// order. mu guards the maps only while they change, never across a
	// query, so that lookups never wait for the database.
	refreshMu sync.Mutex
	mu        sync.RWMutex
	paths     map[string]workflow.WebhookTrigger
	// byDeployment lists each deployment's indexed paths, to drop them.
	byDeployment map[string][]string
	// byWorkflow holds each workflow's first webhook trigger, for a trigger
	// by workflow id.
	byWorkflow map[string]workflow.WebhookTrigger
	// gen counts changes; touched is the gen of each deployment's latest
	// change, so that a full reload read before a change does not undo it.
	gen     uint64
	touched map[string]uint64
}

// IndexOption configures an Index.
type IndexOption func(*Index)

// Follow makes a started index follow the announcements of sub (nil: none)
// and reload everything every resync (0: never).
func Follow(sub Subscriber, resync time.Duration) IndexOption {
	return func(x *Index) { x.sub, x.resync = sub, resync }
}

// NewIndex returns an empty index over st.
func NewIndex(st IndexStore, logger log.Logger, opts ...IndexOption) *Index {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	x := &Index{store: st, logger: logger, paths: map[string]workflow.WebhookTrigger{},
		byDeployment: map[string][]string{}, byWorkflow: map[string]workflow.WebhookTrigger{}, touched: map[string]uint64{}}
	for _, o := range opts {
		o(x)
	}
	return x
}

// Start loads every webhook trigger, then follows changes as Follow said
// until Stop (startstop.Service): ctx bounds the load only.
func (x *Index) Start(ctx context.Context) error {
	if err := x.Reload(ctx); err != nil {
		return err
	}
	if x.sub != nil {
		// Subscribe returns when its context ends; a subscription lost with
		// Redis leaves the resync to follow changes.
		x.loops.Go(ctx, func(ctx context.Context) {
			_ = x.sub.Subscribe(ctx, func(id string) {
				if err := x.Refresh(ctx, id); err != nil {
					level.Warn(x.logger).Log("msg", "webhook index not refreshed; the resync will", "deployment_id", id, "err", err)
				}
			})
		})
	}
	if x.resync > 0 {
		x.loops.Go(ctx, x.reloadEvery)
	}
	return nil
}

// Stop stops following changes; the index keeps answering lookups with what
// it holds.
func (x *Index) Stop(ctx context.Context) error { return x.loops.Stop(ctx) }

func (x *Index) reloadEvery(ctx context.Context) {
	startstop.Every(ctx, x.resync, func(ctx context.Context) {
		if err := x.Reload(ctx); err != nil && ctx.Err() == nil {
			level.Warn(x.logger).Log("msg", "webhook index not reloaded", "err", err)
		}
	})
}

// DeploymentChanged is the deployment service's notification after a commit.
func (x *Index) DeploymentChanged(ctx context.Context, d *workflow.Deployment) error {
	return x.Refresh(ctx, d.ID)
}

// Refresh makes the index match the store for one deployment.
func (x *Index) Refresh(ctx context.Context, deploymentID string) error {
	x.refreshMu.Lock()
	defer x.refreshMu.Unlock()
	wts, err := x.store.ListWebhookTriggers(ctx, deploymentID)
	if err != nil {
		return fmt.Errorf("webhook: load deployment %s: %w", deploymentID, err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	x.touched[deploymentID] = x.gen
	x.replace(deploymentID, wts)
	return nil
}

// Reload reads every webhook trigger again. Deployments changed while it
// read keep what their change put in.
func (x *Index) Reload(ctx context.Context) error {
	x.mu.RLock()
	start := x.gen
	x.mu.RUnlock()
	wts, err := x.store.ListWebhookTriggers(ctx, "")
	if err != nil {
		return fmt.Errorf("webhook: load webhook triggers: %w", err)
	}
	byDeployment := map[string][]workflow.WebhookTrigger{}
	for _, wt := range wts {
		byDeployment[wt.DeploymentID] = append(byDeployment[wt.DeploymentID], wt)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for id := range x.byDeployment {
		if _, ok := byDeployment[id]; !ok && x.touched[id] <= start {
			x.replace(id, nil)
		}
	}
	for id, list := range byDeployment {
		if x.touched[id] <= start {
			x.replace(id, list)
		}
	}
	for id, gen := range x.touched {
		if gen <= start {
			delete(x.touched, id)
		}
	}
	return nil
}

// replace puts wts in place of deployment id's paths; x.mu is held.
func (x *Index) replace(id string, wts []workflow.WebhookTrigger) {
	for _, p := range x.byDeployment[id] {
		if old := x.paths[p]; old.DeploymentID == id {
			delete(x.paths, p)
			if x.byWorkflow[old.WorkflowID].DeploymentID == id {
				delete(x.byWorkflow, old.WorkflowID)
			}
		}
	}
	delete(x.byDeployment, id)
	for i, wt := range wts {
		p := workflow.WebhookPathKey(wt.Spec.Path)
		x.paths[p] = wt
		x.byDeployment[id] = append(x.byDeployment[id], p)
		if i == 0 {
			x.byWorkflow[wt.WorkflowID] = wt
		}
	}
}

// Lookup returns the webhook trigger of path, which NormalizeWebhookPath
// has accepted, compared by workflow.WebhookPathKey.
func (x *Index) Lookup(path string) (workflow.WebhookTrigger, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	wt, ok := x.paths[workflow.WebhookPathKey(path)]
	return wt, ok
}

// LookupWorkflow returns the first webhook trigger of workflowID's active deployment.
func (x *Index) LookupWorkflow(workflowID string) (workflow.WebhookTrigger, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	wt, ok := x.byWorkflow[workflowID]
	return wt, ok
}

// Len returns the number of indexed paths.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.paths)
}
