package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/applier"
	"github.com/sdim-sync/sdim-sync/internal/desired"
	"github.com/sdim-sync/sdim-sync/internal/planner"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// ReadOurs reads the live state as sdim-sync does: tenant.Snapshot, ceil(N/250) list calls
// and the status check.
func ReadOurs(ctx context.Context, c *tenant.Client) (*sdim.Live, error) {
	return c.ReadOnly().Snapshot(ctx, tenant.SnapshotOptions{})
}

// ReadNaive reads the same live state the naive way, as Terraform-style refreshes and the
// SDK examples do: one listing for the ids, then one GET per object
// (GET /v3/service-desk-integrations/{id}), one after the other, then the status check.
// The objects of the listing are thrown away: only the GETs' answers are kept.
func ReadNaive(ctx context.Context, c *tenant.Client) (*sdim.Live, error) {
	c = c.ReadOnly()
	ids, err := listIDs(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("naive read: %w", err)
	}
	live := &sdim.Live{APIVersion: c.APIVersion(), ReadAt: time.Now(), ServiceDesk: make([]sdim.ServiceDeskIntegration, 0, len(ids))}
	for _, id := range ids {
		o, err := c.GetServiceDesk(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("naive read: %w", err)
		}
		live.ServiceDesk = append(live.ServiceDesk, *o)
	}
	if live.StatusCheck, err = c.GetStatusCheck(ctx); err != nil {
		return nil, fmt.Errorf("naive read: %w", err)
	}
	return live, nil
}

// listIDs lists the integrations and keeps only their ids, as a refresh that holds ids
// in its state does.
func listIDs(ctx context.Context, c *tenant.Client) ([]string, error) {
	listed, err := c.ListServiceDesk(ctx, tenant.ListOptions{})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(listed))
	for i, o := range listed {
		ids[i] = o.ID
	}
	return ids, nil
}

// Reader is a way of reading the live state.
type Reader func(context.Context, *tenant.Client) (*sdim.Live, error)

// ReadAndPlan reads the tenant with read and plans want against it with the default
// policy: the work of `sdim-sync plan` after the desired state is loaded (the engine also
// reads the templates of the types a put touches: two more requests either way, left out).
func ReadAndPlan(ctx context.Context, c *tenant.Client, read Reader, want *desired.State) (*planner.Result, error) {
	live, err := read(ctx, c)
	if err != nil {
		return nil, err
	}
	return planner.Plan(want, live, planner.DefaultPolicy())
}

// ApplyOurs is one reconcile that writes: snapshot, plan, apply (concurrency 4, through the
// client's limiter) and the applier's read-back of what it touched.
func ApplyOurs(ctx context.Context, c *tenant.Client, want *desired.State) (*applier.Report, error) {
	res, err := ReadAndPlan(ctx, c, ReadOurs, want)
	if err != nil {
		return nil, err
	}
	return ApplyPlan(ctx, c, res, want)
}

// ApplyPlan applies a plan made beforehand, with read-back, and fails when any change
// failed or did not converge.
func ApplyPlan(ctx context.Context, c *tenant.Client, res *planner.Result, want *desired.State) (*applier.Report, error) {
	rep, err := applier.Apply(ctx, c, res, applier.Options{Desired: want})
	if err != nil {
		return nil, err
	}
	if err := rep.Err(); err != nil {
		return rep, err
	}
	return rep, nil
}

// ApplyNaive writes want the naive way, without a plan: one listing to map names to ids,
// then a PUT of every desired object whether or not it differs (a POST for a name the
// tenant lacks), one after the other. It returns the number of writes it sent.
func ApplyNaive(ctx context.Context, c *tenant.Client, want *desired.State) (int, error) {
	listed, err := c.ListServiceDesk(ctx, tenant.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("naive apply: %w", err)
	}
	ids := make(map[string]string, len(listed))
	for _, o := range listed {
		ids[o.Name] = o.ID
	}
	writes := 0
	for _, r := range want.ServiceDesk {
		if id, ok := ids[r.Name]; ok {
			_, err = c.PutServiceDesk(ctx, id, r.Spec)
		} else {
			_, err = c.CreateServiceDesk(ctx, r.Spec)
		}
		if err != nil {
			return writes, fmt.Errorf("naive apply: %w", err)
		}
		writes++
	}
	return writes, nil
}
