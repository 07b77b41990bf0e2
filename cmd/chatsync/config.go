package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// mode is the subcommand a configuration is read for. Every variable that
// is set is validated in every mode (so one environment file serves all
// processes and a typo never goes unnoticed); a mode decides only which
// variables are required.
type mode int

const (
	modeServe mode = iota
	modeWork
	modeDev
	modeSend // `chatsync send`: only the Chat credentials are required
)

// Defaults of the configuration.
const (
	defaultHTTPAddr        = ":8080"
	defaultAdmin           = "administrator"
	defaultRateLimit       = 200
	defaultConcurrency     = 20
	defaultShutdownTimeout = 25 * time.Second
	defaultWaitTimeout     = time.Second // REDIS_WAIT_TIMEOUT
)

// config is chatsync's configuration, read from the environment by
// parseConfig. Zero values of optional fields mean "use the package
// default" where a package owns the default.
type config struct {
	Redis        *redisConfig // nil in dev without REDIS_URL: embedded miniredis
	HTTPAddr     string
	PprofAddr    string // "" = no profiling endpoint
	EmulatorAddr string // dev's emulator

	SDKAppID  uint64
	SecretKey string
	Admin     string
	Region    chatapi.Region
	BaseURL   string

	CallbackToken    string
	CallbackInsecure bool
	EventSecrets     []string
	APIKey           string

	MonitoringUser     string
	MonitoringPassword string
	MonitoringReadOnly bool

	AutoRead    []string
	RateLimit   int
	Concurrency int
	Queues      map[string]int
	Debounce    time.Duration // 0: the tasks package's default
	// MaxRetry is in tasks.Builder's terms: 0 is the default, a negative
	// value means no retries.
	MaxRetry int
	// TaskRetention is in tasks.Builder's terms: a negative value keeps
	// no completed task.
	TaskRetention   time.Duration
	ReceiptBatchMax int
	SnapshotTTL     time.Duration
	// ConversationInterval is in tasks.Config's terms: negative is none.
	ConversationInterval time.Duration
	SinkURL              string
	SinkSecret           string

	// Replication acknowledgement (REDIS_WAIT_*): serve acknowledges an
	// event only once WAIT confirms that WaitReplicas replicas have its
	// tasks, within WaitTimeout. 0 replicas: no WAIT.
	WaitReplicas int
	WaitTimeout  time.Duration

	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogFormat       string // "json" or "text"

	Hardening // issue #11's variables, read by parseHardening

	Tracing tracingConfig // OTEL_*, read by parseTracing
}

// configError lists every problem found in the environment.
type configError struct{ problems []string }

func (e *configError) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.problems, "\n  ")
}

// env reads variables through a lookup function (os.LookupEnv in main, a
// map in tests) and collects problems instead of stopping at the first.
// Values are trimmed; an empty value counts as unset. Problems name the
// variable and the rule, never a secret's value.
type env struct {
	lookup   func(string) (string, bool)
	problems []string
}

func (e *env) problem(name, format string, args ...any) {
	e.problems = append(e.problems, name+": "+fmt.Sprintf(format, args...))
}

func (e *env) err() error {
	if len(e.problems) == 0 {
		return nil
	}
	return &configError{problems: e.problems}
}

func (e *env) str(name, def string) string {
	v, _ := e.lookup(name)
	if v = strings.TrimSpace(v); v == "" {
		return def
	}
	return v
}

func (e *env) required(name string) string {
	v := e.str(name, "")
	if v == "" {
		e.problem(name, "required")
	}
	return v
}

func (e *env) integer(name string, def, lo, hi int) int {
	s := e.str(name, "")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		e.problem(name, "%q is not an integer from %d to %d", s, lo, hi)
		return def
	}
	return n
}

func (e *env) boolean(name string, def bool) bool {
	s := e.str(name, "")
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		e.problem(name, "%q is not true or false", s)
		return def
	}
	return b
}

func (e *env) duration(name string, def, lo, hi time.Duration) time.Duration {
	s := e.str(name, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		e.problem(name, "%q is not a duration from %v to %v (e.g. 250ms, 25s)", s, lo, hi)
		return def
	}
	return d
}

func (e *env) addr(name, def string) string {
	s := e.str(name, def)
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		var n int
		if n, err = strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
			err = fmt.Errorf("port out of range")
		}
	}
	if err != nil {
		e.problem(name, "%q is not a listen address host:port (e.g. :8080)", s)
		return def
	}
	return s
}

// optAddr is addr for an optional listen address: unset or empty is "".
func (e *env) optAddr(name string) string {
	if e.str(name, "") == "" {
		return ""
	}
	return e.addr(name, "")
}

func (e *env) httpURL(name string) string {
	s := e.str(name, "")
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.problem(name, "not an absolute http or https URL")
		return ""
	}
	return s
}

