package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkDir fails with a clear message when the directory that would hold
// the database file does not exist, which SQLite would only report as
// "unable to open database file".
func checkDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// fileURI returns path as a SQLite "file:" URI, escaping the characters
// that would otherwise end the path.
func fileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// ErrFileGone is wrapped by the error of a write to a database whose file
// was removed or replaced while it was open (its directory deleted, the
// file renamed or overwritten). SQLite itself goes on writing to the open,
// now nameless, file without complaint, so what is written is lost with
// it; the ledger writer keeps such records in its spool instead.
var ErrFileGone = errors.New("the database file was removed or replaced while Penny had it open")

// checkFile reports, with an error wrapping ErrFileGone, when the
// database's path no longer names the file that was opened. It is a stat,
// cheap enough to call after every write transaction. In-memory databases
// always pass.
func (db *DB) checkFile() error {
	if db.file == nil {
		return nil
	}
	fi, err := os.Stat(db.path)
	if err != nil || !os.SameFile(fi, db.file) {
		return fmt.Errorf("%w: %s", ErrFileGone, db.path)
	}
	return nil
}
