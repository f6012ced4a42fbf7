package tenant

import (
	"context"
	"fmt"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// SnapshotOptions choose what Snapshot reads besides the service desk integrations and the
// status-check configuration.
type SnapshotOptions struct {
	// SIM also lists the SIM integrations (v2024, v2025 and v1 only).
	SIM bool
}

// Snapshot reads the whole live state: the service desk integrations in ceil(N/250) list
// calls, the status-check configuration in one, and the SIM integrations in one more when
// asked. It never reads objects one by one, and it fails rather than return part of the
// state: a partial snapshot would plan creates for what it missed.
func (c *Client) Snapshot(ctx context.Context, opts SnapshotOptions) (*sdim.Live, error) {
	if opts.SIM && !c.s.APIVersion.HasSIM() {
		return nil, fmt.Errorf("snapshot: SIM integrations need API version v2024, v2025 or v1, not %s", c.s.APIVersion)
	}
	live := &sdim.Live{APIVersion: c.s.APIVersion, ReadAt: c.now()}
	var err error
	if live.ServiceDesk, err = c.ListServiceDesk(ctx, ListOptions{}); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if live.StatusCheck, err = c.GetStatusCheck(ctx); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if opts.SIM {
		if live.SIM, err = c.ListSIM(ctx); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		live.SIMRead = true
	}
	return live, nil
}
