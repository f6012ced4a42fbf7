package applier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/clock"
	"github.com/sdim-sync/sdim-sync/internal/sdim"
	"github.com/sdim-sync/sdim-sync/internal/tenant"
)

// kindCalls are the tenant calls of one kind of integration, so that the exactly-once rules
// are written once for service desk and SIM integrations.
type kindCalls[T any] struct {
	kind   sdim.Kind
	create func(context.Context, T) (*T, error)
	find   func(context.Context, string) (*T, error)
	put    func(context.Context, string, T) (*T, error)
	patch  func(context.Context, string, string, []tenant.PatchOp) (*T, error)
	delete func(context.Context, string, string) error
}

func serviceDeskCalls(c *tenant.Client) kindCalls[sdim.ServiceDeskIntegration] {
	return kindCalls[sdim.ServiceDeskIntegration]{
		kind:   sdim.KindServiceDesk,
		create: c.CreateServiceDesk,
		find:   c.FindServiceDeskByName,
		put:    c.PutServiceDesk,
		patch:  c.PatchServiceDesk,
		delete: c.DeleteServiceDesk,
	}
}

func simCalls(c *tenant.Client) kindCalls[sdim.SIMIntegration] {
	return kindCalls[sdim.SIMIntegration]{
		kind:   sdim.KindSIM,
		create: c.CreateSIM,
		find:   c.FindSIMByName,
		put:    c.PutSIM,
		patch:  c.PatchSIM,
		delete: c.DeleteSIM,
	}
}

// onceOptions bound the exactly-once create.
type onceOptions struct {
	attempts int                       // creates sent at most
	wait     func(n int) time.Duration // pause before attempt n+1
	clock    clock.Clock               // times the pause
}

// createOnce creates obj named name so that the tenant ends with exactly one object of that
// name. A create that failed ambiguously (no answer, a 5xx) may have been made: the name is
// looked up before another create is sent, and an object found is the result. A create
// refused outright after an earlier ambiguous attempt is looked up too: the earlier
// attempt may have been made after the lookup missed it, and the tenant then refuses the
// second one as a duplicate name.
func createOnce[T any](ctx context.Context, k kindCalls[T], name string, obj T, o onceOptions) (*T, []string, error) {
	var notes []string
	ambiguous := false
	for attempt := 1; ; attempt++ {
		got, err := k.create(ctx, obj)
		if err == nil {
			return got, notes, nil
		}
		if ctx.Err() != nil {
			return nil, notes, err
		}
		if !tenant.IsAmbiguous(err) && !ambiguous {
			return nil, notes, err
		}
		ambiguous = ambiguous || tenant.IsAmbiguous(err)
		found, ferr := k.find(ctx, name)
		if ferr != nil {
			return nil, notes, fmt.Errorf("%w; and looking it up to see whether it was made failed: %v", err, ferr)
		}
		if found != nil {
			notes = append(notes, fmt.Sprintf("the create's answer was lost (%s); the lookup by name found it made", shortCause(err)))
			return found, notes, nil
		}
		if !tenant.IsAmbiguous(err) || attempt >= o.attempts {
			return nil, notes, err
		}
		notes = append(notes, fmt.Sprintf("create attempt %d failed (%s) and the lookup by name found nothing: trying again", attempt, shortCause(err)))
		if err := clock.Sleep(ctx, o.clock, o.wait(attempt)); err != nil {
			return nil, notes, err
		}
	}
}

// deleteOnce deletes id; an object already gone counts as deleted.
func deleteOnce[T any](ctx context.Context, k kindCalls[T], id, name string) (string, error) {
	err := k.delete(ctx, id, name)
	if tenant.IsNotFound(err) {
		return "already gone", nil
	}
	return "", err
}

// patchOrPut applies ops; when the tenant refuses the PATCH (403: the field is not
// patchable there), it sends the whole object instead and says so, unless noPut: the plan
// found that a PUT would drop or clear what the file does not declare.
func patchOrPut[T any](ctx context.Context, k kindCalls[T], id, name string, ops []tenant.PatchOp, whole T, noPut bool) (*T, string, error) {
	got, err := k.patch(ctx, id, name, ops)
	if err == nil {
		return got, "", nil
	}
	if tenant.StatusCode(err) != http.StatusForbidden {
		return nil, "", err
	}
	if noPut {
		return nil, "", fmt.Errorf("%w; a PUT in its place was not sent, as the plan warned: it would drop attributes or clear secrets the file does not declare", err)
	}
	got, perr := k.put(ctx, id, whole)
	if perr != nil {
		return nil, "", fmt.Errorf("the tenant refused the PATCH (403), and the PUT that replaces it failed: %w", perr)
	}
	return got, "the tenant refused the PATCH (403); the whole object was sent with PUT instead", nil
}

func shortCause(err error) string {
	var ae *tenant.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("%d %s", ae.Status, http.StatusText(ae.Status))
	}
	var re *tenant.RequestError
	if errors.As(err, &re) && re.Err != nil {
		return re.Err.Error()
	}
	return err.Error()
}
