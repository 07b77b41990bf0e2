package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// Config configures a Harness. Binary is required; zero values of the
// rest mean the defaults.
type Config struct {
	// Binary is the chatsync binary (see Build).
	Binary string
	// Workers is the number of `chatsync work` processes (default 2;
	// negative: none, so that what serve enqueues stays in Redis).
	Workers int
	// Concurrency is WORKER_CONCURRENCY (default 8).
	Concurrency int
	// MaxRetry is TASK_MAX_RETRY; 0 leaves chatsync's default.
	MaxRetry int
	// RateLimit is CHAT_RATE_LIMIT, chatsync's own limit (default 200).
	RateLimit int
	// EmulatorRateLimit is the emulator's per-API limit (default 200,
	// Chat's; negative: unlimited).
	EmulatorRateLimit int
	// AutoRead is AUTO_READ_ACCOUNTS.
	AutoRead []string
	// Accounts are imported into the emulator at start.
	Accounts []string
	// Env adds or overrides variables of serve and work.
	Env map[string]string
	// EmulatorCallbacks makes the emulator send its callbacks to serve, as
	// Chat would.
	EmulatorCallbacks bool
	// Sentinel runs Redis as a Sentinel deployment (see Sentinels) and
	// gives serve and work its redis-sentinel:// URL.
	Sentinel bool
	// Replicas is the number of replicas with Sentinel (default 1).
	Replicas int
}

// Harness is one chatsync deployment for a test: a redis-server, the Chat
// emulator (in this process, over HTTP on loopback, keeping every request
// for the Ledger), one `chatsync serve` and Config.Workers `chatsync work`
// processes. Every log goes to a file under Dir; when the test ends the
// processes are stopped with SIGTERM (a non-zero exit fails the test) and
// every log is scanned for secrets (a finding fails the test).
type Harness struct {
	Dir     string
	Secrets Secrets
	Scanner *Scanner
	// Redis is the Redis, or with Config.Sentinel the first primary.
	Redis *Redis
	// HA is the Sentinel deployment, with Config.Sentinel.
	HA       *Sentinels
	Emulator *emulator.Emulator
	// EmulatorURL is the emulator's base URL (CHAT_BASE_URL).
	EmulatorURL string
	Serve       *Process
	// ServeURL is serve's public base URL (HTTP_ADDR).
	ServeURL string
	// AdminURL is serve's admin base URL (ADMIN_ADDR): /metrics, health
	// and /monitoring/.
	AdminURL string
	Workers  []*Process
	// WorkerURLs are the workers' metrics and health base URLs.
	WorkerURLs []string
	Sender     *Sender
	// Chat calls the emulator as the admin, for setting up messages.
	Chat      *chatapi.Client
	Inspector *asynq.Inspector

	tb     testing.TB
	cfg    Config
	env    map[string]string
	emuSrv *httptest.Server
	emuLog *os.File
	mu     sync.Mutex
	sent   int // messages sent through Chat, for unique MsgSeqs
	// inflight counts the REST calls the emulator is answering.
	inflight atomic.Int64
}

