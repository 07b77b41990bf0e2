package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// newLogger returns the process's logger: JSON (the default, for log
// collectors) or text (dev), at level. It also becomes the destination of
// the libraries that log on their own, the standard log package (asynq's
// queue metrics collector) and go-redis, so that every line on stderr has
// the one format.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	if format == "text" {
		log = slog.New(slog.NewTextHandler(w, opts))
	} else {
		log = slog.New(slog.NewJSONHandler(w, opts))
	}
	slog.SetDefault(log)
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	return log
}

// redisLogger adapts slog to go-redis's logger: its messages are about
// connections (dial failures, pool state), warnings at most.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// asynqLevel maps a slog level to asynq's, so that asynq does not format
// messages the handler would drop. (The asynq.Logger adapter itself is
// tasks.Worker.ServerConfig's.)
func asynqLevel(l slog.Level) asynq.LogLevel {
	switch {
	case l <= slog.LevelDebug:
		return asynq.DebugLevel
	case l <= slog.LevelInfo:
		return asynq.InfoLevel
	case l <= slog.LevelWarn:
		return asynq.WarnLevel
	default:
		return asynq.ErrorLevel
	}
}
