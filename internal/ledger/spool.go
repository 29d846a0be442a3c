package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// spool is the Writer's append-only file of records the store could not
// take: one Record as JSON per line, appended and fsynced a batch at a
// time, replayed into the store in order once it takes records again, and
// truncated when all of it has been replayed. Replayed records may be
// appended again after a crash (the replay position is not saved), which
// is harmless because a Store stores a request id once.
//
// A spool is used by the Writer's goroutine only. The file is opened when
// the first record is spooled, or at start-up when one is left over.
type spool struct {
	path string
	f    *os.File    // nil until needed, and again once emptied
	fi   os.FileInfo // what f is, to notice the file removed or replaced
	size int64       // bytes in the file
	off  int64       // bytes already replayed
	// pending is how many records are in the file past off.
	pending int64
	// gen counts the files opened, so that a replay read from an earlier
	// one is not taken for a position in the current one.
	gen int
	buf bytes.Buffer
}

// openSpool returns the spool at path, with what a previous run left in
// it. A last line cut short by a crash (never acknowledged: appends are
// fsynced whole) is cut off and reported as dropped bytes.
func openSpool(path string) (s *spool, dropped int64, err error) {
	s = &spool{path: path}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return s, 0, nil
	}
	if dropped, err = s.open(); err != nil {
		return nil, 0, err
	}
	if s.pending == 0 {
		s.close()
	}
	return s, dropped, nil
}

// open opens (creating) the file at s.path and takes what it holds as
// records to replay, after those of a file s had open before, which are
// copied over: the old file is no longer at the path (removed, or its
// directory removed and made again) but still readable.
func (s *spool) open() (dropped int64, err error) {
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("ledger: spool: %w", err)
	}
	lines, end, size, err := scanLines(f)
	if err == nil && end < size {
		dropped = size - end
		err = f.Truncate(end)
	}
	if err == nil && s.f != nil && s.size > s.off {
		var n int64
		n, err = io.Copy(f, io.NewSectionReader(s.f, s.off, s.size-s.off))
		end += n
		lines += s.pending
	}
	if err == nil {
		err = f.Sync()
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("ledger: spool %s: %w", s.path, err)
	}
	s.close()
	s.f, s.fi, s.size, s.off, s.pending = f, fi, end, 0, lines
	s.gen++
	return dropped, nil
}

// scanLines counts the complete lines of f and returns the offset just
// after the last one, and f's size.
func scanLines(f *os.File) (lines, end, size int64, err error) {
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		b, err := r.ReadSlice('\n')
		size += int64(len(b))
		switch {
		case err == nil:
			lines++
			end = size
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return lines, end, size, nil
		default:
			return 0, 0, 0, err
		}
	}
}

// append writes recs at the end of the spool in one write and fsyncs it:
// on success they survive the process being killed. On failure the file
// is cut back to what it held, and none of recs is in it.
func (s *spool) append(recs []Record) error {
	if err := s.ensureOpen(); err != nil {
		return err
	}
	s.buf.Reset()
	enc := json.NewEncoder(&s.buf)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("ledger: spool: encoding record %q: %w", recs[i].RequestID, err)
		}
	}
	n, err := s.f.Write(s.buf.Bytes())
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if n > 0 {
			s.f.Truncate(s.size) // best effort: no half-written batch
		}
		return fmt.Errorf("ledger: spool %s: %w", s.path, err)
	}
	s.size += int64(n)
	s.pending += int64(len(recs))
	return nil
}

// ensureOpen opens the spool file, creating it, or opens it again when
// its path no longer names the open file.
func (s *spool) ensureOpen() error {
	if s.f != nil {
		if fi, err := os.Stat(s.path); err == nil && os.SameFile(fi, s.fi) {
			return nil
		}
	}
	_, err := s.open()
	return err
}

// next reads up to n records from the replay position. It returns them,
// the offset just past them (for advance) and how many lines could not be
// read as records, which are skipped.
func (s *spool) next(n int) (recs []Record, end int64, bad int, err error) {
	if s.f == nil || s.off >= s.size {
		return nil, s.off, 0, nil
	}
	// The file holds whole lines up to s.size: appends are whole.
	r := bufio.NewReader(io.NewSectionReader(s.f, s.off, s.size-s.off))
	end = s.off
	for len(recs) < n {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, s.off, 0, fmt.Errorf("ledger: spool %s: %w", s.path, err)
		}
		end += int64(len(line))
		var rec Record
		if json.Unmarshal(line, &rec) != nil {
			bad++
			continue
		}
		recs = append(recs, rec)
	}
	return recs, end, bad, nil
}

// advance marks the spool replayed up to end, n records; once all of it
// is, the file is truncated and closed.
func (s *spool) advance(end int64, n int) error {
	s.off = end
	s.pending = max(0, s.pending-int64(n))
	if s.off < s.size {
		return nil
	}
	return s.reset()
}

// reset empties the spool.
func (s *spool) reset() error {
	s.pending, s.size, s.off = 0, 0, 0
	if s.f == nil {
		return nil
	}
	err := s.f.Truncate(0)
	if err == nil {
		err = s.f.Sync()
	}
	s.close()
	if err != nil {
		return fmt.Errorf("ledger: spool %s: emptying: %w", s.path, err)
	}
	return nil
}

func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		s.f, s.fi = nil, nil
	}
}
