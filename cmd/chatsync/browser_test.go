package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"

	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

// The monitoring UI's credentials in the browser test, typed in when the
// browser is asked.
const browserUser, browserPassword = "ops", "browser-test-password"

// TestMonitoringBrowser drives the asynqmon UI in a real Chromium against
// real serve and work processes on a real Redis, with chatsync's tasks in
// every state made by the real flow: retry (the sink answered 503 with
// Retry-After: 300), archived (Chat answered ErrorCode 90001), active (a
// Chat call the emulator holds) and pending (behind it; work has one
// slot). work is then frozen (SIGSTOP) so that the states hold still while
// the browser looks. In the browser, answering the basic-auth challenges:
//   - the dashboard lists the chatsync queues with the sizes Redis has;
//   - the archived task, opened from the queue's archived list, shows
//     Chat's ErrorCode and text;
//   - on the read-only UI, the UI's own Delete and Run buttons (shown by
//     telling the page it is writable) get 405 and Redis is unchanged;
//   - on a writable UI, a form on a page of another site that posts to
//     pause a queue changes nothing, while the UI's own request would.
//
// A screenshot of the dashboard is kept (its path is logged) if the test
// fails.
func TestMonitoringBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireTool(t, "chromium")
	started := time.Now()
	redisURL := startRedis(t)
	common := map[string]string{"REDIS_URL": redisURL, "CHAT_SDKAPPID": e2eSDKAppID, "LOG_LEVEL": "debug",
		"MONITORING_USER": browserUser, "MONITORING_PASSWORD": browserPassword}

	serve := startProc(t, "serve", with(common, "HTTP_ADDR", "127.0.0.1:0", "ADMIN_ADDR", "127.0.0.1:0",
		"CHAT_CALLBACK_TOKEN", e2eToken, "EVENTS_SECRET", testWhsec), "serve")
	writable := startProc(t, "serve-writable", with(common, "HTTP_ADDR", "127.0.0.1:0", "ADMIN_ADDR", "127.0.0.1:0",
		"CHAT_CALLBACK_INSECURE", "true", "MONITORING_READONLY", "false"), "serve")
	serveURL, adminURL := serve.url("serving", "addr"), serve.url("serving", "admin_addr")
	writableURL := writable.url("serving", "admin_addr")
	emu := startProc(t, "emulator", map[string]string{"EMULATOR_ADDR": "127.0.0.1:0", "CHAT_SDKAPPID": e2eSDKAppID,
		"CHAT_SECRET_KEY": e2eSecret, "CHAT_CALLBACK_TOKEN": e2eToken, "EMULATOR_CALLBACK_URL": serveURL + "/callback",
		"EMULATOR_ACCOUNTS": "alice,bob,carol"}, "emulator")
	emuURL := emu.url("chat emulator listening", "addr")
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "300")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(sink.Close)
	work := startProc(t, "work", with(common, "CHAT_SECRET_KEY", e2eSecret, "CHAT_BASE_URL", emuURL,
		"ADMIN_ADDR", "127.0.0.1:0", "WORKER_CONCURRENCY", "1", "UNREAD_DEBOUNCE", "50ms", "SHUTDOWN_TIMEOUT", "1s",
		"SINK_URL", sink.URL+"/hook", "SINK_SECRET", testWhsec, "SINK_ALLOW_HTTP", "true"), "work")
	for _, u := range []string{serveURL, writable.url("serving", "addr"), work.url("working", "admin_addr")} {
		waitReady(t, u)
	}
	work.waitLog("SINK_URL is plain http (SINK_ALLOW_HTTP=true): signed events and unread counts travel in the clear")

	rc, err := parseRedisURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(rc.connOpt())
	defer insp.Close()
	waitQueue := func(queue, what string, cond func(*asynq.QueueInfo) bool) {
		t.Helper()
		poll(t, 15*time.Second, queue+" has "+what, func() (bool, error) {
			info, err := insp.GetQueueInfo(queue)
			return err == nil && cond(info), retryable(err)
		})
	}

	// retry: bob's new unread count goes to the sink, which says come back in 5 minutes.
	send := startProc(t, "send", map[string]string{"CHAT_SDKAPPID": e2eSDKAppID, "CHAT_SECRET_KEY": e2eSecret,
		"CHAT_BASE_URL": emuURL}, "send", "-from", "alice", "-to", "bob", "-text", "hello bob")
	send.wait()
	waitQueue(tasks.QueueSink, "a task to retry", func(q *asynq.QueueInfo) bool { return q.Retry == 1 })
	// archived: Chat refuses to mark bob's conversation read with a permanent code.
	put(t, emuURL+"/emulator/faults/openim/admin_set_msg_read", `{"Codes":[90001],"Count":1}`)
	sendEvent(t, serveURL, "evt_archived", webhook.Event{Type: webhook.EventConversationRead, Account: "bob", Peer: "alice"})
	waitQueue(tasks.QueueRead, "an archived task", func(q *asynq.QueueInfo) bool { return q.Archived == 1 })
	// active: Chat holds carol's unread call; then work is frozen with it in flight.
	put(t, emuURL+"/emulator/faults/openim/get_c2c_unread_msg_num", `{"Latency":"30s"}`)
	sendEvent(t, serveURL, "evt_active", webhook.Event{Type: webhook.EventUnreadRefresh, Account: "carol"})
	waitQueue(tasks.QueueUnread, "an active task", func(q *asynq.QueueInfo) bool { return q.Active == 1 })
	if err := work.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() {
		work.cmd.Process.Signal(syscall.SIGCONT)
		work.stop(30 * time.Second)
	}()
	// pending: nobody takes it now.
	sendEvent(t, serveURL, "evt_pending", webhook.Event{Type: webhook.EventConversationRead, Account: "carol", Peer: "alice"})
	waitQueue(tasks.QueueRead, "a pending task", func(q *asynq.QueueInfo) bool { return q.Pending == 1 })

	archived, err := insp.ListArchivedTasks(tasks.QueueRead)
	if err != nil || len(archived) != 1 || !strings.Contains(archived[0].LastErr, "90001") {
		t.Fatalf("archived tasks of %s: %+v, %v; want one with ErrorCode 90001", tasks.QueueRead, archived, err)
	}
	task := archived[0]
	sizes := map[string]int{}
	for _, q := range []string{tasks.QueueRead, tasks.QueueUnread, tasks.QueueSink} {
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		sizes[q] = info.Size
	}

	ctx := newBrowser(t, chromium)
	logins := answerBasicAuth(t, ctx, browserUser, browserPassword)

	// The dashboard: chatsync's queues with the sizes Redis has.
	shot := screenshotDir(t)
	got := dashboardSizes(t, ctx, adminURL+"/monitoring/", sizes)
	if n := logins.Load(); n == 0 {
		t.Error("the browser was never asked to log in")
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(shot, "dashboard.png"), png, 0o644)
	}
	if !maps.Equal(got, sizes) {
		t.Errorf("queue sizes in the UI %v, in Redis %v", got, sizes)
	}

	// The archived task, opened from the queue's archived list: Chat's
	// ErrorCode and text.
	if err := chromedp.Do(ctx, chromedp.Navigate(adminURL+"/monitoring/queues/"+tasks.QueueRead+"?status=archived")); err != nil {
		t.Fatal(err)
	}
	evalUntil(t, ctx, "the archived list shows the task and it opens",
		`(() => { const r = [...document.querySelectorAll("tbody tr")].find(r => r.innerText.includes("chat:set_read"));
			if (!r) return false; r.click(); return true; })()`)
	text := pageText(t, ctx, task.ID, "90001")
	if !strings.Contains(text, task.LastErr) {
		t.Errorf("the task page does not show the error %q:\n%s", task.LastErr, text)
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(shot, "archived-task.png"), png, 0o644)
	}

	// Read-only: the UI's own Delete and Run actions fail and Redis keeps
	// the task. The UI hides them when read-only, so the page is told it
	// is writable (the server is not) and its requests are recorded.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: uiWritableAndRecorded})
		return err
	}), chromedp.Navigate(adminURL+"/monitoring/queues/"+tasks.QueueRead+"?status=archived")); err != nil {
		t.Fatal(err)
	}
	for i, action := range []string{"DELETE", "POST"} { // the row's Delete, then Run button
		evalUntil(t, ctx, "the row's "+action+" button is clicked", fmt.Sprintf(`(() => {
			const r = [...document.querySelectorAll("tbody tr")].find(r => r.innerText.includes("chat:set_read"));
			if (!r) return false;
			const cell = r.cells[r.cells.length - 1], buttons = cell.querySelectorAll("button");
			if (buttons.length < 2) { if (buttons[0]) buttons[0].click(); return false; } // show the actions
			buttons[%d].click(); return true; })()`, i))
		poll(t, 15*time.Second, "the UI's "+action+" request is answered", func() (bool, error) {
			reqs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.chatsyncRequests`))
			if err != nil {
				return false, retryable(err)
			}
			for _, r := range reqs {
				if strings.HasPrefix(r, action+" ") && strings.Contains(r, "/archived_tasks/"+task.ID) {
					if !strings.HasSuffix(r, " 405") {
						return false, fmt.Errorf("the read-only UI's request %s, want 405", r)
					}
					return true, nil
				}
			}
			return false, fmt.Errorf("%w: requests so far %v", errRetry, reqs)
		})
	}
	if info, err := insp.GetTaskInfo(tasks.QueueRead, task.ID); err != nil || info.State != asynq.TaskStateArchived {
		t.Errorf("after the read-only UI's delete and run, the task is %+v, %v; want it archived", info, err)
	}

	// Writable UI: a form on another site's page posts to pause a queue.
	pause := writableURL + "/monitoring/api/queues/" + tasks.QueueRead + ":pause"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<html><body><form id="f" method="POST" enctype="text/plain" action="%s"></form>`+
			`<script>document.getElementById("f").submit()</script></body></html>`, pause)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site than 127.0.0.1
	if err := chromedp.Do(ctx, chromedp.Navigate(evilURL)); err != nil {
		t.Fatalf("the other site's page: %v", err)
	}
	// Wait until the form's answer has loaded (403 here) or the queue is
	// paused (a 204 leaves the page where it was).
	poll(t, 10*time.Second, "the other site's form is submitted", func() (bool, error) {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		info, ierr := insp.GetQueueInfo(tasks.QueueRead)
		return (err == nil && strings.HasPrefix(loc, writableURL)) || (ierr == nil && info.Paused), nil
	})
	if info, err := insp.GetQueueInfo(tasks.QueueRead); err != nil || info.Paused {
		t.Errorf("after a cross-site form POST the queue is %+v, %v; want it not paused", info, err)
	}
	// The same request from the UI's own page would pause it.
	status, err := runOnPage(ctx, writableURL+"/monitoring/",
		fmt.Sprintf(`fetch(%q, {method: "POST"}).then(r => r.status)`, pause))
	if err != nil || status != http.StatusNoContent {
		t.Errorf("the writable UI's own pause: %d, %v; want 204", status, err)
	}
	if info, err := insp.GetQueueInfo(tasks.QueueRead); err != nil || !info.Paused {
		t.Errorf("after the UI's own pause the queue is %+v, %v; want it paused", info, err)
	}
	t.Logf("browser test took %v", time.Since(started).Round(100*time.Millisecond))
}

// newBrowser starts a headless Chromium as this machine needs it (root, no
// sandbox, no network beyond loopback, a fresh profile) and returns its
// context, which the test's end closes.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// answerBasicAuth makes the browser answer every basic-auth challenge with
// user and password, as a person at the login dialog would (and as a
// browser that remembers them does). It returns the count of challenges
// answered.
func answerBasicAuth(t *testing.T, ctx context.Context, user, password string) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	call := func(f func(ctx context.Context, tg *chromedp.Target) error) { _ = chromedp.Do(ctx, chromedp.Func(f)) }
	paused, challenges := chromedp.Events(ctx, fetch.RequestPaused), chromedp.Events(ctx, fetch.AuthRequired)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			call(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				return err
			})
		}
	}()
	go func() {
		for ev, err := range challenges {
			if err != nil {
				return
			}
			n.Add(1)
			call(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{
						Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: password}})
				return err
			})
		}
	}()
	handle := true
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle})
		return err
	})); err != nil {
		t.Fatalf("answer basic auth: %v", err)
	}
	return &n
}