func (e *env) list(name string) []string { return splitList(e.str(name, "")) }

// splitList splits a comma-separated list, dropping blanks and repeats.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// userIDs reads a comma list of Chat UserIDs.
func (e *env) userIDs(name string) []string {
	ids := e.list(name)
	for _, id := range ids {
		if err := chatapi.CheckUserID(id); err != nil {
			e.problem(name, "%q %v", id, err)
		}
	}
	return ids
}

// redisURL parses REDIS_URL (see parseRedisURL). Its value can hold
// passwords, so it is never quoted in a problem.
func (e *env) redisURL(name string, required bool) *redisConfig {
	s := e.str(name, "")
	if s == "" {
		if required {
			e.problem(name, "required (e.g. redis://redis:6379/0)")
		}
		return nil
	}
	c, err := parseRedisURL(s)
	if err != nil {
		e.problem(name, "%v", err)
		return nil
	}
	return c
}

// eventSecrets reads a comma list of Standard Webhooks secrets. Several
// secrets allow rotation: every one is accepted.
func (e *env) eventSecrets(name string) []string {
	secrets := e.list(name)
	for i, s := range secrets {
		if _, err := tasks.ParseWebhookSecret(s); err != nil {
			e.problem(name, "entry %d is not whsec_ followed by the base64 of %d to %d bytes", i+1,
				tasks.MinWebhookKey, tasks.MaxWebhookKey)
		}
	}
	return secrets
}

// queueWeights reads "queue=weight,…" over the default weights. Every
// named queue must be one chatsync uses, so that a typo cannot leave a queue
// unserved.
func (e *env) queueWeights(name string) map[string]int {
	weights := tasks.DefaultQueues()
	known := make([]string, 0, len(weights))
	for q := range weights {
		known = append(known, q)
	}
	sort.Strings(known)
	for _, item := range e.list(name) {
		q, w, ok := strings.Cut(item, "=")
		q = strings.TrimSpace(q)
		n, err := strconv.Atoi(strings.TrimSpace(w))
		switch {
		case !ok || err != nil || n < 1 || n > 100:
			e.problem(name, "%q is not queue=weight with a weight from 1 to 100", item)
		case !slices.Contains(known, q):
			e.problem(name, "unknown queue %q (want %s)", q, strings.Join(known, ", "))
		default:
			weights[q] = n
		}
	}
	return weights
}

func (e *env) logLevel(name string) slog.Level {
	var l slog.Level
	s := e.str(name, "info")
	if err := l.UnmarshalText([]byte(s)); err != nil {
		e.problem(name, "%q is not debug, info, warn or error", s)
		return slog.LevelInfo
	}
	return l
}

func (e *env) oneOf(name, def string, allowed ...string) string {
	s := strings.ToLower(e.str(name, def))
	if !slices.Contains(allowed, s) {
		e.problem(name, "%q is not one of %s", s, strings.Join(allowed, ", "))
		return def
	}
	return s
}

