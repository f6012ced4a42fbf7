package tenant

import "github.com/sdim-sync/sdim-sync/internal/sdim"

// BaseURL is the tenant's API root the client calls.
func (c *Client) BaseURL() string { return c.s.BaseURL }

// APIVersion is the API version the client speaks.
func (c *Client) APIVersion() sdim.APIVersion { return c.s.APIVersion }
