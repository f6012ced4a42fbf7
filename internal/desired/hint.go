package desired

import (
	"strings"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// suggest returns the candidate closest to word when it is close enough to be a likely
// typo (same letters in another case, or a few edits away), else "".
func suggest(word string, candidates []string) string {
	lw := strings.ToLower(word)
	best, bestDist := "", -1
	for _, c := range candidates {
		dist := sdim.EditDistance(lw, strings.ToLower(c))
		if bestDist < 0 || dist < bestDist {
			best, bestDist = c, dist
		}
	}
	limit := max(1, min(3, len([]rune(word))/3))
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}
