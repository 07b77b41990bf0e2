package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

const sendBody = `{"From_Account":"a","To_Account":"b","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`

func TestFaultCount(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b")
	h.emu.SetFault("openim/sendmsg", emulator.Fault{Codes: []int{20004, 91000}, Count: 3})
	var got []int
	for range 5 {
		got = append(got, h.code("openim/sendmsg", sendBody))
	}
	if diff := cmp.Diff([]int{20004, 91000, 20004, 0, 0}, got); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	if n, _ := h.emu.Unread("b"); n != 2 {
		t.Errorf("b unread = %d, want 2: faulted calls must not store messages", n)
	}
	if code := h.code("openim/get_c2c_unread_msg_num", `{"To_Account":"b"}`); code != 0 {
		t.Errorf("another API: ErrorCode %d, want 0", code)
	}

	// A fault with Codes only fails every call until cleared.
	h.emu.SetFault("openim/admin_set_msg_read", emulator.Fault{Codes: []int{20005}})
	for range 3 {
		if code := h.code("openim/admin_set_msg_read", `{"Report_Account":"b","Peer_Account":"a"}`); code != 20005 {
			t.Fatalf("ErrorCode %d, want 20005", code)
		}
	}
	if n, _ := h.emu.Unread("b"); n != 2 {
		t.Errorf("b unread = %d, want 2: faulted set-read must not read", n)
	}
	h.emu.ClearFaults()
	h.ok("openim/admin_set_msg_read", `{"Report_Account":"b","Peer_Account":"a"}`)
	if n, _ := h.emu.Unread("b"); n != 0 {
		t.Errorf("b unread after the fault is cleared = %d, want 0", n)
	}
}

func TestFaultProbability(t *testing.T) {
	run := func() []int {
		h := setup(t, func(c *emulator.Config) { c.Seed = 42 })
		h.emu.ImportAccounts("a", "b")
		h.emu.SetFault("openim/sendmsg", emulator.Fault{Codes: []int{20005}, Probability: 0.3})
		var codes []int
		for range 200 {
			codes = append(codes, h.code("openim/sendmsg", sendBody))
		}
		failed := 0
		for _, c := range codes {
			if c == 20005 {
				failed++
			}
		}
		if failed < 30 || failed > 90 {
			t.Errorf("%d of 200 calls failed with p=0.3", failed)
		}
		if n, _ := h.emu.Unread("b"); n != 200-failed {
			t.Errorf("b unread = %d, want %d", n, 200-failed)
		}
		return codes
	}
	if diff := cmp.Diff(run(), run()); diff != "" {
		t.Errorf("same Seed, different faults (-first +second):\n%s", diff)
	}
}

func TestFaultLatency(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b")
	h.emu.SetFault("openim/sendmsg", emulator.Fault{Latency: 100 * time.Millisecond})
	start := time.Now()
	h.ok("openim/sendmsg", sendBody)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("call took %v, want at least 100ms", d)
	}

	// A client that gives up during the latency changes nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url("openim/sendmsg"), strings.NewReader(sendBody))
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for h.emu.Stats().APIs["openim/sendmsg"].HTTPStatus[499] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned call was not recorded: %+v", h.emu.Stats().APIs["openim/sendmsg"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, _ := h.emu.Unread("b"); n != 1 {
		t.Errorf("b unread = %d, want 1", n)
	}
}

func TestFaultHTTPStatus(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b")
	h.emu.SetFault("openim/sendmsg", emulator.Fault{HTTPStatus: http.StatusBadGateway, Count: 1})
	status, body := h.post("openim/sendmsg", sendBody)
	if status != http.StatusBadGateway {
		t.Errorf("HTTP %d, want 502", status)
	}
	if json.Valid(body) {
		t.Errorf("a 502 body should not be JSON: %s", body)
	}
	h.ok("openim/sendmsg", sendBody)
	if n, _ := h.emu.Unread("b"); n != 1 {
		t.Errorf("b unread = %d, want 1", n)
	}
	st := h.emu.Stats().APIs["openim/sendmsg"]
	want := emulator.APIStats{Calls: 2, ErrorCodes: map[int]int64{0: 1}, HTTPStatus: map[int]int64{502: 1}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

// TestFaultAfterAuth checks that auth failures and the rate limit come before faults.
func TestFaultAfterAuth(t *testing.T) {
	h := setup(t, func(c *emulator.Config) { c.RateLimit = 1 })
	h.emu.ImportAccounts("a", "b")
	h.emu.SetFault("openim/sendmsg", emulator.Fault{Codes: []int{20004}, Count: 2})
	h.sig = "garbage"
	if code := h.code("openim/sendmsg", sendBody); code != 70003 {
		t.Errorf("bad sig: ErrorCode %d, want 70003", code)
	}
	h.sig = genSig(t, testAppID, testSecret, testAdmin, sigExpire)
	if code := h.code("openim/sendmsg", sendBody); code != 20004 {
		t.Errorf("first good call: ErrorCode %d, want 20004", code)
	}
	if code := h.code("openim/sendmsg", sendBody); code != 60007 {
		t.Errorf("second call in the second: ErrorCode %d, want 60007", code)
	}
	h.clock.Advance(time.Second)
	if code := h.code("openim/sendmsg", sendBody); code != 20004 {
		t.Errorf("next second: ErrorCode %d, want 20004 (the fault's second failure)", code)
	}
}
