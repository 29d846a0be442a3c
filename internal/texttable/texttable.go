// Package texttable writes the plain-text tables Penny's commands print:
// the first column (labels) left-aligned, the others (figures)
// right-aligned.
package texttable

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Write writes rows as columns gap spaces apart. Widths count runes, so
// "—" is one column wide; a label alone on its row is not padded.
func Write(w io.Writer, rows [][]string, gap int) error {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	sep := strings.Repeat(" ", gap)
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if i == 0 {
				b.WriteString(cell)
				if len(r) > 1 {
					b.WriteString(pad)
				}
				continue
			}
			b.WriteString(sep + pad + cell)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
