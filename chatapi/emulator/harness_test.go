package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

// The UserSig test vector's app (tencent-chat.md §3.2).
const (
	testAppID  = 1400000000
	testSecret = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	testAdmin  = "administrator"
	sigExpire  = 180 * 24 * 3600
)

// t0 is the fake clock's start.
var t0 = time.Unix(1700000000, 0)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is an emulator behind a real HTTP server, with a fake clock and an admin UserSig.
type harness struct {
	tb    testing.TB
	emu   *emulator.Emulator
	srv   *httptest.Server
	clock *clock
	sig   string
}

// setup starts an emulator at t0 with seed 1; mod may change the Config first.
func setup(tb testing.TB, mod func(*emulator.Config)) *harness {
	tb.Helper()
	clk := &clock{t: t0}
	cfg := emulator.Config{SDKAppID: testAppID, SecretKey: testSecret, Now: clk.Now, Seed: 1, RateLimit: -1}
	if mod != nil {
		mod(&cfg)
	}
	emu, err := emulator.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(emu.Handler())
	tb.Cleanup(func() {
		srv.Close()
		emu.Close()
	})
	return &harness{tb: tb, emu: emu, srv: srv, clock: clk, sig: genSig(tb, testAppID, testSecret, testAdmin, sigExpire)}
}

// genSig makes a UserSig with the official library (TLS.time is the real time).
func genSig(tb testing.TB, appID int, key, identifier string, expire int) string {
	tb.Helper()
	sig, err := tencentyun.GenUserSig(appID, key, identifier, expire)
	if err != nil {
		tb.Fatalf("GenUserSig: %v", err)
	}
	return sig
}

// signedURL returns the URL of a REST call with the standard query.
func signedURL(base, api string, appID uint64, identifier, sig string) string {
	q := url.Values{
		"sdkappid":    {fmt.Sprint(appID)},
		"identifier":  {identifier},
		"usersig":     {sig},
		"random":      {"99999999"},
		"contenttype": {"json"},
	}
	return base + "/v4/" + api + "?" + q.Encode()
}

func (h *harness) url(api string) string {
	return signedURL(h.srv.URL, api, testAppID, testAdmin, h.sig)
}

// post sends a REST call and returns the HTTP status and the raw body.
func (h *harness) post(api, body string) (int, []byte) {
	h.tb.Helper()
	return postURL(h.tb, h.url(api), body)
}

func postURL(tb testing.TB, u, body string) (int, []byte) {
	tb.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read answer: %v", err)
	}
	return resp.StatusCode, b
}

// call sends a REST call that must answer HTTP 200 with JSON, and returns the decoded answer.
func (h *harness) call(api, body string) map[string]any {
	h.tb.Helper()
	status, b := h.post(api, body)
	if status != http.StatusOK {
		h.tb.Fatalf("%s: HTTP %d: %s", api, status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		h.tb.Fatalf("%s: answer is not JSON: %v: %s", api, err, b)
	}
	return m
}

// code returns the ErrorCode of a call, checking that ActionStatus agrees with it.
func (h *harness) code(api, body string) int {
	h.tb.Helper()
	return envelopeCode(h.tb, h.call(api, body))
}

func envelopeCode(tb testing.TB, m map[string]any) int {
	tb.Helper()
	code, ok := m["ErrorCode"].(float64)
	if !ok {
		tb.Fatalf("answer has no ErrorCode: %v", m)
	}
	want := "OK"
	if code != 0 {
		want = "FAIL"
	}
	if m["ActionStatus"] != want {
		tb.Fatalf("ErrorCode %v with ActionStatus %v", code, m["ActionStatus"])
	}
	if _, ok := m["ErrorInfo"].(string); !ok {
		tb.Fatalf("answer has no ErrorInfo string: %v", m)
	}
	return int(code)
}

// ok sends a call that must succeed and returns its answer.
func (h *harness) ok(api, body string) map[string]any {
	h.tb.Helper()
	m := h.call(api, body)
	if code := envelopeCode(h.tb, m); code != 0 {
		h.tb.Fatalf("%s %s: ErrorCode %d: %v", api, body, code, m["ErrorInfo"])
	}
	return m
}

// send sends a text message and returns its MsgKey.
func (h *harness) send(from, to string, random int, extra string) string {
	h.tb.Helper()
	body := fmt.Sprintf(`{"From_Account":%q,"To_Account":%q,"MsgRandom":%d,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]%s}`,
		from, to, random, extra)
	return h.ok("openim/sendmsg", body)["MsgKey"].(string)
}

// decode decodes JSON the way call does, for comparisons.
func decode(tb testing.TB, s string) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		tb.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func decodeBody(resp *http.Response, v any) error {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", b, err)
	}
	return nil
}
