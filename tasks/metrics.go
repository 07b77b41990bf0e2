package tasks

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatsync/chatsync/chatapi"
)

// Task outcomes, the values of chatsync_task_outcomes_total's outcome label.
const (
	OutcomeOK          = "ok"           // the task is done
	OutcomeRetried     = "retried"      // failed; asynq runs it again after a backoff
	OutcomeArchived    = "archived"     // failed for good; archived for an operator
	OutcomeRateLimited = "rate_limited" // postponed by a rate limit; not a failure
)

// metrics are the worker's Prometheus collectors. A nil *metrics records
// nothing.
type metrics struct {
	outcomes *prometheus.CounterVec
	wait     *prometheus.HistogramVec
	age      *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsync_task_outcomes_total",
			Help: "Task runs by type and outcome (ok, retried, archived, rate_limited).",
		}, []string{"type", "outcome"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatsync_limiter_wait_seconds",
			Help:    "Time a Chat call waited in the handler for the cluster-wide rate limit, by API.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
		}, []string{"api"}),
		age: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chatsync_unread_snapshot_age_seconds",
			Help: "Staleness of unread data when it is written to a snapshot: for a callback's total, " +
				"the time since the callback's event; for an API measurement, the time since the first " +
				"request the refresh answers. By source (callback, api).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"source"}),
	}
	var err error
	if m.outcomes, err = register(reg, m.outcomes); err != nil {
		return nil, err
	}
	if m.wait, err = register(reg, m.wait); err != nil {
		return nil, err
	}
	if m.age, err = register(reg, m.age); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) outcome(typ, outcome string) {
	if m != nil {
		m.outcomes.WithLabelValues(typ, outcome).Inc()
	}
}

func (m *metrics) limiterWait(api string, d time.Duration) {
	if m != nil {
		m.wait.WithLabelValues(api).Observe(d.Seconds())
	}
}

func (m *metrics) snapshotAge(source string, d time.Duration) {
	if m != nil {
		m.age.WithLabelValues(source).Observe(max(d, 0).Seconds())
	}
}

// NewChatMetrics registers chatsync_chat_api_calls_total{api, code} and
// chatsync_chat_api_duration_seconds{api} with reg and returns the function
// that records one chatapi.Call in them, for chatapi.Config.Observe (the
// Chat client is built before the Worker). The code label is Chat's
// ErrorCode ("0" for success), "http_<status>" for a non-200 answer,
// "network" when no answer arrived and "undecodable" for an unreadable one.
// Registering twice with one registry reuses the collectors. The returned
// function is safe for concurrent use.
func NewChatMetrics(reg prometheus.Registerer) (func(chatapi.Call), error) {
	calls, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatsync_chat_api_calls_total",
		Help: "Chat REST calls (HTTP attempts) by API and ErrorCode.",
	}, []string{"api", "code"}))
	if err != nil {
		return nil, err
	}
	dur, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chatsync_chat_api_duration_seconds",
		Help:    "Duration of Chat REST calls (HTTP attempts) by API.",
		Buckets: prometheus.DefBuckets,
	}, []string{"api"}))
	if err != nil {
		return nil, err
	}
	return func(c chatapi.Call) {
		calls.WithLabelValues(c.API, codeLabel(c)).Inc()
		dur.WithLabelValues(c.API).Observe(c.Duration.Seconds())
	}, nil
}

func codeLabel(c chatapi.Call) string {
	switch {
	case c.Code >= 0:
		return strconv.Itoa(c.Code)
	case c.HTTPStatus == 0:
		return "network"
	case c.HTTPStatus != 200:
		return "http_" + strconv.Itoa(c.HTTPStatus)
	default:
		return "undecodable"
	}
}

// register registers c, or returns the collector registered before in its
// place.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
