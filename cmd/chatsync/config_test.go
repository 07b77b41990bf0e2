package main

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// lookupMap returns a lookup function over m, like os.LookupEnv.
func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const testWhsec = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3" // 24 bytes

// validEnv is a complete environment for serve and work.
func validEnv() map[string]string {
	return map[string]string{
		"REDIS_URL":           "redis://:s3cret@127.0.0.1:6379/3",
		"CHAT_SDKAPPID":       "1400000001",
		"CHAT_SECRET_KEY":     "console-secret",
		"CHAT_REGION":         "Singapore",
		"CHAT_CALLBACK_TOKEN": "token",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestParseConfigDefaults(t *testing.T) {
	got, err := parseConfig(modeWork, lookupMap(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Redis:        &redisConfig{Single: &redis.Options{Addr: "127.0.0.1:6379", Password: "s3cret", DB: 3}},
		HTTPAddr:     ":8080",
		EmulatorAddr: "127.0.0.1:9000",
		SDKAppID:     1400000001,
		SecretKey:    "console-secret",
		Admin:        "administrator",
		Region:       chatapi.Singapore,

		CallbackToken:        "token",
		MonitoringReadOnly:   true,
		RateLimit:            200,
		Concurrency:          20,
		Queues:               tasks.DefaultQueues(),
		MaxRetry:             tasks.DefaultMaxRetry,
		TaskRetention:        tasks.DefaultRetention,
		ReceiptBatchMax:      tasks.DefaultReceiptBatchMax,
		SnapshotTTL:          tasks.DefaultSnapshotTTL,
		ConversationInterval: tasks.DefaultConversationInterval,
		WaitTimeout:          time.Second,
		ShutdownTimeout:      25 * time.Second,
		LogLevel:             slog.LevelInfo,
		LogFormat:            "json",
		Hardening:            Hardening{AdminAddr: "127.0.0.1:9091", MaxConnections: 1024},
	}
	if diff := cmp.Diff(want, got, redisOptions()); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// redisOptions compares the fields of the go-redis options that REDIS_URL
// sets.
func redisOptions() cmp.Option {
	return cmp.Options{
		cmp.Comparer(func(a, b *redis.Options) bool {
			if a == nil || b == nil {
				return a == b
			}
			return a.Addr == b.Addr && a.Username == b.Username && a.Password == b.Password &&
				a.DB == b.DB && (a.TLSConfig == nil) == (b.TLSConfig == nil)
		}),
		cmp.Comparer(func(a, b *redis.FailoverOptions) bool {
			if a == nil || b == nil {
				return a == b
			}
			return a.MasterName == b.MasterName && slices.Equal(a.SentinelAddrs, b.SentinelAddrs) &&
				a.SentinelUsername == b.SentinelUsername && a.SentinelPassword == b.SentinelPassword &&
				a.Username == b.Username && a.Password == b.Password && a.DB == b.DB &&
				(a.TLSConfig == nil) == (b.TLSConfig == nil)
		}),
	}
}

func TestParseConfigValues(t *testing.T) {
	env := with(validEnv(),
		"REDIS_URL", "rediss://user:pw@redis.example:6380/2",
		"HTTP_ADDR", "127.0.0.1:0",
		"ADMIN_ADDR", " :9999 ",
		"MAX_CONNECTIONS", "50",
		"PPROF_ADDR", "127.0.0.1:6060",
		"CHAT_REGION", "",
		"CHAT_BASE_URL", "http://emulator:9000",
		"CHAT_ADMIN", "ops",
		"CHAT_CALLBACK_INSECURE", "true",
		"EVENTS_SECRET", testWhsec+", "+testWhsec+",whsec_"+strings.Repeat("QUFB", 6),
		"API_KEY", "key",
		"MONITORING_USER", "admin",
		"MONITORING_PASSWORD", "pw",
		"MONITORING_READONLY", "false",
		"AUTO_READ_ACCOUNTS", "bot1, ,desk,bot1",
		"CHAT_RATE_LIMIT", "150",
		"WORKER_CONCURRENCY", "50",
		"QUEUE_WEIGHTS", "chat_read=10, sink=2",
		"UNREAD_DEBOUNCE", "250ms",
		"TASK_MAX_RETRY", "5",
		"TASK_RETENTION", "0",
		"RECEIPT_BATCH_MAX", "50",
		"SNAPSHOT_TTL", "48h",
		"CONVERSATION_INTERVAL", "0",
		"SINK_URL", "https://app.example/hooks",
		"SINK_SECRET", testWhsec,
		"REDIS_WAIT_REPLICAS", "1",
		"REDIS_WAIT_TIMEOUT", "250ms",
		"SHUTDOWN_TIMEOUT", "40s",
		"LOG_LEVEL", "DEBUG",
		"LOG_FORMAT", "Text",
	)
	got, err := parseConfig(modeWork, lookupMap(env))
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Redis: &redisConfig{Single: &redis.Options{Addr: "redis.example:6380", Username: "user", Password: "pw", DB: 2,
			TLSConfig: &tls.Config{}}},
		HTTPAddr:     "127.0.0.1:0",
		PprofAddr:    "127.0.0.1:6060",
		EmulatorAddr: "127.0.0.1:9000",
		SDKAppID:     1400000001,
		SecretKey:    "console-secret",
		Admin:        "ops",
		BaseURL:      "http://emulator:9000",

		CallbackToken:        "token",
		CallbackInsecure:     true,
		EventSecrets:         []string{testWhsec, "whsec_" + strings.Repeat("QUFB", 6)},
		APIKey:               "key",
		MonitoringUser:       "admin",
		MonitoringPassword:   "pw",
		AutoRead:             []string{"bot1", "desk"},
		RateLimit:            150,
		Concurrency:          50,
		Queues:               map[string]int{tasks.QueueRead: 10, tasks.QueueUnread: 3, tasks.QueueSink: 2},
		Debounce:             250 * time.Millisecond,
		MaxRetry:             5,
		TaskRetention:        -1,
		ReceiptBatchMax:      50,
		SnapshotTTL:          48 * time.Hour,
		ConversationInterval: -1,
		SinkURL:              "https://app.example/hooks",
		SinkSecret:           testWhsec,
		WaitReplicas:         1,
		WaitTimeout:          250 * time.Millisecond,
		ShutdownTimeout:      40 * time.Second,
		LogLevel:             slog.LevelDebug,
		LogFormat:            "text",
		Hardening:            Hardening{AdminAddr: ":9999", MaxConnections: 50},
	}
	if diff := cmp.Diff(want, got, redisOptions()); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestParseConfigMaxRetry(t *testing.T) {
	tests := []struct {
		value string
		want  int // tasks.Builder.MaxRetry
	}{
		{"", tasks.DefaultMaxRetry}, // unset: the package default
		{"0", -1},                   // no retries
		{"1", 1},
		{"25", 25},
	}
	for _, tt := range tests {
		got, err := parseConfig(modeServe, lookupMap(with(validEnv(), "TASK_MAX_RETRY", tt.value)))
		if err != nil {
			t.Fatal(err)
		}
		if got.MaxRetry != tt.want {
			t.Errorf("TASK_MAX_RETRY=%q: MaxRetry = %d, want %d", tt.value, got.MaxRetry, tt.want)
		}
	}
}

// TestParseConfigProblems checks that one error lists every problem, in
// the order of the variables, and that no secret value appears in it.
func TestParseConfigProblems(t *testing.T) {
	tests := []struct {
		name string
		mode mode
		env  map[string]string
		want []string // the problems' variable names
	}{
		{"serve, empty environment", modeServe, map[string]string{},
			[]string{"REDIS_URL", "CHAT_SDKAPPID", "CHAT_CALLBACK_TOKEN"}},
		{"work, empty environment", modeWork, map[string]string{},
			[]string{"REDIS_URL", "CHAT_SDKAPPID", "CHAT_SECRET_KEY", "CHAT_REGION"}},
		{"dev, empty environment", modeDev, map[string]string{}, nil},
		{"serve needs no Chat credentials", modeServe,
			with(validEnv(), "CHAT_SECRET_KEY", "<unset>", "CHAT_REGION", "<unset>"), nil},
		{"insecure callbacks instead of a token", modeServe,
			with(validEnv(), "CHAT_CALLBACK_TOKEN", "", "CHAT_CALLBACK_INSECURE", "true"), nil},
		{"every value bad", modeWork, map[string]string{
			"REDIS_URL":              "http://:hunter2@redis:6379",
			"HTTP_ADDR":              "8080",
			"METRICS_ADDR":           ":9091",
			"ADMIN_ADDR":             "localhost:99999",
			"MAX_CONNECTIONS":        "0",
			"SINK_ALLOW_HTTP":        "sure",
			"EMULATOR_ADDR":          "nowhere",
			"CHAT_SDKAPPID":          "4294967296",
			"CHAT_SECRET_KEY":        "hunter2",
			"CHAT_ADMIN":             strings.Repeat("a", 33),
			"CHAT_REGION":            "mars",
			"CHAT_BASE_URL":          "ftp://x",
			"CHAT_CALLBACK_INSECURE": "maybe",
			"EVENTS_SECRET":          "hunter2,whsec_aHVudGVyMg==",
			"MONITORING_USER":        "admin",
			"MONITORING_READONLY":    "no way",
			"AUTO_READ_ACCOUNTS":     "ok," + strings.Repeat("b", 33),
			"CHAT_RATE_LIMIT":        "0",
			"WORKER_CONCURRENCY":     "many",
			"QUEUE_WEIGHTS":          "chat_read=0,default=1,sink",
			"UNREAD_DEBOUNCE":        "5",
			"TASK_MAX_RETRY":         "-1",
			"SINK_SECRET":            "hunter2",
			"SHUTDOWN_TIMEOUT":       "1h",
			"LOG_LEVEL":              "loud",
			"LOG_FORMAT":             "xml",
		}, []string{
			"REDIS_URL", "HTTP_ADDR", "EMULATOR_ADDR", "CHAT_BASE_URL",
			"CHAT_CALLBACK_INSECURE", "EVENTS_SECRET", "EVENTS_SECRET", "MONITORING_READONLY",
			"AUTO_READ_ACCOUNTS", "CHAT_RATE_LIMIT", "WORKER_CONCURRENCY",
			"QUEUE_WEIGHTS", "QUEUE_WEIGHTS", "QUEUE_WEIGHTS", "UNREAD_DEBOUNCE",
			"SHUTDOWN_TIMEOUT", "LOG_LEVEL", "LOG_FORMAT", "TASK_MAX_RETRY",
			"METRICS_ADDR", "ADMIN_ADDR", "MAX_CONNECTIONS", "SINK_ALLOW_HTTP",
			"CHAT_SDKAPPID", "CHAT_ADMIN", "CHAT_REGION",
			"MONITORING_PASSWORD", "SINK_SECRET",
		}},
		{"bad pprof address", modeServe, with(validEnv(), "PPROF_ADDR", "6060"),
			[]string{"PPROF_ADDR"}},
		{"plain http sink", modeWork, with(validEnv(), "SINK_URL", "http://x.example", "SINK_SECRET", testWhsec),
			[]string{"SINK_URL"}},
		{"plain http sink allowed", modeWork, with(validEnv(), "SINK_URL", "http://x.example", "SINK_SECRET", testWhsec,
			"SINK_ALLOW_HTTP", "true"), nil},
		{"region and base URL", modeWork, with(validEnv(), "CHAT_BASE_URL", "http://emulator:9000"),
			[]string{"CHAT_BASE_URL"}},
		{"sink without secret", modeWork, with(validEnv(), "SINK_URL", "https://x.example"),
			[]string{"SINK_SECRET"}},
		{"password without user", modeServe, with(validEnv(), "MONITORING_PASSWORD", "pw"),
			[]string{"MONITORING_PASSWORD"}},
		{"receipt batch of 0", modeWork, with(validEnv(), "RECEIPT_BATCH_MAX", "0"), []string{"RECEIPT_BATCH_MAX"}},
		{"receipt batch above the emulator's maximum", modeWork, with(validEnv(), "RECEIPT_BATCH_MAX", "101"),
			[]string{"RECEIPT_BATCH_MAX"}},
		{"negative retention", modeServe, with(validEnv(), "TASK_RETENTION", "-1m"), []string{"TASK_RETENTION"}},
		{"snapshot TTL too short", modeWork, with(validEnv(), "SNAPSHOT_TTL", "1m"), []string{"SNAPSHOT_TTL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.mode, lookupMap(tt.env))
			var got []string
			var ce *configError
			if errors.As(err, &ce) {
				for _, p := range ce.problems {
					name, _, _ := strings.Cut(p, ":")
					got = append(got, name)
				}
			} else if err != nil {
				t.Fatalf("error %T %v, want *configError", err, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows a secret:\n%v", err)
			}
		})
	}
}

func TestConfigErrorText(t *testing.T) {
	_, err := parseConfig(modeServe, lookupMap(map[string]string{"CHAT_RATE_LIMIT": "x"}))
	want := `invalid configuration:
  REDIS_URL: required (e.g. redis://redis:6379/0)
  CHAT_RATE_LIMIT: "x" is not an integer from 1 to 100000
  CHAT_SDKAPPID: required (the SDKAppID from the Chat console)
  CHAT_CALLBACK_TOKEN: required (the console's callback authentication token), or set CHAT_CALLBACK_INSECURE=true to accept unsigned callbacks`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

// validSecret reports whether s is a valid Standard Webhooks secret.
// (TestValidWebhookSecret moved to tasks as TestParseWebhookSecret.)
func validSecret(s string) bool {
	_, err := tasks.ParseWebhookSecret(s)
	return err == nil
}

func TestDevConfig(t *testing.T) {
	base, err := parseConfig(modeDev, lookupMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	got, shown := devConfig(base, lookupMap(nil))
	if got.Redis != nil || got.HTTPAddr != devHTTPAddr || got.SDKAppID != devSDKAppID ||
		got.APIKey != devAPIKey || got.MonitoringReadOnly || len(got.EventSecrets) != 1 ||
		!validSecret(got.EventSecrets[0]) {
		t.Errorf("dev config = %+v", got)
	}
	if diff := cmp.Diff(devSecrets{APIKey: devAPIKey, EventsSecret: got.EventSecrets[0], MonitoringPassword: devMonitoring}, shown); diff != "" {
		t.Errorf("shown (-want +got):\n%s", diff)
	}

	// Secrets the user set are used but never shown.
	env := lookupMap(map[string]string{"API_KEY": "mine", "EVENTS_SECRET": testWhsec, "MONITORING_USER": "u",
		"MONITORING_PASSWORD": "p", "MONITORING_READONLY": "true", "HTTP_ADDR": ":0", "CHAT_SDKAPPID": "1"})
	base, err = parseConfig(modeDev, env)
	if err != nil {
		t.Fatal(err)
	}
	got, shown = devConfig(base, env)
	if got.APIKey != "mine" || got.EventSecrets[0] != testWhsec || got.MonitoringPassword != "p" ||
		!got.MonitoringReadOnly || got.HTTPAddr != ":0" || got.SDKAppID != devSDKAppID {
		t.Errorf("dev config = %+v", got)
	}
	want := devSecrets{APIKey: "$API_KEY", EventsSecret: "$EVENTS_SECRET", MonitoringPassword: "$MONITORING_PASSWORD"}
	if diff := cmp.Diff(want, shown); diff != "" {
		t.Errorf("shown (-want +got):\n%s", diff)
	}
}
