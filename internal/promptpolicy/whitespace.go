package promptpolicy

import "strings"

// Normalize returns s with white space that carries no meaning removed:
// trailing spaces and tabs (and carriage returns) are trimmed from every
// line but the last, runs of spaces and tabs inside a line that contain a
// space become one space, and more than one blank line in a row becomes one.
//
// What could carry meaning is kept: leading indentation, runs of tabs only
// (tab-separated data), the trailing white space of the last line (the
// block's edge, which may join the next block) and everything inside a
// fenced code block (``` or ~~~, to its closing fence or the end of s).
func Normalize(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	lines := strings.Split(s, "\n")
	fence := "" // the opening fence while inside a fenced block
	blank := 0  // blank lines written in a row outside fences
	for i, line := range lines {
		last := i == len(lines)-1
		body := strings.TrimLeft(line, " \t")
		switch {
		case fence != "":
			if closesFence(body, fence) {
				fence = ""
			}
			b.WriteString(line)
			blank = 0
		case fenceOpen(body) != "":
			fence = fenceOpen(body)
			b.WriteString(line)
			blank = 0
		default:
			var tail string
			if last {
				trimmed := strings.TrimRight(line, " \t\r")
				tail, line = line[len(trimmed):], trimmed
			} else {
				line = strings.TrimRight(line, " \t\r")
			}
			if line == "" && !last {
				blank++
				if blank > 1 {
					continue
				}
			} else if line != "" {
				blank = 0
			}
			indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
			b.WriteString(indent)
			collapse(&b, line[len(indent):])
			b.WriteString(tail)
		}
		if !last {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// collapse writes s with every run of two or more spaces and tabs that
// contains a space replaced by one space.
func collapse(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != ' ' && c != '\t' {
			b.WriteByte(c)
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		run := s[i:j]
		if len(run) > 1 && strings.Contains(run, " ") {
			b.WriteByte(' ')
		} else {
			b.WriteString(run)
		}
		i = j
	}
}

// fenceOpen returns the fence (three or more backticks or tildes) that
// line, without its indentation, opens, or "".
func fenceOpen(body string) string {
	if len(body) < 3 || (body[0] != '`' && body[0] != '~') {
		return ""
	}
	n := 0
	for n < len(body) && body[n] == body[0] {
		n++
	}
	if n < 3 {
		return ""
	}
	return body[:n]
}

// closesFence reports whether body is a closing fence for fence: at least
// as many of the same character and nothing else but white space.
func closesFence(body, fence string) bool {
	f := fenceOpen(body)
	return f != "" && f[0] == fence[0] && len(f) >= len(fence) && strings.TrimSpace(body[len(f):]) == ""
}
