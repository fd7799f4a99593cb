package logging

import (
	"fmt"
	"io"
	"os"

	"gopkg.in/natefinch/lumberjack.v2"
)

// File is a log file rotated by size.
type File struct {
	// Path is the file; empty means stderr.
	Path string
	// MaxSizeMB is the size at which the file is rotated.
	MaxSizeMB int
	// MaxBackups is how many rotated files are kept; 0 keeps all.
	MaxBackups int
	// MaxAgeDays is how long rotated files are kept; 0 keeps them whatever their age.
	MaxAgeDays int
}

// Output returns where the log goes: stderr when f.Path is empty, else the
// file alone. The file is not teed to stderr: who sets a file collects it,
// and writing every line twice would double the cost of logging and, where
// stderr is collected too (systemd, Kubernetes), store every line twice.
// The file is opened at once so that a path that cannot be written fails the
// start rather than losing every line. Closing the result closes the file,
// never stderr.
func Output(stderr io.Writer, f File) (io.WriteCloser, error) {
	if f.Path == "" {
		return nopCloser{stderr}, nil
	}
	if f.MaxSizeMB < 1 || f.MaxBackups < 0 || f.MaxAgeDays < 0 {
		return nil, fmt.Errorf("logging: bad rotation of %s: size %d MB, %d backups, %d days", f.Path, f.MaxSizeMB, f.MaxBackups, f.MaxAgeDays)
	}
	// lumberjack would move a directory in the way aside as an old log.
	if info, err := os.Stat(f.Path); err == nil && info.IsDir() {
		return nil, fmt.Errorf("logging: %s is a directory", f.Path)
	}
	lj := &lumberjack.Logger{Filename: f.Path, MaxSize: f.MaxSizeMB, MaxBackups: f.MaxBackups, MaxAge: f.MaxAgeDays}
	// An empty write makes lumberjack open the file as it will for a line.
	if _, err := lj.Write(nil); err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	return lj, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
