package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// ServiceDeskPages calls fn with each page of the service desk integrations that match
// opts, as ListServiceDesk reads them (250 a page, count=true, sorted by name), without
// keeping them: a consumer that writes each page out holds one page at a time, whatever
// the size of the tenant.
//
// It checks the listing as ListServiceDesk does: when the total moves between pages, an
// id comes back twice, or the tenant's count and the objects listed disagree at the end,
// objects changed while it listed, and it returns an error for which IsListMoved is true.
// fn has then seen part of a listing that is not a consistent state: drop what it kept
// and call ServiceDeskPages again (ListServiceDesk does so itself, three tries in all).
// An error returned by fn stops the listing and is returned as it is.
func (c *Client) ServiceDeskPages(ctx context.Context, opts ListOptions, fn func(page []sdim.ServiceDeskIntegration) error) error {
	return eachPage(ctx, c, "list service desk integrations", c.sdPath(), opts,
		func(o sdim.ServiceDeskIntegration) string { return o.ID }, fn)
}

// IsListMoved reports whether err says that a paged listing changed while it was read.
func IsListMoved(err error) bool {
	var m listMoved
	return errors.As(err, &m)
}

// movedError keeps the operation in the text of a listMoved error.
type movedError struct {
	op  string
	err listMoved
}

func (e *movedError) Error() string {
	return e.op + ": the list changed while it was read: " + e.err.Error()
}
func (e *movedError) Unwrap() error { return e.err }

// eachPage pages through a list endpoint as listPages does, handing each page to fn
// instead of gathering them. Only the ids seen are kept, to notice one that comes back.
func eachPage[T any](ctx context.Context, c *Client, op, base string, opts ListOptions, id func(T) string, fn func([]T) error) error {
	seen := map[string]struct{}{}
	total, listed := -1, 0
	for offset := 0; ; offset += PageSize {
		q := url.Values{"limit": {strconv.Itoa(PageSize)}, "offset": {strconv.Itoa(offset)}, "count": {"true"}, "sorters": {"name"}}
		if opts.Filters != "" {
			q.Set("filters", opts.Filters)
		}
		r := &request{op: op, method: http.MethodGet, route: base, path: base, query: q}
		resp, err := c.do(ctx, r)
		if err != nil {
			return err
		}
		var page []T
		if err := decode(r, resp.body, &page); err != nil {
			return err
		}
		if h := resp.header.Get("X-Total-Count"); h != "" {
			n, err := strconv.Atoi(h)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: X-Total-Count %q is not a count", op, h)
			}
			if total >= 0 && n != total {
				return &movedError{op, listMoved(fmt.Sprintf("the total went from %d to %d", total, n))}
			}
			total = n
		}
		for _, o := range page {
			k := id(o)
			if _, dup := seen[k]; dup {
				return &movedError{op, listMoved(fmt.Sprintf("id %s came back twice", k))}
			}
			seen[k] = struct{}{}
		}
		listed += len(page)
		last := len(page) < PageSize || total >= 0 && offset+PageSize >= total
		if last && total >= 0 && listed != total {
			return &movedError{op, listMoved(fmt.Sprintf("the tenant counted %d but listed %d", total, listed))}
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
	}
}