// screenshotDir returns a directory for screenshots that is removed when
// the test passes and kept, with its path logged, when it fails.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chatsync-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshots kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// dashboardSizes opens the dashboard and reads the Size column of each
// queue in want, waiting until the table shows them all.
func dashboardSizes(t *testing.T, ctx context.Context, url string, want map[string]int) map[string]int {
	t.Helper()
	const rows = `(() => {
		const head = Array.from(document.querySelectorAll("thead th")).map(c => c.innerText.trim());
		const col = head.indexOf("Size");
		if (col < 0) return null;
		const out = {};
		for (const r of document.querySelectorAll("tbody tr")) {
			const cells = Array.from(r.cells).map(c => c.innerText.trim());
			if (cells.length > col) out[cells[0]] = cells[col];
		}
		return out;
	})()`
	var got map[string]string
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var err error
		got, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]string](rows))
		complete := err == nil
		for q := range want {
			if _, ok := got[q]; !ok {
				complete = false
			}
		}
		if complete {
			break
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("the dashboard does not list the queues %v (last: %v, %v):\n%s", want, got, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sizes := map[string]int{}
	for q := range want {
		n, err := strconv.Atoi(got[q])
		if err != nil {
			t.Errorf("queue %s: size %q is not a number", q, got[q])
		}
		sizes[q] = n
	}
	return sizes
}

// pageText returns the page's text once it contains every one of wants.
func pageText(t *testing.T, ctx context.Context, wants ...string) string {
	t.Helper()
	var text string
	poll(t, 15*time.Second, "the page shows "+strings.Join(wants, ", "), func() (bool, error) {
		var err error
		text, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			return false, retryable(err)
		}
		for _, w := range wants {
			if !strings.Contains(text, w) {
				return false, fmt.Errorf("%w: page text:\n%s", errRetry, text)
			}
		}
		return true, nil
	})
	return text
}

