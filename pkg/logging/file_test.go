package logging

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log/level"
	"github.com/stretchr/testify/require"
)

func TestOutputStderr(t *testing.T) {
	t.Parallel()

	var stderr bytes.Buffer
	w, err := Output(&stderr, File{})
	require.NoError(t, err)
	_, err = w.Write([]byte("line\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	_, err = w.Write([]byte("after close\n"))
	require.NoError(t, err, "closing the output must not close stderr")
	require.Equal(t, "line\nafter close\n", stderr.String())
}

// Lines go to the file alone, which is rotated at its size and whose old
// copies beyond MaxBackups are removed.
func TestOutputFileRotation(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "wfr.log")
	var stderr bytes.Buffer
	w, err := Output(&stderr, File{Path: path, MaxSizeMB: 1, MaxBackups: 2, MaxAgeDays: 7})
	require.NoError(t, err)
	defer w.Close()
	info, err := os.Stat(path)
	require.NoError(t, err, "the file is created at once")
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	logger, _, err := New(w, "json", "info", "i")
	require.NoError(t, err)
	// About 4.5 MB of lines: four rotations of a 1 MB file.
	pad := strings.Repeat("x", 1000)
	for i := range 4500 {
		require.NoError(t, level.Info(logger).Log("msg", "fill", "i", strconv.Itoa(i), "pad", pad))
	}
	require.Empty(t, stderr.String(), "the file is not teed to stderr")

	backups := func() []string {
		m, err := filepath.Glob(filepath.Join(dir, "sub", "wfr-*.log"))
		require.NoError(t, err)
		return m
	}
	// lumberjack removes old copies in the background.
	require.Eventually(t, func() bool { return len(backups()) == 2 }, 5*time.Second, 10*time.Millisecond,
		"backups: %v", backups())
	for _, f := range append(backups(), path) {
		info, err := os.Stat(f)
		require.NoError(t, err)
		require.LessOrEqual(t, info.Size(), int64(1<<20), "%s", f)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		decode(t, "json", string(b)) // every file holds whole JSON lines
	}
}

func TestOutputErrors(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))

	tests := []struct {
		name    string
		file    File
		wantErr string
	}{
		{"parent is a file", File{Path: filepath.Join(notDir, "wfr.log"), MaxSizeMB: 1}, "logging: "},
		{"path is a directory", File{Path: dir, MaxSizeMB: 1}, "logging: "},
		{"zero size", File{Path: filepath.Join(dir, "a.log")}, "logging: bad rotation"},
		{"negative backups", File{Path: filepath.Join(dir, "a.log"), MaxSizeMB: 1, MaxBackups: -1}, "logging: bad rotation"},
		{"negative age", File{Path: filepath.Join(dir, "a.log"), MaxSizeMB: 1, MaxAgeDays: -1}, "logging: bad rotation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			w, err := Output(os.Stderr, tt.file)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
			require.Nil(t, w)
		})
	}
}
