package emulator_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

func TestAuthFailures(t *testing.T) {
	h := setup(t, func(c *emulator.Config) { c.Admins = []string{testAdmin, "admin2"} })
	h.emu.ImportAccounts("dramon1")
	const api, body = "openim/get_c2c_unread_msg_num", `{"To_Account":"dramon1"}`
	good := h.url(api)
	withQuery := func(mod func(q url.Values)) string {
		u, _ := url.Parse(good)
		q := u.Query()
		mod(q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	set := func(k, v string) string { return withQuery(func(q url.Values) { q.Set(k, v) }) }
	del := func(k string) string { return withQuery(func(q url.Values) { q.Del(k) }) }
	sigFor := func(appID int, key, id string) string { return set("usersig", genSig(t, appID, key, id, sigExpire)) }

	tests := []struct {
		name   string
		method string
		url    string
		body   string
		want   int
	}{
		{"ok", "POST", good, body, 0},
		{"unknown command", "POST", strings.Replace(good, "get_c2c_unread_msg_num", "nope", 1), body, 60009},
		{"unknown service", "POST", strings.Replace(good, "/v4/openim/", "/v4/nope/", 1), body, 60009},
		{"not under v4", "POST", strings.Replace(good, "/v4/", "/v5/", 1), body, 60009},
		{"GET", "GET", good, "", 60002},
		{"sdkappid missing", "POST", del("sdkappid"), body, 60012},
		{"sdkappid wrong", "POST", set("sdkappid", "1400000001"), body, 60006},
		{"identifier missing", "POST", del("identifier"), body, 60010},
		{"identifier not an admin", "POST", withQuery(func(q url.Values) {
			q.Set("identifier", "dramon1")
			q.Set("usersig", genSig(t, testAppID, testSecret, "dramon1", sigExpire))
		}), body, 60010},
		{"usersig missing", "POST", del("usersig"), body, 70002},
		{"usersig garbage", "POST", set("usersig", "not-a-sig"), body, 70003},
		{"usersig truncated", "POST", set("usersig", h.sig[:40]), body, 70003},
		{"usersig wrong key", "POST", sigFor(testAppID, "another-secret-key", testAdmin), body, 70009},
		{"usersig of another admin", "POST", withQuery(func(q url.Values) { q.Set("identifier", "admin2") }), body, 70013},
		{"usersig of another app", "POST", sigFor(1400000001, testSecret, testAdmin), body, 70014},
		{"random missing", "POST", del("random"), body, 60002},
		{"random not a number", "POST", set("random", "abc"), body, 60002},
		{"random over 32 bits", "POST", set("random", "4294967296"), body, 60002},
		{"random 0 and max", "POST", set("random", "4294967295"), body, 0},
		{"contenttype missing", "POST", del("contenttype"), body, 60002},
		{"contenttype xml", "POST", set("contenttype", "xml"), body, 60002},
		{"empty body openim", "POST", good, "", 90001},
		{"bad json openim", "POST", good, `{"To_Account":`, 90001},
		{"array body openim", "POST", good, `["dramon1"]`, 90001},
		{"wrong field type", "POST", good, `{"To_Account":7}`, 90003},
		{"bad json login svc", "POST", h.url("im_open_login_svc/account_import"), `{`, 60003},
		{"empty body login svc", "POST", h.url("im_open_login_svc/account_import"), ``, 60003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d, want 200", resp.StatusCode)
			}
			var m map[string]any
			if err := decodeBody(resp, &m); err != nil {
				t.Fatal(err)
			}
			if got := envelopeCode(t, m); got != tt.want {
				t.Errorf("ErrorCode = %d (%v), want %d", got, m["ErrorInfo"], tt.want)
			}
		})
	}
}

// TestUserSigExpiry checks expiry with the clock past TLS.time+TLS.expire, both for a fresh sig
// and for one that was verified (and cached) while still valid.
func TestUserSigExpiry(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("dramon1")
	h.sig = genSig(t, testAppID, testSecret, testAdmin, 3600)
	const api, body = "openim/get_c2c_unread_msg_num", `{"To_Account":"dramon1"}`

	h.clock.Set(time.Now())
	if code := h.code(api, body); code != 0 {
		t.Fatalf("fresh sig: ErrorCode %d, want 0", code)
	}
	h.clock.Set(time.Now().Add(2 * time.Hour))
	if code := h.code(api, body); code != 70001 {
		t.Errorf("cached sig after expiry: ErrorCode %d, want 70001", code)
	}

	h.sig = genSig(t, testAppID, testSecret, testAdmin, 60)
	if code := h.code(api, body); code != 70001 {
		t.Errorf("new sig already expired: ErrorCode %d, want 70001", code)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  emulator.Config
	}{
		{"no SDKAppID", emulator.Config{SecretKey: "k"}},
		{"no SecretKey", emulator.Config{SDKAppID: 1}},
		{"long admin", emulator.Config{SDKAppID: 1, SecretKey: "k", Admins: []string{strings.Repeat("a", 33)}}},
		{"bad callback URL", emulator.Config{SDKAppID: 1, SecretKey: "k", CallbackURL: "localhost:8080/cb"}},
		{"negative timeout", emulator.Config{SDKAppID: 1, SecretKey: "k", CallbackTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := emulator.New(tt.cfg); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}
