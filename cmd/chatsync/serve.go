package main

import (
	"context"
	"errors"
	"time"
)

const serveUsage = `Runs the HTTP ingest: the Tencent Cloud Chat callback target (POST /callback), signed
app events (POST /v1/events), the unread API (GET /v1/users/{id}/unread), health
(GET /healthz, /readyz) on HTTP_ADDR; Prometheus metrics (GET /metrics), health and
the asynqmon UI (/monitoring/) on ADMIN_ADDR, which stays off the public proxy. Every accepted callback or event is acknowledged only once its tasks
are in Redis; run 'chatsync work' to process them.

Environment (required: REDIS_URL, CHAT_SDKAPPID, CHAT_CALLBACK_TOKEN or CHAT_CALLBACK_INSECURE):
  REDIS_URL               redis://[user:password@]host:port/db, rediss://… (Redis >= 6.2) or
                          redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=NAME
  REDIS_WAIT_REPLICAS     acknowledge only once WAIT confirms every online replica, and at
                          least this many, have the tasks (default 0: no WAIT)
  REDIS_WAIT_TIMEOUT      how long that WAIT may take before the request fails (default 1s)
  HTTP_ADDR               public listen address (default :8080)
  ADMIN_ADDR              admin listen address: /metrics, /healthz, /readyz, /monitoring/
                          (default 127.0.0.1:9090)
  MAX_CONNECTIONS         open connections at most on HTTP_ADDR (default 1024)
  CHAT_SDKAPPID           the app's SDKAppID; callbacks for another app are refused
  CHAT_CALLBACK_TOKEN     the console's callback authentication token (checks Sign/RequestTime)
  CHAT_CALLBACK_INSECURE  true accepts unsigned callbacks when no token is set (default false)
  EVENTS_SECRET           Standard Webhooks secrets for /v1/events, comma-separated whsec_…
                          (several for rotation; unset: /v1/events is off)
  API_KEY                 bearer token of /v1/users/{id}/unread (unset: the route is off)
  AUTO_READ_ACCOUNTS      accounts (bots, service desks) whose incoming messages are marked
                          read at once, comma-separated
  MONITORING_USER         basic-auth user of /monitoring/ (unset: the UI is off)
  MONITORING_PASSWORD     basic-auth password of /monitoring/
  MONITORING_READONLY     false lets the UI delete, run and archive tasks (default true)
  TASK_MAX_RETRY          retries of a task after its first attempt (default 12)
  SHUTDOWN_TIMEOUT        how long requests in flight may finish after SIGTERM (default 25s)
  LOG_LEVEL               debug, info, warn or error (default info)
  LOG_FORMAT              json or text (default json)
  PPROF_ADDR              listen address of Go's /debug/pprof/ (unset: off; warns unless loopback)

Tracing (OpenTelemetry; off unless an OTLP endpoint or OTEL_TRACES_EXPORTER=otlp is set):
` + tracingHelp

func runServe(ctx context.Context, p *process, args []string) error {
	a, stop, err := p.start(ctx, modeServe, "serve", serveUsage, args)
	if err != nil {
		return err
	}
	defer stop()
	cfg, log := a.cfg, a.log
	public, admin, closeMonitoring, err := a.newHTTP()
	if err != nil {
		return err
	}
	defer closeMonitoring()
	pub, err := a.startPublic(public)
	if err != nil {
		return err
	}
	adm, err := startListener(cfg.AdminAddr, "ADMIN_ADDR", 0, nil, admin, log)
	if err != nil {
		return errors.Join(err, pub.stop(time.Second))
	}
	log.Info("serving", "addr", pub.ln.Addr().String(), "admin_addr", adm.ln.Addr().String(),
		"max_connections", cfg.MaxConnections, "version", buildVersion(),
		"events", len(cfg.EventSecrets) > 0, "unread_api", cfg.APIKey != "",
		"monitoring", cfg.MonitoringUser != "", "monitoring_readonly", cfg.MonitoringReadOnly)
	select {
	case err = <-pub.errc:
	case err = <-adm.errc:
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	return errors.Join(err, pub.stop(cfg.ShutdownTimeout), adm.stop(time.Second))
}