// uiWritableAndRecorded, run before a page's own scripts, makes asynqmon
// show its actions whatever the server says (window.READ_ONLY stays
// false) and records every XHR as "METHOD URL STATUS" in
// window.chatsyncRequests.
const uiWritableAndRecorded = `
Object.defineProperty(window, "READ_ONLY", {get: () => false, set: () => {}});
window.chatsyncRequests = [];
const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.open = function (method, url) { this.chatsyncRequest = method + " " + url; return open.apply(this, arguments); };
XMLHttpRequest.prototype.send = function () {
	this.addEventListener("loadend", () => window.chatsyncRequests.push(this.chatsyncRequest + " " + this.status));
	return send.apply(this, arguments);
};`

// evalUntil evaluates script on the page until it returns true.
func evalUntil(t *testing.T, ctx context.Context, what, script string) {
	t.Helper()
	poll(t, 15*time.Second, what, func() (bool, error) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](script))
		return err == nil && ok, retryable(err)
	})
}

// runOnPage opens url and evaluates script there, awaiting its promise.
func runOnPage(ctx context.Context, url, script string) (int, error) {
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return 0, err
	}
	return chromedp.Run(ctx, chromedp.Evaluate[int](script, chromedp.EvalAwaitPromise))
}

// sendEvent posts one signed app event to serve, as `chatsync event` does,
// and expects 202.
func sendEvent(t *testing.T, serveURL, id string, ev webhook.Event) {
	t.Helper()
	status, body, err := postEvent(context.Background(), serveURL+"/v1/events", testWhsec, id, ev)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("POST /v1/events %+v: %d %s %v", ev, status, body, err)
	}
}
