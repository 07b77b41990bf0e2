package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

const workUsage = `Runs the task workers: they take chatsync's tasks from Redis and make the Chat REST
calls (admin_set_msg_read, c2c_msg_read_receipt, get_c2c_unread_msg_num) under a rate
limit shared by every worker process on the same Redis. Transient failures are retried
with backoff, rate-limited calls are postponed, permanent failures are archived with
Chat's ErrorCode (see /monitoring/ on serve). Serves /metrics, /healthz and /readyz on
ADMIN_ADDR. On SIGTERM, running tasks get SHUTDOWN_TIMEOUT to finish; the rest go
back to Redis.

Environment (required: REDIS_URL, CHAT_SDKAPPID, CHAT_SECRET_KEY, CHAT_REGION or CHAT_BASE_URL):
  REDIS_URL            redis://[user:password@]host:port/db, rediss://… (Redis >= 6.2) or
                       redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=NAME
  CHAT_SDKAPPID        the app's SDKAppID
  CHAT_SECRET_KEY      the app's secret key, which signs the admin UserSig
  CHAT_ADMIN           an App admin account (default administrator)
  CHAT_REGION          china, singapore, seoul, tokyo, frankfurt, siliconvalley or jakarta
  CHAT_BASE_URL        instead of CHAT_REGION: the REST endpoint, e.g. an emulator's URL
  CHAT_RATE_LIMIT      Chat calls per second per API across all workers (default 200)
  WORKER_CONCURRENCY   tasks run at once by this process (default 20)
  QUEUE_WEIGHTS        queue priorities (default chat_read=6,chat_unread=3,sink=1)
  UNREAD_DEBOUNCE      how long an unread refresh waits for more changes (default 500ms)
  TASK_MAX_RETRY       retries of a task after its first attempt (default 12)
  SINK_URL             receives signed unread.updated events (optional)
  SINK_SECRET          the sink's Standard Webhooks secret, whsec_… (required with SINK_URL)
  ADMIN_ADDR           listen address of /metrics, /healthz, /readyz (default 127.0.0.1:9091)
  SHUTDOWN_TIMEOUT     how long running tasks may finish after SIGTERM (default 25s)
  LOG_LEVEL            debug, info, warn or error (default info)
  LOG_FORMAT           json or text (default json)
  PPROF_ADDR           listen address of Go's /debug/pprof/ (unset: off; warns unless loopback)

Tracing (OpenTelemetry; off unless an OTLP endpoint or OTEL_TRACES_EXPORTER=otlp is set):
` + tracingHelp

func runWork(ctx context.Context, p *process, args []string) error {
	a, stop, err := p.start(ctx, modeWork, "work", workUsage, args)
	if err != nil {
		return err
	}
	defer stop()
	cfg, log := a.cfg, a.log
	ln, err := listen(cfg.AdminAddr, 0, nil)
	if err != nil {
		return fmt.Errorf("listen (ADMIN_ADDR): %w", err)
	}
	w, err := a.startWorker("")
	if err != nil {
		ln.Close()
		return err
	}
	ops := newHTTPServer(adminMux(a.reg, func(ctx context.Context) error {
		return errors.Join(a.ready(ctx), w.ready())
	}, nil), log)
	errc := startHTTP(ops, ln)
	if strings.HasPrefix(strings.ToLower(cfg.SinkURL), "http://") {
		log.Warn("SINK_URL is plain http (SINK_ALLOW_HTTP=true): signed events and unread counts travel in the clear")
	}
	log.Info("working", "admin_addr", ln.Addr().String(), "version", buildVersion(),
		"concurrency", cfg.Concurrency, "queues", cfg.Queues, "rate_limit", cfg.RateLimit)
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for running tasks", "timeout", cfg.ShutdownTimeout.String())
	w.stop()
	return errors.Join(err, shutdownHTTP(ops, 5*time.Second))
}

// worker is a running asynq server with chatsync's handlers.
type worker struct {
	srv     *asynq.Server
	running atomic.Bool
}

// startWorker starts processing tasks. chatBaseURL, when set, overrides
// the configured Chat endpoint (dev's emulator).
func (a *app) startWorker(chatBaseURL string) (*worker, error) {
	srv, mux, err := a.newWorker(chatBaseURL)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(mux); err != nil {
		return nil, fmt.Errorf("start workers: %w", err)
	}
	w := &worker{srv: srv}
	w.running.Store(true)
	return w, nil
}

// ready reports whether the server is processing tasks: started, not
// shutting down, and its Redis answering.
func (w *worker) ready() error {
	if !w.running.Load() {
		return errors.New("workers are not running")
	}
	return w.srv.Ping()
}

// stop stops taking tasks and waits up to the configured ShutdownTimeout
// for running ones; tasks still running then go back to Redis for another
// worker.
func (w *worker) stop() {
	w.running.Store(false)
	w.srv.Shutdown()
}
