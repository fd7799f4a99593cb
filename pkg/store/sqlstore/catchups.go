package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

var _ store.CatchUpStore = (*Store)(nil)

func insertCatchUpSQL(d Dialect) string {
	return `
INSERT INTO catchups (trigger_id, deployment_id, after_slot, last_slot, fires, fire_count, owner_instance, lease_expires_at, done_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, ` + d.Later("$8") + `, CASE WHEN $6 = 0 THEN now() END, now())
ON CONFLICT (trigger_id, after_slot) DO NOTHING`
}

// PlanCatchUp stores a catch-up plan with its missed runs, unless another
// plan of the trigger accounts for slots after c.After. The deployment's row
// is locked first, so that two replicas that come back together plan one
// after the other and the second sees the first's plan.
func (s *Store) PlanCatchUp(ctx context.Context, c *workflow.CatchUp, missed []workflow.MissedSlots, owner string, lease time.Duration) (covered time.Time, ok bool, err error) {
	ctx, end := s.begin(ctx, "PlanCatchUp")
	defer end(&err)
	tid, okT := store.CanonicalID(c.TriggerID)
	did, okD := store.CanonicalID(c.DeploymentID)
	if !okT || !okD {
		return time.Time{}, false, fmt.Errorf("catch-up of trigger %s: %w", c.TriggerID, store.ErrNotFound)
	}
	fires := make([][2]int64, len(c.Fires))
	for i, f := range c.Fires {
		fires[i] = [2]int64{at(f.Slot).UnixMicro(), at(f.At).UnixMicro()}
	}
	// Pairs of integers always encode.
	encoded, _ := json.Marshal(fires)
	err = s.inTx(ctx, func(tx *sqlx.Tx, _ time.Time) error {
		var locked string
		if err := tx.GetContext(ctx, &locked, `SELECT id FROM deployments WHERE id = $1`+s.d.ForUpdate, did); err != nil {
			return notFound(err)
		}
		var last dbTime
		if err := tx.GetContext(ctx, &last, `SELECT MAX(last_slot) FROM catchups WHERE trigger_id = $1`, tid); err != nil {
			return err
		}
		if last.valid && last.t.After(at(c.After)) {
			covered = last.t
			return nil
		}
		res, err := tx.ExecContext(ctx, insertCatchUpSQL(s.d), tid, did, at(c.After), at(c.Last), string(encoded), len(c.Fires),
			owner, lease.Microseconds())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			covered = at(c.After)
			return err
		}
		for _, m := range missed {
			if _, err := tx.ExecContext(ctx, recordMissedSlotsSQL, tid, did, at(m.From), at(m.To), m.Count, string(m.Reason), at(m.RecordedAt)); err != nil {
				return err
			}
		}
		ok = true
		return nil
	})
	return covered, ok, err
}

// claimCatchUpSQL takes an unfinished plan of a DEPLOYED deployment whose
// lease ran out, skipping those another replica is claiming at the moment.
func claimCatchUpSQL(d Dialect) string {
	return `
UPDATE catchups AS c SET owner_instance = $1, lease_expires_at = ` + d.Later("$2") + `
FROM (
	SELECT o.trigger_id AS open_trigger, o.after_slot AS open_after FROM catchups o
	JOIN deployments dep ON dep.id = o.deployment_id AND dep.status = 'DEPLOYED'
	WHERE o.done_at IS NULL AND (o.lease_expires_at IS NULL OR o.lease_expires_at <= now())
	ORDER BY o.lease_expires_at
	LIMIT 1` + d.SkipLocked + `
) AS open
WHERE c.trigger_id = open.open_trigger AND c.after_slot = open.open_after
RETURNING trigger_id, deployment_id, after_slot, last_slot, fires, fired`
}

// ClaimCatchUp leases an unfinished plan whose lease ran out to owner.
func (s *Store) ClaimCatchUp(ctx context.Context, owner string, lease time.Duration) (_ *workflow.CatchUp, err error) {
	ctx, end := s.begin(ctx, "ClaimCatchUp")
	defer end(&err)
	defer named(&err, "open catch-up")
	var (
		c           workflow.CatchUp
		after, last dbTime
		fires       string
	)
	if err := s.w.QueryRowxContext(ctx, claimCatchUpSQL(s.d), owner, lease.Microseconds()).
		Scan(&c.TriggerID, &c.DeploymentID, &after, &last, &fires, &c.Fired); err != nil {
		return nil, notFound(err)
	}
	var pairs [][2]int64
	if err := json.Unmarshal([]byte(fires), &pairs); err != nil {
		return nil, fmt.Errorf("catch-up of trigger %s: fires: %w", c.TriggerID, err)
	}
	c.After, c.Last = after.t, last.t
	for _, p := range pairs {
		c.Fires = append(c.Fires, workflow.CatchUpFire{Slot: time.UnixMicro(p[0]).UTC(), At: time.UnixMicro(p[1]).UTC()})
	}
	return &c, nil
}

// AdvanceCatchUp records owner's progress on a plan and extends its lease.
func (s *Store) AdvanceCatchUp(ctx context.Context, triggerID string, after time.Time, owner string, fired int, lease time.Duration) (err error) {
	ctx, end := s.begin(ctx, "AdvanceCatchUp")
	defer end(&err)
	tid, ok := store.CanonicalID(triggerID)
	if !ok {
		return fmt.Errorf("catch-up of trigger %s: %w", triggerID, store.ErrStale)
	}
	res, err := s.w.ExecContext(ctx, `
UPDATE catchups SET fired = $4,
	lease_expires_at = CASE WHEN $4 >= fire_count THEN NULL ELSE `+s.d.Later("$5")+` END,
	done_at = CASE WHEN $4 >= fire_count THEN now() END
WHERE trigger_id = $1 AND after_slot = $2 AND owner_instance = $3 AND done_at IS NULL`, tid, at(after), owner, fired, lease.Microseconds())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return fmt.Errorf("catch-up of trigger %s: %w", triggerID, store.ErrStale)
	}
	return nil
}

// PruneCatchUps deletes the plans done before before.
func (s *Store) PruneCatchUps(ctx context.Context, before time.Time) (_ int64, err error) {
	ctx, end := s.begin(ctx, "PruneCatchUps")
	defer end(&err)
	res, err := s.w.ExecContext(ctx, `DELETE FROM catchups WHERE done_at IS NOT NULL AND done_at < $1`, at(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
