package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/tasks"
)

// The end-to-end test's Chat app. The secrets are the test's own.
const (
	e2eSDKAppID = "1400000042"
	e2eSecret   = "e2e-secret-key"
	e2eToken    = "e2e-callback-token"
	e2eAPIKey   = "e2e-api-key"
)

// TestEndToEnd runs the real binary as it is deployed: a redis-server, the
// emulator, serve and two work processes. A message sent through the
// emulator (by `chatsync send`) fires AfterSendMsg at serve and bob's
// unread snapshot appears. A signed conversation.read event (posted by
// `chatsync event`) makes a worker call admin_set_msg_read at the emulator,
// made slow by a latency fault; both workers get SIGTERM while that call is
// in flight, finish it and exit with status 0. The AfterMsgReport callback
// it causes leaves a task in Redis that a third worker, started later,
// runs: bob's count drops to 0. SIGTERM then stops every process with
// status 0, and no process logged a secret.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	redisURL := startRedis(t)
	common := map[string]string{"REDIS_URL": redisURL, "CHAT_SDKAPPID": e2eSDKAppID, "LOG_LEVEL": "debug"}

	serve := startProc(t, "serve", with(common,
		"HTTP_ADDR", "127.0.0.1:0",
		"ADMIN_ADDR", "127.0.0.1:0",
		"CHAT_CALLBACK_TOKEN", e2eToken,
		"EVENTS_SECRET", testWhsec,
		"API_KEY", e2eAPIKey,
	), "serve")
	serveURL := serve.url("serving", "addr")

	emu := startProc(t, "emulator", map[string]string{
		"EMULATOR_ADDR":         "127.0.0.1:0",
		"CHAT_SDKAPPID":         e2eSDKAppID,
		"CHAT_SECRET_KEY":       e2eSecret,
		"CHAT_CALLBACK_TOKEN":   e2eToken,
		"EMULATOR_CALLBACK_URL": serveURL + "/callback",
		"EMULATOR_ACCOUNTS":     "alice,bob",
	}, "emulator")
	emuURL := emu.url("chat emulator listening", "addr")

	startWorker := func(name string) (*proc, string) {
		w := startProc(t, name, with(common,
			"CHAT_SECRET_KEY", e2eSecret,
			"CHAT_BASE_URL", emuURL,
			"ADMIN_ADDR", "127.0.0.1:0",
			"UNREAD_DEBOUNCE", "50ms",
		), "work")
		return w, w.url("working", "admin_addr")
	}
	w1, w1URL := startWorker("work-1")
	w2, w2URL := startWorker("work-2")
	for _, u := range []string{serveURL, w1URL, w2URL} {
		waitReady(t, u)
	}

	// alice writes to bob through Chat's REST API.
	send := startProc(t, "send", map[string]string{"CHAT_SDKAPPID": e2eSDKAppID, "CHAT_SECRET_KEY": e2eSecret,
		"CHAT_BASE_URL": emuURL}, "send", "-from", "alice", "-to", "bob", "-text", "hello bob")
	if out := send.wait(); !strings.HasPrefix(out, "sent MsgKey ") {
		t.Fatalf("chatsync send: %q", out)
	}
	waitUnread(t, serveURL, "bob", 1)

	// Chat becomes slow to mark conversations read.
	put(t, emuURL+"/emulator/faults/openim/admin_set_msg_read", `{"Latency":"1s"}`)

	// bob reads the conversation: the app posts a signed event.
	event := startProc(t, "event", map[string]string{"EVENTS_SECRET": testWhsec},
		"event", "conversation.read", "-url", serveURL+"/v1/events", "-account", "bob", "-peer", "alice")
	if out := event.wait(); !strings.HasPrefix(out, "202 ") {
		t.Fatalf("chatsync event: %q", out)
	}
	rc, err := parseRedisURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(rc.connOpt())
	defer inspector.Close()
	poll(t, 10*time.Second, "a worker runs the set-read task", func() (bool, error) {
		info, err := inspector.GetQueueInfo(tasks.QueueRead)
		return err == nil && info.Active == 1, retryable(err)
	})

	// Both workers get SIGTERM while the call is in flight: the task
	// finishes, and they exit 0.
	for _, w := range []*proc{w1, w2} {
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	w1.stop(30 * time.Second)
	w2.stop(30 * time.Second)
	var calls []emulator.Request
	if err := getJSON(emuURL+"/emulator/requests?api=openim/admin_set_msg_read", &calls); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0].ErrorCode != 0 || calls[0].HTTPStatus != 200 ||
		!strings.Contains(string(calls[0].Body), `"Report_Account":"bob"`) {
		t.Fatalf("admin_set_msg_read calls: %+v, want one, successful, for bob", calls)
	}
	info, err := inspector.GetQueueInfo(tasks.QueueRead)
	if err != nil || info.Active != 0 || info.Completed != 1 {
		t.Errorf("chat_read queue after the workers stopped: %+v, %v; want the task completed", info, err)
	}

	// A new worker picks up what the callback caused meanwhile.
	w3, w3URL := startWorker("work-3")
	waitUnread(t, serveURL, "bob", 0)
	var emuUnread struct{ Total int }
	if err := getJSON(emuURL+"/emulator/unread?user=bob", &emuUnread); err != nil || emuUnread.Total != 0 {
		t.Errorf("emulator's unread for bob: %+v, %v", emuUnread, err)
	}
	if n := scrape(t, w3URL+"/metrics", `chatsync_task_outcomes_total{outcome="ok",type="`+tasks.TypeUnread+`"}`); n < 1 {
		t.Errorf("work-3 ran %d unread tasks, want at least 1", n)
	}

	serve.stop(10 * time.Second)
	w3.stop(30 * time.Second)
	emu.stop(10 * time.Second)
	for _, p := range []*proc{serve, emu, w1, w2, w3, send, event} {
		out := p.stderr.String()
		if strings.Contains(out, e2eSecret) || strings.Contains(out, e2eToken) || strings.Contains(out, "usersig=") ||
			strings.Contains(out, testWhsec[len("whsec_"):]) || strings.Contains(out, "hello bob") {
			t.Errorf("%s logged a secret or a message body", p.name)
		}
	}
}

// waitReady waits until base/readyz answers 200 {"status":"ready"}.
func waitReady(t *testing.T, base string) {
	t.Helper()
	poll(t, 10*time.Second, base+"/readyz answers 200", func() (bool, error) {
		var v map[string]string
		err := getJSON(base+"/readyz", &v)
		return err == nil && v["status"] == "ready", retryable(err)
	})
}

// put PUTs a JSON body and expects 204.
func put(t *testing.T, url, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s: %d", url, resp.StatusCode)
	}
}

// waitUnread waits until serve's unread API reports total for account.
func waitUnread(t *testing.T, serveURL, account string, total int) {
	t.Helper()
	poll(t, 15*time.Second, fmt.Sprintf("%s's unread total is %d", account, total), func() (bool, error) {
		var s tasks.Snapshot
		err := getJSON(serveURL+"/v1/users/"+account+"/unread", &s, "Authorization", "Bearer "+e2eAPIKey)
		return err == nil && s.TotalKnown && s.Total == total, retryable(err)
	})
}

// retryable marks any error as one poll keeps trying after: the process
// under test may not be there yet.
func retryable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", errRetry, err)
}

// scrape returns the value of one sample on a /metrics page, 0 if absent.
func scrape(t *testing.T, url, sample string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(out)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	return int(v)
}