// parseConfig reads the configuration of mode m from lookup. It returns a
// *configError listing every bad or missing variable.
func parseConfig(m mode, lookup func(string) (string, bool)) (config, error) {
	e := &env{lookup: lookup}
	logFormat := "json"
	if m == modeDev {
		logFormat = "text"
	}
	c := config{
		Redis:        e.redisURL("REDIS_URL", m == modeServe || m == modeWork),
		HTTPAddr:     e.addr("HTTP_ADDR", defaultHTTPAddr),
		PprofAddr:    e.optAddr("PPROF_ADDR"),
		EmulatorAddr: e.addr("EMULATOR_ADDR", devEmulatorAddr),

		SecretKey: e.str("CHAT_SECRET_KEY", ""),
		Admin:     e.str("CHAT_ADMIN", defaultAdmin),
		BaseURL:   e.httpURL("CHAT_BASE_URL"),

		CallbackToken:    e.str("CHAT_CALLBACK_TOKEN", ""),
		CallbackInsecure: e.boolean("CHAT_CALLBACK_INSECURE", false),
		EventSecrets:     e.eventSecrets("EVENTS_SECRET"),
		APIKey:           e.str("API_KEY", ""),

		MonitoringUser:     e.str("MONITORING_USER", ""),
		MonitoringPassword: e.str("MONITORING_PASSWORD", ""),
		MonitoringReadOnly: e.boolean("MONITORING_READONLY", true),

		AutoRead:    e.userIDs("AUTO_READ_ACCOUNTS"),
		RateLimit:   e.integer("CHAT_RATE_LIMIT", defaultRateLimit, 1, 100000),
		Concurrency: e.integer("WORKER_CONCURRENCY", defaultConcurrency, 1, 10000),
		Queues:      e.queueWeights("QUEUE_WEIGHTS"),
		Debounce:    e.duration("UNREAD_DEBOUNCE", 0, time.Millisecond, time.Minute),
		SinkURL:     e.httpURL("SINK_URL"),
		SinkSecret:  e.str("SINK_SECRET", ""),

		WaitReplicas: e.integer("REDIS_WAIT_REPLICAS", 0, 0, 100),
		WaitTimeout:  e.duration("REDIS_WAIT_TIMEOUT", defaultWaitTimeout, time.Millisecond, tasks.MaxWaitTimeout),

		ShutdownTimeout: e.duration("SHUTDOWN_TIMEOUT", defaultShutdownTimeout, time.Second, 10*time.Minute),
		LogLevel:        e.logLevel("LOG_LEVEL"),
		LogFormat:       e.oneOf("LOG_FORMAT", logFormat, "json", "text"),
	}
	// In tasks.Builder's terms: TASK_MAX_RETRY=0 (no retries) is negative there.
	if c.MaxRetry = e.integer("TASK_MAX_RETRY", tasks.DefaultMaxRetry, 0, 100); c.MaxRetry == 0 {
		c.MaxRetry = -1
	}
	c.TaskRetention = e.duration("TASK_RETENTION", tasks.DefaultRetention, 0, 30*24*time.Hour)
	if c.TaskRetention == 0 {
		c.TaskRetention = -1 // keep none
	}
	c.ConversationInterval = e.duration("CONVERSATION_INTERVAL", tasks.DefaultConversationInterval, 0, time.Minute)
	if c.ConversationInterval == 0 {
		c.ConversationInterval = -1 // none
	}
	c.SnapshotTTL = e.duration("SNAPSHOT_TTL", tasks.DefaultSnapshotTTL, time.Hour, 365*24*time.Hour)
	c.ReceiptBatchMax = e.integer("RECEIPT_BATCH_MAX", tasks.DefaultReceiptBatchMax, 1, tasks.MaxReceiptBatch)
	c.Hardening = parseHardening(e, m, c.SinkURL)
	c.Tracing = parseTracing(e)
	c.parseChat(e, m)
	c.checkCombinations(e, m)
	return c, e.err()
}

// parseChat reads the Chat app's identity. Dev ignores it: there chatsync
// talks to its own emulator with demo credentials.
func (c *config) parseChat(e *env, m mode) {
	if id := e.str("CHAT_SDKAPPID", ""); id != "" {
		n, err := chatapi.ParseSDKAppID(id)
		if err != nil {
			e.problem("CHAT_SDKAPPID", "%v", err)
		}
		c.SDKAppID = n
	} else if m != modeDev {
		e.problem("CHAT_SDKAPPID", "required (the SDKAppID from the Chat console)")
	}
	if err := chatapi.CheckUserID(c.Admin); err != nil {
		e.problem("CHAT_ADMIN", "%q %v", c.Admin, err)
	}
	if r := strings.ToLower(e.str("CHAT_REGION", "")); r != "" {
		if chatapi.Region(r).Host() == "" {
			e.problem("CHAT_REGION", "%q is unknown (want one of %v)", r, chatapi.Regions())
		}
		c.Region = chatapi.Region(r)
	}
	if m != modeWork && m != modeSend {
		return
	}
	if c.SecretKey == "" {
		e.problem("CHAT_SECRET_KEY", "required (the app's secret key from the Chat console)")
	}
	if c.Region == "" && c.BaseURL == "" {
		e.problem("CHAT_REGION", "required unless CHAT_BASE_URL is set (one of %v)", chatapi.Regions())
	}
}

// checkCombinations checks rules that span variables.
func (c *config) checkCombinations(e *env, m mode) {
	if c.Region != "" && c.BaseURL != "" {
		e.problem("CHAT_BASE_URL", "set CHAT_REGION or CHAT_BASE_URL, not both")
	}
	if (c.MonitoringUser == "") != (c.MonitoringPassword == "") {
		e.problem("MONITORING_PASSWORD", "MONITORING_USER and MONITORING_PASSWORD are set together or not at all")
	}
	if c.SinkURL != "" && c.SinkSecret == "" {
		e.problem("SINK_SECRET", "required with SINK_URL")
	}
	if _, err := tasks.ParseWebhookSecret(c.SinkSecret); c.SinkSecret != "" && err != nil {
		e.problem("SINK_SECRET", "not whsec_ followed by the base64 of %d to %d bytes", tasks.MinWebhookKey, tasks.MaxWebhookKey)
	}
	if m == modeDev && c.Redis == nil && c.WaitReplicas > 0 {
		e.problem("REDIS_WAIT_REPLICAS", "needs REDIS_URL: dev's embedded Redis has no replicas")
	}
	if m == modeServe && c.CallbackToken == "" && !c.CallbackInsecure {
		e.problem("CHAT_CALLBACK_TOKEN", "required (the console's callback authentication token), "+
			"or set CHAT_CALLBACK_INSECURE=true to accept unsigned callbacks")
	}
}
