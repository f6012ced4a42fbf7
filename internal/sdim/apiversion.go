// Package sdim holds the resource model every other package shares: the kinds of object
// sdim-sync manages, the API versions that serve them, and the attribute keys the tenant
// treats as secrets.
package sdim

import (
	"fmt"
	"strings"
)

// APIVersion is one of the tenant API versions that serve service desk integrations.
type APIVersion string

// The API versions sdim-sync speaks. V3 is the default.
const (
	V3    APIVersion = "v3"
	V2024 APIVersion = "v2024"
	V2025 APIVersion = "v2025"
	V1    APIVersion = "v1"
)

// APIVersions lists every supported version, oldest scheme first.
func APIVersions() []APIVersion { return []APIVersion{V3, V2024, V2025, V1} }

// ParseAPIVersion accepts "v3", "v2024", "v2025" or "v1" (case-insensitive).
func ParseAPIVersion(s string) (APIVersion, error) {
	v := APIVersion(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range APIVersions() {
		if v == known {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown API version %q: use one of v3, v2024, v2025 or v1", s)
}

// ServiceDeskPath is the path of the service desk integration collection in this version:
// the version comes first for v3, v2024 and v2025 and last for the per-service v1 scheme.
func (v APIVersion) ServiceDeskPath() string {
	if v == V1 {
		return "/service-desk-integrations/v1"
	}
	return "/" + string(v) + "/service-desk-integrations"
}

// HasSIM reports whether the version serves the experimental SIM integrations API.
func (v APIVersion) HasSIM() bool { return v == V2024 || v == V2025 || v == V1 }

// SIMPath is the path of the SIM integration collection, or "" where the version has none.
func (v APIVersion) SIMPath() string {
	switch v {
	case V1:
		return "/sim-integrations/v1"
	case V2024, V2025:
		return "/" + string(v) + "/sim-integrations"
	}
	return ""
}

// ExperimentalHeader is the header the SIM endpoints require, with the value "true".
const ExperimentalHeader = "X-SailPoint-Experimental"