// New starts a deployment for tb and stops it when tb ends. It fails tb
// when anything does not start.
func New(tb testing.TB, cfg Config) *Harness {
	tb.Helper()
	if cfg.Binary == "" {
		tb.Fatal("reliability.New: Config.Binary is required")
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 200
	}
	h := &Harness{Dir: harnessDir(tb), Secrets: NewSecrets(), Scanner: NewScanner(), tb: tb, cfg: cfg}
	h.Secrets.AddTo(h.Scanner)
	tb.Cleanup(h.cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := h.start(ctx); err != nil {
		tb.Fatalf("start deployment: %v", err)
	}
	return h
}

// harnessDir returns where a harness keeps its files: a fresh directory
// under CHATSYNC_RELIABILITY_DIR when set (kept), else a test temp dir.
func harnessDir(tb testing.TB) string {
	root := os.Getenv("CHATSYNC_RELIABILITY_DIR")
	if root == "" {
		return tb.TempDir()
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	if err := os.MkdirAll(root, 0o700); err != nil {
		tb.Fatalf("harness dir: %v", err)
	}
	dir, err := os.MkdirTemp(root, name+"-")
	if err != nil {
		tb.Fatalf("harness dir: %v", err)
	}
	return dir
}

func (h *Harness) start(ctx context.Context) error {
	var err error
	if err = os.MkdirAll(filepath.Join(h.Dir, "redis"), 0o700); err != nil {
		return err
	}
	if err := h.startRedis(ctx); err != nil {
		return err
	}
	if err := h.startEmulator(); err != nil {
		return err
	}
	servePort, err := FreePort()
	if err != nil {
		return err
	}
	adminPort, err := FreePort()
	if err != nil {
		return err
	}
	h.ServeURL = "http://127.0.0.1:" + strconv.Itoa(servePort)
	h.AdminURL = "http://127.0.0.1:" + strconv.Itoa(adminPort)
	h.env = h.baseEnv(servePort)
	h.Serve = NewProcess("serve", filepath.Join(h.Dir, "serve.log"), h.cfg.Binary, []string{"serve"},
		envList(h.env, map[string]string{"ADMIN_ADDR": "127.0.0.1:" + strconv.Itoa(adminPort)}))
	if err := h.startAndWait(ctx, h.Serve, h.ServeURL); err != nil {
		return err
	}
	for i := 0; i < h.cfg.Workers; i++ {
		if err := h.addWorker(ctx); err != nil {
			return err
		}
	}
	if h.Sender, err = NewSender(h.ServeURL, h.Secrets, h.Scanner); err != nil {
		return err
	}
	if h.cfg.EmulatorCallbacks {
		h.Emulator.SetCallbackURL(h.ServeURL + "/callback")
	}
	return nil
}

// startRedis starts one redis-server, or with Config.Sentinel a Sentinel
// deployment, and the inspector.
func (h *Harness) startRedis(ctx context.Context) error {
	var err error
	if h.cfg.Sentinel {
		h.HA, err = sentinelDeployment(ctx, h.Dir, h.Secrets.RedisPassword, max(h.cfg.Replicas, 1))
		if len(h.HA.Nodes) > 0 {
			h.Redis = h.HA.Nodes[0]
		}
		h.Scanner.AddLiteral("the Redis ACL user's password", h.HA.ACLPassword)
		if len(h.HA.Sentinels) > 0 {
			h.Scanner.AddLiteral("the sentinels' password", h.HA.Sentinels[0].Password)
		}
		if err != nil {
			return err
		}
		h.Inspector = asynq.NewInspector(h.HA.ConnOpt())
		return nil
	}
	h.Redis, err = NewRedis(filepath.Join(h.Dir, "redis"), filepath.Join(h.Dir, "redis.log"), h.Secrets.RedisPassword)
	if err != nil {
		return err
	}
	if err := h.Redis.Start(ctx); err != nil {
		return err
	}
	h.Inspector = asynq.NewInspector(h.Redis.ConnOpt())
	return nil
}

// startEmulator runs the emulator on loopback. Its handler is wrapped to
// record every UserSig presented, for the log scan.
func (h *Harness) startEmulator() error {
	f, err := os.OpenFile(filepath.Join(h.Dir, "emulator.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h.emuLog = f
	em, err := emulator.New(emulator.Config{
		SDKAppID:      h.Secrets.SDKAppID,
		SecretKey:     h.Secrets.SecretKey,
		RateLimit:     h.cfg.EmulatorRateLimit,
		CallbackToken: h.Secrets.CallbackToken,
		KeepRequests:  1 << 20,
		Logger:        slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		return err
	}
	h.Emulator = em
	em.ImportAccounts(h.cfg.Accounts...)
	var seen sync.Map
	handler := em.Handler()
	h.emuSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sig := r.URL.Query().Get("usersig"); sig != "" {
			if _, dup := seen.LoadOrStore(sig, true); !dup {
				h.Scanner.AddLiteral("a UserSig the emulator saw", sig)
			}
		}
		h.inflight.Add(1)
		defer h.inflight.Add(-1)
		handler.ServeHTTP(w, r)
	}))
	h.EmulatorURL = h.emuSrv.URL
	h.Chat, err = chatapi.New(chatapi.Config{
		SDKAppID: h.Secrets.SDKAppID, SecretKey: h.Secrets.SecretKey, Admin: emulator.DefaultAdmin, BaseURL: h.EmulatorURL,
	})
	return err
}

// baseEnv is the environment serve and work share, as an operator would
// write it.
func (h *Harness) baseEnv(servePort int) map[string]string {
	env := map[string]string{
		"REDIS_URL":           h.redisURL(),
		"HTTP_ADDR":           "127.0.0.1:" + strconv.Itoa(servePort),
		"CHAT_SDKAPPID":       strconv.FormatUint(h.Secrets.SDKAppID, 10),
		"CHAT_SECRET_KEY":     h.Secrets.SecretKey,
		"CHAT_ADMIN":          emulator.DefaultAdmin,
		"CHAT_BASE_URL":       h.EmulatorURL,
		"CHAT_CALLBACK_TOKEN": h.Secrets.CallbackToken,
		"EVENTS_SECRET":       h.Secrets.EventsSecret,
		"API_KEY":             h.Secrets.APIKey,
		"MONITORING_USER":     h.Secrets.MonitoringUser,
		"MONITORING_PASSWORD": h.Secrets.MonitoringPassword,
		"AUTO_READ_ACCOUNTS":  strings.Join(h.cfg.AutoRead, ","),
		"CHAT_RATE_LIMIT":     strconv.Itoa(h.cfg.RateLimit),
		"WORKER_CONCURRENCY":  strconv.Itoa(h.cfg.Concurrency),
		"UNREAD_DEBOUNCE":     "100ms",
		"SHUTDOWN_TIMEOUT":    "5s",
		"LOG_LEVEL":           "debug",
		"LOG_FORMAT":          "json",
	}
	if h.cfg.MaxRetry != 0 {
		env["TASK_MAX_RETRY"] = strconv.Itoa(h.cfg.MaxRetry)
	}
	for k, v := range h.cfg.Env {
		env[k] = v
	}
	return env
}

// redisURL is REDIS_URL: the Redis's, or the Sentinel deployment's.
func (h *Harness) redisURL() string {
	if h.HA != nil {
		return h.HA.URL()
	}
	return h.Redis.URL()
}

// envList returns env with extra on top as KEY=value entries.
func envList(env, extra map[string]string) []string {
	out := make([]string, 0, len(env)+len(extra))
	for k, v := range env {
		if _, over := extra[k]; !over {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range extra {
		out = append(out, k+"="+v)
	}
	return out
}

// addWorker starts one more `chatsync work` with its own admin port.
func (h *Harness) addWorker(ctx context.Context) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	n := len(h.Workers)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	w := NewProcess("work"+strconv.Itoa(n), filepath.Join(h.Dir, fmt.Sprintf("work%d.log", n)), h.cfg.Binary,
		[]string{"work"}, envList(h.env, map[string]string{"ADMIN_ADDR": addr}))
	h.Workers = append(h.Workers, w)
	h.WorkerURLs = append(h.WorkerURLs, "http://"+addr)
	return h.startAndWait(ctx, w, "http://"+addr)
}

// startAndWait starts p and waits until base/readyz answers 200.
func (h *Harness) startAndWait(ctx context.Context, p *Process, base string) error {
	if err := p.Start(); err != nil {
		return err
	}
	return WaitReady(ctx, p, base)
}

// WaitReady waits up to 30 s until base/readyz answers 200, failing early
// when p exits.
func WaitReady(ctx context.Context, p *Process, base string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	err := Poll(ctx, 30*time.Second, 25*time.Millisecond, func() (bool, error) {
		if !p.Running() {
			return false, fmt.Errorf("%s exited: %v", p.Name(), p.ExitErr())
		}
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("readyz: %s", resp.Status)
	})
	if err != nil {
		return fmt.Errorf("%s not ready: %w", p.Name(), err)
	}
	return nil
}

// RestartWorker starts worker i again (after Kill or Stop) and waits until
// it is ready.
func (h *Harness) RestartWorker(ctx context.Context, i int) error {
	return h.startAndWait(ctx, h.Workers[i], h.WorkerURLs[i])
}

// RestartServe starts serve again and waits until it is ready.
func (h *Harness) RestartServe(ctx context.Context) error {
	h.Sender.CloseIdle()
	return h.startAndWait(ctx, h.Serve, h.ServeURL)
}

// cleanup stops everything and scans the logs.
func (h *Harness) cleanup() {
	var errs []error
	for _, p := range append(h.Workers, h.Serve) {
		if p != nil {
			errs = append(errs, p.Stop(15*time.Second))
		}
	}
	if h.emuSrv != nil {
		h.emuSrv.Close()
	}
	if h.Emulator != nil {
		h.Emulator.Close()
	}
	if h.Inspector != nil {
		h.Inspector.Close()
	}
	switch {
	case h.HA != nil:
		errs = append(errs, h.HA.stop(15*time.Second))
	case h.Redis != nil:
		errs = append(errs, h.Redis.Stop(15*time.Second))
	}
	if h.emuLog != nil {
		h.emuLog.Close()
	}
	if err := errors.Join(errs...); err != nil {
		h.tb.Errorf("shutdown: %v", err)
	}
	findings := h.ScanLogs()
	if h.tb.Failed() && len(findings) == 0 {
		h.logTails()
	}
}

// ScanLogs scans every log of the deployment, reports each finding as a
// test error and returns them.
func (h *Harness) ScanLogs() []Finding {
	findings, files, err := h.Scanner.ScanFiles(filepath.Join(h.Dir, "*.log"))
	if err != nil {
		h.tb.Errorf("log scan: %v", err)
	}
	for i, f := range findings {
		if i == 20 {
			h.tb.Errorf("log scan: %d more findings", len(findings)-i)
			break
		}
		h.tb.Errorf("log scan: %s", f)
	}
	h.tb.Logf("log scan: %d files, %d findings, %d signatures looked for", files, len(findings), h.Scanner.Tokens())
	return findings
}

// logTails logs the end of every chatsync log, to explain a failure. It
// runs only when the log scan found no secret in them.
func (h *Harness) logTails() {
	for _, p := range append([]*Process{h.Serve}, h.Workers...) {
		if p != nil {
			h.tb.Logf("last lines of %s:\n%s", p.Name(), p.LogTail(15))
		}
	}
}

// InFlight returns the number of REST calls the emulator is answering
// right now (with a Latency fault set, the calls a worker is waiting on).
func (h *Harness) InFlight() int64 { return h.inflight.Load() }
