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
	return WriteLeft(w, rows, gap, 1)
}

// WriteLeft is Write with the first left columns left-aligned, for tables
// whose columns hold words rather than figures. A row's last cell is not
// padded, so no line ends in spaces.
func WriteLeft(w io.Writer, rows [][]string, gap, left int) error {
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
			if i > 0 {
				b.WriteString(sep)
			}
			if i >= left {
				b.WriteString(pad + cell)
				continue
			}
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(pad)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
