package engine

import "github.com/sdim-sync/sdim-sync/internal/applier"

// SetLedgerSkip makes e drop the ledger write of each applied result skip selects: a crash
// between the tenant write and the ledger write.
func SetLedgerSkip(e *Engine, skip func(applier.Result) bool) { e.ledgerSkip = skip }
