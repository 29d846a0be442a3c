// Package progress draws progress bars for a person watching a terminal,
// and nothing anywhere else: a bar redrawn with carriage returns is noise
// in a log file or a pipe.
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Terminal returns w when it is a terminal, and nil otherwise (a file, a
// pipe, a buffer), so that New(Terminal(w), …) draws only where a person
// watches.
func Terminal(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return w
	}
	return nil
}

// Bar counts the steps of one task. A nil *Bar does nothing, so callers
// need not check whether progress is shown. Add may be called from several
// goroutines.
type Bar struct {
	pb *progressbar.ProgressBar
}

// New returns a bar of n steps titled title on w, or nil when w is nil or
// n is not positive. Titles are padded to width, so that the bars of
// successive tasks line up.
func New(w io.Writer, title string, width, n int) *Bar {
	if w == nil || n <= 0 {
		return nil
	}
	return &Bar{pb: progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(fmt.Sprintf("%-*s", width, title)),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// Add counts n more steps done.
func (b *Bar) Add(n int) {
	if b != nil {
		b.pb.Add(n)
	}
}

// Done erases the bar, whether its task finished or failed, so that no
// stale line is left above what is printed next. Call it once, after the
// last Add.
func (b *Bar) Done() {
	if b != nil {
		b.pb.Finish()
	}
}
