package tasks

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/internal/redistest"
)

// redisDB is this package's test database.
const redisDB = 2

const (
	testAppID  = 1400000000
	testSecret = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
)

// env is a test's world: a flushed Redis database, the Chat emulator over
// HTTP, and asynq's client and inspector on that database.
type env struct {
	rdb    *redis.Client
	conn   asynq.RedisClientOpt
	client *asynq.Client
	insp   *asynq.Inspector
	emu    *emulator.Emulator
	emuURL string
}

// setup returns a fresh env. ecfg's SDKAppID and SecretKey are filled in.
func setup(tb testing.TB, ecfg emulator.Config) *env {
	tb.Helper()
	opt := redistest.Options(tb, redisDB)
	e := &env{
		rdb:  redis.NewClient(opt),
		conn: asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: redisDB},
	}
	tb.Cleanup(func() { e.rdb.Close() })
	e.client = asynq.NewClient(e.conn)
	tb.Cleanup(func() { e.client.Close() })
	e.insp = asynq.NewInspector(e.conn)
	tb.Cleanup(func() { e.insp.Close() })

	ecfg.SDKAppID, ecfg.SecretKey = testAppID, testSecret
	emu, err := emulator.New(ecfg)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(emu.Handler())
	tb.Cleanup(srv.Close)
	tb.Cleanup(emu.Close)
	e.emu, e.emuURL = emu, srv.URL
	return e
}

// chat returns a Chat client for the emulator.
func (e *env) chat(tb testing.TB, observe func(chatapi.Call)) *chatapi.Client {
	tb.Helper()
	c, err := chatapi.New(chatapi.Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: emulator.DefaultAdmin,
		BaseURL: e.emuURL, Observe: observe})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// worker returns a Worker on the env with cfg's required fields filled in
// and test-sized retry delays unless cfg sets them.
func (e *env) worker(tb testing.TB, cfg Config) *Worker {
	tb.Helper()
	if cfg.Chat == nil {
		cfg.Chat = e.chat(tb, nil)
	}
	cfg.Redis, cfg.Enqueuer = e.rdb, e.client
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = Backoff{Base: 10 * time.Millisecond, Cap: 100 * time.Millisecond}
	}
	if cfg.ChatRetryAfter == 0 {
		cfg.ChatRetryAfter = 50 * time.Millisecond
	}
	if cfg.ConversationInterval == 0 {
		cfg.ConversationInterval = -1 // tests of call spacing set it
	}
	w, err := NewWorker(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// serve runs w in a real asynq server until the test ends.
func (e *env) serve(tb testing.TB, w *Worker, concurrency int) {
	tb.Helper()
	srv := asynq.NewServer(e.conn, w.ServerConfig(asynq.Config{
		Concurrency:              concurrency,
		DelayedTaskCheckInterval: 20 * time.Millisecond,
		TaskCheckInterval:        20 * time.Millisecond,
		ShutdownTimeout:          2 * time.Second,
		LogLevel:                 asynq.ErrorLevel,
	}))
	mux := asynq.NewServeMux()
	w.Register(mux)
	if err := srv.Start(mux); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
}

// enqueue enqueues t or fails the test.
func (e *env) enqueue(tb testing.TB, t *asynq.Task, err error) *asynq.TaskInfo {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	info, err := e.client.Enqueue(t)
	if err != nil {
		tb.Fatal(err)
	}
	return info
}

// finished waits until the task is completed or archived and returns it.
func (e *env) finished(tb testing.TB, queue, id string, timeout time.Duration) *asynq.TaskInfo {
	tb.Helper()
	var info *asynq.TaskInfo
	waitFor(tb, timeout, "task "+id+" to finish", func() bool {
		var err error
		info, err = e.insp.GetTaskInfo(queue, id)
		if err != nil {
			tb.Fatal(err)
		}
		return info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived
	})
	return info
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// calls returns how many calls of api the emulator answered, by ErrorCode
// (HTTP-status failures under -status).
func calls(e *emulator.Emulator, api string) map[int]int64 {
	s := e.Stats().APIs[api]
	out := make(map[int]int64)
	for c, n := range s.ErrorCodes {
		out[c] += n
	}
	for st, n := range s.HTTPStatus {
		out[-st] += n
	}
	return out
}
