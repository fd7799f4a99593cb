package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/workflow-runtime/workflow-runtime/pkg/config"
)

// redisLine is the startup log's line about Redis: what the service does
// without it, and how to give it one.
func redisLine(cfg config.Config) string {
	switch {
	case cfg.RedisURL != "" && cfg.CronMode == "sharded":
		return "redis: " + cfg.Redacted().RedisURL + " holds the workflow and slot locks, carries changes between replicas and shares the cron triggers among the live ones"
	case cfg.RedisURL != "":
		return "redis: " + cfg.Redacted().RedisURL + " holds the workflow and slot locks and carries changes between replicas; every replica fires every cron trigger"
	case cfg.DatabaseURL == "":
		return "redis: none; this single replica decides slots and overlaps in its database and applies its changes at once; set WFR_REDIS_URL=redis://127.0.0.1:6379/0, with WFR_DATABASE_URL, to run several replicas"
	}
	return fmt.Sprintf("redis: none; every replica fires every cron trigger, PostgreSQL decides slots and overlaps, and replicas learn of changes at each resync (every %s); set WFR_REDIS_URL=redis://127.0.0.1:6379/0 for locks and change fan-out", cfg.ResyncInterval)
}

// lockDataDir takes the lock file of the embedded database in dir, creating
// dir if need be, for as long as the process lives or until release: the
// embedded database has one replica, whose locks and change announcements
// live in its memory, so a second process on the same files would break
// them. The lock is flock(2)'s, which the kernel drops when the process
// dies, so that a crash leaves no stale lock behind. The file names the
// holder's pid, for the error of the process that finds it taken.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use: another workflow-runtime process%s holds %s, and the embedded database serves one process; stop that one, set WFR_DATA_DIR to another directory, or set WFR_DATABASE_URL to share PostgreSQL between replicas",
				dir, pidNote(holder), path)
		}
		return nil, fmt.Errorf("data dir: lock %s: %w", path, err)
	}
	// The pid is a note for the error above; the lock does not depend on it.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// pidNote is " (pid N)" when the lock file names the holder's pid.
func pidNote(content []byte) string {
	if pid, err := strconv.Atoi(string(bytes.TrimSpace(content))); err == nil {
		return fmt.Sprintf(" (pid %d)", pid)
	}
	return ""
}
