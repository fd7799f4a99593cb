package main

import (
	"io"

	"github.com/go-kit/log"

	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/logging"
)

// newLogger builds serve's logger as cfg says, writing to stderr or to the
// rotated log file, and its level, which SIGUSR1 raises to debug and SIGUSR2
// restores until closeLog, which also closes the file.
func newLogger(cfg config.Config, stderr io.Writer) (logger log.Logger, lvl *logging.Level, closeLog func(), err error) {
	out, err := logging.Output(stderr, logging.File{
		Path: cfg.LogFile, MaxSizeMB: cfg.LogMaxSizeMB, MaxBackups: cfg.LogMaxBackups, MaxAgeDays: cfg.LogMaxAgeDays,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	logger, lvl, err = logging.New(out, cfg.LogFormat, cfg.LogLevel, cfg.InstanceID)
	if err != nil {
		_ = out.Close()
		return nil, nil, nil, err
	}
	stopSignals := lvl.NotifySignals()
	return logger, lvl, func() {
		stopSignals()
		_ = out.Close()
	}, nil
}
