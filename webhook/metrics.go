package webhook

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics. A nil *metrics records
// nothing, so handlers call it unconditionally.
type metrics struct {
	requests  *prometheus.CounterVec   // route, method, code
	duration  *prometheus.HistogramVec // route, method
	callbacks *prometheus.CounterVec   // command, result
	events    *prometheus.CounterVec   // type, result
	alerts    *prometheus.CounterVec   // api
}

// newMetrics registers the metrics with reg; nil reg means no metrics.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsync_http_requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatsync_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsync_callbacks_total",
			Help: "Chat callbacks by command and result (enqueued, duplicate, ignored, unauthorized, invalid, unavailable).",
		}, []string{"command", "result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsync_events_total",
			Help: "App events by type and result (enqueued, duplicate, invalid, unavailable).",
		}, []string{"type", "result"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsync_chat_overlimit_alerts_total",
			Help: "Alert.RequestOverLimit callbacks by API (service/command): Chat saw its rate pass 80 % of the limit.",
		}, []string{"api"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.callbacks, m.events, m.alerts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	return m, nil
}

// middleware counts and times every request. It hands a handler's error to
// the error handler itself, so that the status it records is the one sent.
func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route, method := routeLabel(c), methodLabel(c.Request().Method)
		m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(route, method, statusLabel(c.Response().Status)).Inc()
		return nil
	}
}

func (m *metrics) callback(command, result string) {
	if m != nil {
		m.callbacks.WithLabelValues(command, result).Inc()
	}
}

func (m *metrics) overLimit(api string) {
	if m != nil {
		m.alerts.WithLabelValues(api).Inc()
	}
}

func (m *metrics) event(typ, result string) {
	if m == nil {
		return
	}
	if _, ok := eventTypes[typ]; !ok {
		typ = "unknown"
	}
	m.events.WithLabelValues(typ, result).Inc()
}

// routeLabel is the matched route, or "unmatched" (which keeps request
// paths, and so the label's cardinality, out of the metrics and logs).
func routeLabel(c echo.Context) string {
	switch p := c.Path(); p {
	case routeCallback, routeEvents, routeUnread, "/healthz", "/readyz":
		return p
	default:
		for _, r := range c.Echo().Routes() {
			if r.Path == p && r.Method == c.Request().Method {
				return p // mounted by the caller, e.g. /metrics
			}
		}
		return "unmatched"
	}
}

// statusLabel is strconv.Itoa without an allocation for common codes
// (BenchmarkCallback: one allocation, 16 bytes, fewer per request).
func statusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 202:
		return "202"
	case 400:
		return "400"
	case 401:
		return "401"
	case 404:
		return "404"
	case 503:
		return "503"
	}
	return strconv.Itoa(code)
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
