package desired

import _ "embed" // the JSON Schema is an embedded, read-only file

// schemaText is the JSON Schema (draft 2020-12) of one desired-state document, for
// editors. A test holds it and the loader together: the examples pass both, and a sample
// of the bad corpus fails both.
//
//go:embed schema.json
var schemaText string

// Schema returns the JSON Schema (draft 2020-12) of one document of a desired-state file.
// The loader checks more than a schema can: duplicate names across files, secret
// references, deprecated fields that disagree with their successors.
func Schema() []byte { return []byte(schemaText) }
