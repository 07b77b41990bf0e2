package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

// inspect sends a request to the inspection surface and returns the status and body.
func (h *harness) inspect(method, path, body string) (int, []byte) {
	h.tb.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); len(b) > 0 && ct != "application/json" {
		h.tb.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, b
}

func (h *harness) mustInspect(method, path, body string, wantStatus int, v any) {
	h.tb.Helper()
	status, b := h.inspect(method, path, body)
	if status != wantStatus {
		h.tb.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, status, wantStatus, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			h.tb.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func TestInspection(t *testing.T) {
	h := setup(t, nil)
	h.mustInspect("POST", "/emulator/accounts", `{"UserIDs":["a","b"]}`, http.StatusNoContent, nil)
	h.send("a", "b", 1, "")
	h.clock.Advance(time.Second)
	h.send("a", "b", 2, "")
	h.code("openim/get_c2c_unread_msg_num", `{"To_Account":"ghost"}`)

	var unread struct {
		User    string
		Total   int
		PerPeer map[string]int
	}
	h.mustInspect("GET", "/emulator/unread?user=b", "", http.StatusOK, &unread)
	if unread.User != "b" || unread.Total != 2 || unread.PerPeer["a"] != 2 {
		t.Errorf("unread = %+v", unread)
	}

	var reqs []emulator.Request
	h.mustInspect("GET", "/emulator/requests?api=openim/sendmsg&limit=1", "", http.StatusOK, &reqs)
	if len(reqs) != 1 || reqs[0].API != "openim/sendmsg" || !reqs[0].Time.Equal(t0.Add(time.Second)) || reqs[0].HTTPStatus != 200 {
		t.Fatalf("requests = %+v", reqs)
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil || body["MsgRandom"] != 2.0 {
		t.Errorf("request body = %s", reqs[0].Body)
	}
	h.mustInspect("GET", "/emulator/requests", "", http.StatusOK, &reqs)
	if len(reqs) != 3 || reqs[2].ErrorCode != 90003 {
		t.Errorf("all requests = %+v", reqs)
	}

	var st emulator.Stats
	h.mustInspect("GET", "/emulator/stats", "", http.StatusOK, &st)
	want := emulator.APIStats{Calls: 2, ErrorCodes: map[int]int64{0: 2}, HTTPStatus: map[int]int64{}}
	if diff := cmp.Diff(want, st.APIs["openim/sendmsg"]); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	// Faults over HTTP: Latency as a duration string or milliseconds.
	h.mustInspect("PUT", "/emulator/faults/openim/sendmsg", `{"Codes":[20004],"Count":1,"Latency":"5ms"}`, http.StatusNoContent, nil)
	h.mustInspect("PUT", "/emulator/faults/openim/admin_set_msg_read", `{"HTTPStatus":502,"Count":2,"Latency":7}`, http.StatusNoContent, nil)
	var faults map[string]json.RawMessage
	h.mustInspect("GET", "/emulator/faults", "", http.StatusOK, &faults)
	wantFaults := map[string]emulator.Fault{
		"openim/sendmsg":            {Codes: []int{20004}, Count: 1, Latency: 5 * time.Millisecond},
		"openim/admin_set_msg_read": {HTTPStatus: 502, Count: 2, Latency: 7 * time.Millisecond},
	}
	if diff := cmp.Diff(wantFaults, h.emu.Faults()); diff != "" {
		t.Errorf("faults (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(faults["openim/sendmsg"]), `"Latency":"5ms"`) {
		t.Errorf("GET faults = %s", faults["openim/sendmsg"])
	}
	if code := h.code("openim/sendmsg", sendBody); code != 20004 {
		t.Errorf("faulted call: ErrorCode %d, want 20004", code)
	}
	h.mustInspect("DELETE", "/emulator/faults/openim/sendmsg", "", http.StatusNoContent, nil)
	if _, ok := h.emu.Faults()["openim/sendmsg"]; ok {
		t.Error("DELETE /emulator/faults/openim/sendmsg left the fault")
	}
	h.mustInspect("DELETE", "/emulator/faults", "", http.StatusNoContent, nil)
	if status, _ := h.post("openim/admin_set_msg_read", `{"Report_Account":"b","Peer_Account":"a"}`); status != http.StatusOK {
		t.Errorf("after DELETE /emulator/faults: HTTP %d", status)
	}

	h.mustInspect("PUT", "/emulator/ratelimit", `{"PerSecond":1}`, http.StatusNoContent, nil)
	h.code("openim/get_c2c_unread_msg_num", `{"To_Account":"a"}`)
	if code := h.code("openim/get_c2c_unread_msg_num", `{"To_Account":"a"}`); code != 60007 {
		t.Errorf("after PUT ratelimit 1: ErrorCode %d, want 60007", code)
	}
	h.mustInspect("PUT", "/emulator/callback", `{"URL":""}`, http.StatusNoContent, nil)

	bad := []struct{ method, path, body string }{
		{"PUT", "/emulator/faults/openim/nope", `{"Count":1}`},
		{"PUT", "/emulator/faults/openim/sendmsg", `{"Latency":"soon"}`},
		{"PUT", "/emulator/faults/openim/sendmsg", `{"Probability":2}`},
		{"PUT", "/emulator/ratelimit", `{}`},
		{"POST", "/emulator/accounts", `{"UserIDs":[""]}`},
		{"PUT", "/emulator/callback", `{"URL":"nope"}`},
		{"GET", "/emulator/unread", ""},
		{"GET", "/emulator/requests?limit=x", ""},
		{"GET", "/emulator/nothing", ""},
	}
	for _, b := range bad {
		status, body := h.inspect(b.method, b.path, b.body)
		if status < 400 || status > 404 || !json.Valid(body) {
			t.Errorf("%s %s %s: HTTP %d %s, want a 4xx JSON error", b.method, b.path, b.body, status, body)
		}
	}
}

func TestRequestsRing(t *testing.T) {
	h := setup(t, func(c *emulator.Config) { c.KeepRequests = 3 })
	h.emu.ImportAccounts("a")
	for _, body := range []string{`{"To_Account":"a"}`, `{"To_Account":"b"}`, `not json`, ``, `{"To_Account":"c"}`} {
		h.call("openim/get_c2c_unread_msg_num", body)
	}
	var got []string
	for _, r := range h.emu.Requests("") {
		got = append(got, string(r.Body))
	}
	if diff := cmp.Diff([]string{`"not json"`, ``, `{"To_Account":"c"}`}, got); diff != "" {
		t.Errorf("kept requests (-want +got):\n%s", diff)
	}
	if n := len(h.emu.Requests("openim/sendmsg")); n != 0 {
		t.Errorf("%d sendmsg requests, want 0", n)
	}
}
