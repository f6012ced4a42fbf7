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
