package sdim

import "strconv"

// Count writes a count with its noun in the right number: "1 problem", "2 problems",
// "0 problems". Every message that counts uses it, so none says "1 deletes".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// EditDistance is the Levenshtein distance between two strings, by rune, with a swap of two
// neighbours counting as one edit ("knid" is one edit from "kind", "--mdoe" from
// "--mode"). Strings longer than 64 runes are not compared letter by letter: they are at
// distance 0 when equal, else their greater length (no typo suggestion is that long).
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return max(len(ra), len(rb))
	}
	// Three rows: the one before the previous is needed for a swap.
	before, prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], before[j-2]+1)
			}
		}
		before, prev, cur = prev, cur, before
	}
	return prev[len(rb)]
}
