// Package logging builds the service's structured logger on go-kit/log.
package logging

import (
	"fmt"
	"io"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// New returns a logger writing format ("json" or "logfmt") to w, that drops
// lines below minLevel and stamps every line with ts, caller and instance_id.
func New(w io.Writer, format, minLevel, instanceID string) (log.Logger, error) {
	var logger log.Logger
	switch format {
	case "json":
		logger = log.NewJSONLogger(log.NewSyncWriter(w))
	case "logfmt":
		logger = log.NewLogfmtLogger(log.NewSyncWriter(w))
	default:
		return nil, fmt.Errorf("logging: unknown format %q", format)
	}
	var opt level.Option
	switch minLevel {
	case "debug":
		opt = level.AllowDebug()
	case "info":
		opt = level.AllowInfo()
	case "warn":
		opt = level.AllowWarn()
	case "error":
		opt = level.AllowError()
	default:
		return nil, fmt.Errorf("logging: unknown level %q", minLevel)
	}
	logger = level.NewFilter(logger, opt)
	return log.With(logger, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller, "instance_id", instanceID), nil
}
