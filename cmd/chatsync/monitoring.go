package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// monitoringPath is where the asynqmon UI is mounted.
const monitoringPath = "/monitoring"

// newRegistry returns the process's Prometheus registry with the Go
// runtime and process collectors. The packages register their own metrics
// on it through their Registerer config fields.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// registerQueueMetrics adds asynq's queue collector (queue sizes by state,
// latency, memory, processed and failed counts), which reads Redis on
// every scrape through inspector. The numbers are cluster-wide, so only
// serve registers it: with several serve replicas, aggregate with max().
func registerQueueMetrics(reg prometheus.Registerer, inspector *asynq.Inspector) {
	reg.MustRegister(metrics.NewQueueMetricsCollector(inspector))
}

// metricsHandler serves reg in the Prometheus text format.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// monitoringConfig says whether and how the asynqmon UI is served.
type monitoringConfig struct {
	User, Password string // both empty: the UI is off
	ReadOnly       bool
	Redis          asynq.RedisConnOpt
	Metrics        *adminMetrics // counts refused requests; nil: not counted
}

// newMonitoring returns the asynqmon UI for /monitoring behind basic auth,
// or nil when no credentials are configured (the UI is off, never open).
// Every answer forbids framing, and a request that could change something
// (any method but GET, HEAD and OPTIONS) must come from the UI's own
// origin, else 403: basic auth alone does not stop a page elsewhere from
// posting with the browser's remembered credentials. Both refusals are
// counted in cfg.Metrics. The returned function closes asynqmon's Redis
// connections.
func newMonitoring(cfg monitoringConfig) (http.Handler, func() error) {
	if cfg.User == "" || cfg.Password == "" {
		return nil, func() error { return nil }
	}
	h := asynqmon.New(asynqmon.Options{
		RootPath:     monitoringPath,
		RedisConnOpt: cfg.Redis,
		ReadOnly:     cfg.ReadOnly,
	})
	valid := credentialsValidator(cfg.User, cfg.Password)
	sameOrigin := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		if u, p, ok := r.BasicAuth(); !ok || !valid(u, p) {
			reason := refusedBadCredentials
			if !ok {
				reason = refusedNoCredentials
			}
			cfg.Metrics.refuse(reason)
			w.Header().Set("WWW-Authenticate", `Basic realm="chatsync monitoring"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if err := sameOrigin.Check(r); err != nil { // as sameOrigin.Handler answers, counted
			cfg.Metrics.refuse(refusedCrossOrigin)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	}), h.Close
}

// The reasons of chatsync_admin_refused_total.
const (
	refusedNoCredentials  = "no_credentials"  // 401: no basic auth, as in a browser's first request
	refusedBadCredentials = "bad_credentials" // 401: a wrong user or password
	refusedCrossOrigin    = "cross_origin"    // 403: a change asked for by another site's page
)

// adminMetrics counts the requests the admin listener refuses. A nil
// *adminMetrics records nothing. It is safe for concurrent use.
type adminMetrics struct {
	refused *prometheus.CounterVec
}

// newAdminMetrics registers chatsync_admin_refused_total{reason} with reg,
// every reason at 0. It returns the registry's error.
func newAdminMetrics(reg prometheus.Registerer) (*adminMetrics, error) {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatsync_admin_refused_total",
		Help: "Requests the admin listener (ADMIN_ADDR) refused, by reason: no_credentials and " +
			"bad_credentials (401 from /monitoring/'s basic auth; a browser's first request has none), " +
			"cross_origin (403: a change asked for by another site's page).",
	}, []string{"reason"})
	for _, r := range []string{refusedNoCredentials, refusedBadCredentials, refusedCrossOrigin} {
		refused.WithLabelValues(r)
	}
	if err := reg.Register(refused); err != nil {
		return nil, fmt.Errorf("register admin metrics: %w", err)
	}
	return &adminMetrics{refused: refused}, nil
}

func (m *adminMetrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

// credentialsValidator compares user and password in constant time. It
// compares SHA-256 digests so that not even the lengths leak.
func credentialsValidator(user, password string) func(u, p string) bool {
	wantUser, wantPassword := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	return func(u, p string) bool {
		gotUser, gotPassword := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		okUser := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		okPassword := subtle.ConstantTimeCompare(gotPassword[:], wantPassword[:])
		return okUser&okPassword == 1
	}
}

// adminMux serves the admin listener (ADMIN_ADDR): /metrics, /healthz,
// /readyz and, when monitoring is not nil, the UI under /monitoring/.
// ready reports why the process is not ready, or nil.
func adminMux(reg *prometheus.Registry, ready func(context.Context) error, monitoring http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, `{"error":"not ready"}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"status":"ready"}`)
	})
	if monitoring != nil {
		mux.Handle(monitoringPath, monitoring)
		mux.Handle(monitoringPath+"/", monitoring)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body+"\n")
}
