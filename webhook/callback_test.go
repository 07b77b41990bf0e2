package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func intp(n int) *int { return &n }

const okReply = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

// TestCallbackSamples posts every sample of testdata/callbacks, signed, and
// checks the tasks it leaves in Redis.
func TestCallbackSamples(t *testing.T) {
	const (
		key     = "48374_2837546_1557481126"
		sendSrc = "callback:C2C.CallbackAfterSendMsg"
	)
	unreadJonh := wantTask(t, tasks.Unread{Account: "Jonh", Peers: []string{"jared"}, Total: intp(7),
		TotalAt: 1557481126000, Source: sendSrc}, cbID(chatapi.CommandAfterSendMsg, "jared", "Jonh", key))
	tests := []struct {
		file     string
		autoRead []string
		want     []queuedTask
	}{
		{file: "C2C.CallbackBeforeSendMsg.json"},
		{file: "C2C.CallbackAfterSendMsg.json", want: []queuedTask{unreadJonh}},
		{file: "C2C.CallbackAfterSendMsg.json", autoRead: []string{"jared"}, want: []queuedTask{unreadJonh}},
		{file: "C2C.CallbackAfterSendMsg.json", autoRead: []string{"bot", "Jonh"}, want: []queuedTask{
			unreadJonh,
			wantTask(t, tasks.SetRead{Account: "Jonh", Peer: "jared", ReadTime: 1557481126, Source: sendSrc}, cbID(chatapi.CommandAfterSendMsg, "jared", "Jonh", key)),
			wantTask(t, tasks.ReadReceipt{Account: "Jonh", Peer: "jared", MsgKeys: []string{key}, Source: sendSrc}, cbID(chatapi.CommandAfterSendMsg, "jared", "Jonh", key)),
		}},
		{file: "C2C.CallbackAfterSendMsg.failed.json", autoRead: []string{"Jonh"}},
		{file: "C2C.CallbackAfterMsgReport.json", want: []queuedTask{
			wantTask(t, tasks.Unread{Account: "jared", Peers: []string{"Jonh"}, Total: intp(7), TotalAt: 1670574414123,
				Source: "callback:C2C.CallbackAfterMsgReport"}, cbID(chatapi.CommandAfterMsgReport, "jared", "Jonh", "1614754606")),
		}},
		{file: "C2C.CallbackAfterMsgReport.intl.json", want: []queuedTask{
			wantTask(t, tasks.Unread{Account: "jared", Peers: []string{"Jonh"}, Total: intp(7), TotalAt: 1614754606000,
				Source: "callback:C2C.CallbackAfterMsgReport"}, cbID(chatapi.CommandAfterMsgReport, "jared", "Jonh", "1614754606")),
		}},
		{file: "C2C.CallbackAfterMsgWithDraw.json", want: []queuedTask{
			wantTask(t, tasks.Unread{Account: "Jonh", Peers: []string{"jared"}, TotalAt: 1670574414123, RefreshTotal: true,
				Source: "callback:C2C.CallbackAfterMsgWithDraw"}, cbID(chatapi.CommandAfterMsgWithDraw, "jared", "Jonh", key)),
		}},
		{file: "C2C.CallbackAfterMsgWithDraw.intl.json", want: []queuedTask{
			wantTask(t, tasks.Unread{Account: "Jonh", Peers: []string{"jared"}, Total: intp(7), TotalAt: testTime * 1000,
				Source: "callback:C2C.CallbackAfterMsgWithDraw"}, cbID(chatapi.CommandAfterMsgWithDraw, "jared", "Jonh", key)),
		}},
		{file: "C2C.CallbackAfterMsgReadReceipt.json"},
		{file: "C2C.CallbackAfterModifyMsg.json"},
		{file: "C2C.CallbackAfterMsgReadAll.json"},
		{file: "C2C.CallbackAfterC2CMsgExtension.json"},
		{file: "State.StateChange.json"},
		{file: "Alert.RequestOverLimit.json"},
	}

	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		name := tt.file
		if tt.autoRead != nil {
			name += "/autoread=" + strings.Join(tt.autoRead, ",")
		}
		t.Run(name, func(t *testing.T) {
			e := setup(t, Config{AutoRead: tt.autoRead})
			body, err := os.ReadFile(filepath.Join("testdata", "callbacks", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			command, _, _ := strings.Cut(tt.file, ".json")
			command = strings.TrimSuffix(strings.TrimSuffix(command, ".intl"), ".failed")
			rec := e.postCallback(signedQuery(command), body)
			if rec.Code != http.StatusOK || rec.Body.String() != okReply {
				t.Fatalf("reply %d %s, want 200 %s", rec.Code, rec.Body, okReply)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			e.checkTasks(t, tt.want...)
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "callbacks", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("sample %s has no test case", f)
		}
	}
}

// TestCallbackRejected covers every way a callback is refused: a FAIL
// reply (ErrorCode 1) with the right status, saying what failed, and
// nothing enqueued.
func TestCallbackRejected(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("testdata", "callbacks", "C2C.CallbackAfterSendMsg.json"))
	if err != nil {
		t.Fatal(err)
	}
	const cmd = "C2C.CallbackAfterSendMsg"
	q := signedQuery
	with := func(k, v string) string {
		qq := q(cmd)
		qq.Set(k, v)
		return qq.Encode()
	}
	without := func(k string) string {
		qq := q(cmd)
		qq.Del(k)
		return qq.Encode()
	}
	replace := func(old, new string) []byte { return bytes.Replace(sample, []byte(old), []byte(new), 1) }
	nested := func(depth int) []byte {
		return []byte(`{"CallbackCommand":"` + cmd + `","x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}")
	}
	tests := []struct {
		name   string
		method string
		query  string
		body   []byte
		status int
		info   string // part of ErrorInfo
	}{
		{name: "forged sign", query: with("Sign", sha256Hex("wrong"+strconv.Itoa(testTime))), status: 401, info: "Sign does not match"},
		{name: "uppercase sign", query: with("Sign", strings.ToUpper(testSign)), status: 401, info: "Sign does not match"},
		{name: "sign missing", query: without("Sign"), status: 401, info: "Sign is missing"},
		{name: "request time missing", query: without("RequestTime"), status: 401, info: "RequestTime is missing"},
		{name: "request time not a number", query: with("RequestTime", "soon"), status: 401, info: "RequestTime is not unix seconds"},
		{name: "sign of another time", query: with("RequestTime", strconv.Itoa(testTime+1)), status: 401, info: "Sign does not match"},
		{name: "stale", query: signedAt(q(cmd), testTime-61).Encode(), status: 401, info: "in the past"},
		{name: "future", query: signedAt(q(cmd), testTime+61).Encode(), status: 401, info: "in the future"},
		{name: "wrong SdkAppid", query: with("SdkAppid", "1400000001"), status: 403, info: "SdkAppid does not match"},
		{name: "SdkAppid missing", query: without("SdkAppid"), status: 400, info: "SdkAppid is missing"},
		{name: "SdkAppid twice", query: q(cmd).Encode() + "&SdkAppid=1400000000", status: 400, info: "SdkAppid is given twice"},
		{name: "command missing", query: without("CallbackCommand"), status: 400, info: "CallbackCommand is missing"},
		{name: "command mismatch", query: with("CallbackCommand", "C2C.CallbackAfterMsgReport"), status: 400, info: "differs from the query"},
		{name: "command mismatch, ignored command", query: with("CallbackCommand", "C2C.CallbackBeforeSendMsg"), status: 400, info: "differs from the query"},
		{name: "malformed JSON", body: sample[:len(sample)-2], status: 400, info: "malformed JSON"},
		{name: "not an object", body: []byte(`[1,2]`), status: 400, info: "malformed JSON"},
		{name: "empty body", body: []byte{}, status: 400, info: "body is empty"},
		{name: "invalid UTF-8", body: replace("jared", "jar\xffd"), status: 400, info: "not valid UTF-8"},
		{name: "nested 33 deep", body: nested(33), status: 400, info: "nested deeper than 32"},
		{name: "nested beyond encoding/json's limit", body: nested(10001), status: 400, info: "nested deeper than 32"},
		{name: "number as string", body: replace(`"MsgTime":1557481126`, `"MsgTime":"1557481126"`), status: 400, info: "malformed JSON"},
		{name: "account too long", body: replace(`"To_Account":"Jonh"`, `"To_Account":"`+strings.Repeat("j", 33)+`"`), status: 400, info: "longer than 32 bytes"},
		{name: "MsgKey missing", body: replace(`"MsgKey":"48374_2837546_1557481126"`, `"MsgKey":""`), status: 400, info: "MsgKey is missing"},
		{name: "To_Account missing", body: replace(`"To_Account":"Jonh",`, ``), status: 400, info: "To_Account is missing"},
		{name: "oversize", body: append(append([]byte{}, sample[:len(sample)-1]...), []byte(`,"pad":"`+strings.Repeat("x", DefaultMaxBody)+`"}`)...), status: 413, info: "larger than 262144 bytes"},
		{name: "GET", method: http.MethodGet, status: 405, info: "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, Config{AutoRead: []string{"Jonh"}})
			if tt.query == "" {
				tt.query = q(cmd).Encode()
			}
			if tt.body == nil {
				tt.body = sample
			}
			if tt.method == "" {
				tt.method = http.MethodPost
			}
			rec := e.serve(httptest.NewRequest(tt.method, "/callback?"+tt.query, bytes.NewReader(tt.body)))
			reply := chatReply(t, rec)
			if rec.Code != tt.status || reply.ActionStatus != "FAIL" || reply.ErrorCode != 1 || !strings.Contains(reply.ErrorInfo, tt.info) {
				t.Errorf("reply %d %+v, want %d FAIL/1 with ErrorInfo containing %q", rec.Code, reply, tt.status, tt.info)
			}
			e.checkTasks(t)
		})
	}
}

// TestCallbackOversizeChunked sends an oversize body without a
// Content-Length: the limit holds while reading.
func TestCallbackOversizeChunked(t *testing.T) {
	e := setup(t, Config{MaxBody: 1 << 10})
	body := `{"CallbackCommand":"C2C.CallbackBeforeSendMsg","x":"` + strings.Repeat("x", 2<<10) + `"}`
	req := httptest.NewRequest(http.MethodPost, "/callback?"+signedQuery("C2C.CallbackBeforeSendMsg").Encode(),
		struct{ *strings.Reader }{strings.NewReader(body)}) // hides the length
	req.ContentLength = -1
	rec := e.serve(req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413; body %s", rec.Code, rec.Body)
	}
}

// TestCallbackWindowEdges accepts RequestTime exactly 60 s off either way.
func TestCallbackWindowEdges(t *testing.T) {
	body := []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg"}`)
	for _, d := range []int64{-60, 60} {
		e := setup(t, Config{})
		rec := e.postCallback(signedAt(signedQuery("C2C.CallbackBeforeSendMsg"), testTime+d), body)
		if rec.Code != http.StatusOK || rec.Body.String() != okReply {
			t.Errorf("RequestTime %+d s: reply %d %s, want OK", d, rec.Code, rec.Body)
		}
	}
}

// TestCallbackUnknownCommand answers OK and enqueues nothing, also for a
// command chatsync has never heard of, and counts it.
func TestCallbackUnknownCommand(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := setup(t, Config{Registerer: reg})
	for _, cmd := range []string{"Group.CallbackAfterSendMsg", "C2C.CallbackBeforeSendMsg", "Sns.CallbackFriendAdd"} {
		body := []byte(`{"CallbackCommand":"` + cmd + `","GroupId":"g","MsgTime":"loose types are not our business"}`)
		rec := e.postCallback(signedQuery(cmd), body)
		if rec.Code != http.StatusOK || rec.Body.String() != okReply {
			t.Errorf("%s: reply %d %s, want OK", cmd, rec.Code, rec.Body)
		}
	}
	e.checkTasks(t)
	if n := counter(t, reg, "chatsync_callbacks_total", "other", resultIgnored); n != 2 {
		t.Errorf("callbacks{other,ignored} = %v, want 2", n)
	}
	if n := counter(t, reg, "chatsync_callbacks_total", chatapi.CommandBeforeSendMsg, resultIgnored); n != 1 {
		t.Errorf("callbacks{BeforeSendMsg,ignored} = %v, want 1", n)
	}
}

// TestCallbackTwice delivers the same callback twice: two OKs, one task.
func TestCallbackTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := setup(t, Config{Registerer: reg, AutoRead: []string{"Jonh"}})
	body, err := os.ReadFile(filepath.Join("testdata", "callbacks", "C2C.CallbackAfterSendMsg.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		rec := e.postCallback(signedAt(signedQuery(chatapi.CommandAfterSendMsg), testTime+int64(i)), body)
		if rec.Code != http.StatusOK || rec.Body.String() != okReply {
			t.Fatalf("delivery %d: reply %d %s, want OK", i+1, rec.Code, rec.Body)
		}
	}
	if got := e.tasks(t); len(got) != 3 {
		t.Errorf("%d tasks, want 3 (unread, set-read, read-receipt): %+v", len(got), got)
	}
	for result, want := range map[string]float64{resultEnqueued: 1, resultDuplicate: 1} {
		if n := counter(t, reg, "chatsync_callbacks_total", chatapi.CommandAfterSendMsg, result); n != want {
			t.Errorf("callbacks{AfterSendMsg,%s} = %v, want %v", result, n, want)
		}
	}
}

// TestCallbackRedisDown answers 503 and never OK when Redis is unreachable;
// commands without tasks are still answered OK.
func TestCallbackRedisDown(t *testing.T) {
	e := setup(t, Config{Intake: downIntake(t)})
	body, err := os.ReadFile(filepath.Join("testdata", "callbacks", "C2C.CallbackAfterSendMsg.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec := e.postCallback(signedQuery(chatapi.CommandAfterSendMsg), body)
	reply := chatReply(t, rec)
	if rec.Code != http.StatusServiceUnavailable || reply.ActionStatus != "FAIL" || reply.ErrorCode != 1 {
		t.Errorf("reply %d %+v, want 503 FAIL", rec.Code, reply)
	}
	if !strings.Contains(e.logs.String(), "connection refused") {
		t.Errorf("the cause is not logged:\n%s", e.logs)
	}

	rec = e.postCallback(signedQuery(chatapi.CommandBeforeSendMsg), []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg"}`))
	if rec.Code != http.StatusOK || rec.Body.String() != okReply {
		t.Errorf("BeforeSendMsg with Redis down: reply %d %s, want OK", rec.Code, rec.Body)
	}
}

// TestInsecureCallbacks: without a token New refuses to start unless
// allowed, and then warns and takes unsigned callbacks.
func TestInsecureCallbacks(t *testing.T) {
	_, err := New(Config{SDKAppID: testAppID, Intake: downIntake(t)})
	if err == nil || !strings.Contains(err.Error(), "CallbackToken is empty") {
		t.Fatalf("New without token: %v, want an error about CallbackToken", err)
	}

	e := setup(t, Config{AllowInsecureCallbacks: true})
	if !strings.Contains(e.logs.String(), "level=WARN") || !strings.Contains(e.logs.String(), "not authenticated") {
		t.Errorf("no warning logged:\n%s", e.logs)
	}
	q := signedQuery(chatapi.CommandBeforeSendMsg)
	q.Del("Sign")
	q.Del("RequestTime")
	rec := e.postCallback(q, []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg"}`))
	if rec.Code != http.StatusOK {
		t.Errorf("unsigned callback: %d %s, want 200", rec.Code, rec.Body)
	}
	q.Set("SdkAppid", "1")
	if rec := e.postCallback(q, []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg"}`)); rec.Code != http.StatusForbidden {
		t.Errorf("wrong SdkAppid without token: %d, want 403", rec.Code)
	}
}

// TestNewConfigErrors names every problem at once.
func TestNewConfigErrors(t *testing.T) {
	_, err := New(Config{EventSecrets: []string{"whsec_c2hvcnQ="}, APIKey: "k", MaxBody: -1})
	want := "webhook config: SDKAppID is required; CallbackToken is empty (set AllowInsecureCallbacks to accept " +
		"unauthenticated callbacks); Intake is required; Snapshots is required with APIKey; MaxBody is negative; " +
		"EventSecrets[0] is 5 bytes, fewer than 16"
	if err == nil || err.Error() != want {
		t.Errorf("New: %v\nwant %s", err, want)
	}
	_, err = New(Config{SDKAppID: 1, CallbackToken: "t", Intake: downIntake(t), EventSecrets: []string{"whsec_!!"}})
	if err == nil || !strings.Contains(err.Error(), "EventSecrets[0] is not whsec_ followed by base64") {
		t.Errorf("New with a bad secret: %v", err)
	}
}

func TestVerifySignVector(t *testing.T) {
	if err := chatapi.VerifyCallbackSign(testToken, testSign, strconv.Itoa(testTime), testNow()); err != nil {
		t.Errorf("official vector: %v", err)
	}
	if diff := cmp.Diff(testSign, sha256Hex(testToken+strconv.Itoa(testTime))); diff != "" {
		t.Errorf("vector (-want +got):\n%s", diff)
	}
}

// TestOverLimitAlert: Alert.RequestOverLimit is answered OK, counted per
// API and logged at WARN; a malformed API name does not become a label.
func TestOverLimitAlert(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := setup(t, Config{Registerer: reg})
	for _, body := range []string{
		`{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"admin_set_msg_read","Request":170,"Limit":200}`,
		`{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"x\"y","Request":170,"Limit":200}`,
	} {
		if rec := e.postCallback(signedQuery(chatapi.CommandRequestOverLimit), []byte(body)); rec.Code != http.StatusOK {
			t.Fatalf("reply %d %s, want 200", rec.Code, rec.Body)
		}
	}
	want := `
# HELP chatsync_chat_overlimit_alerts_total Alert.RequestOverLimit callbacks by API (service/command): Chat saw its rate pass 80 % of the limit.
# TYPE chatsync_chat_overlimit_alerts_total counter
chatsync_chat_overlimit_alerts_total{api="openim/admin_set_msg_read"} 1
chatsync_chat_overlimit_alerts_total{api="other"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "chatsync_chat_overlimit_alerts_total"); err != nil {
		t.Error(err)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "api=openim/admin_set_msg_read") {
		t.Errorf("no WARN naming the API in the logs:\n%s", logs)
	}
	e.checkTasks(t)
}
