package emulator_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// unreadOf asks get_c2c_unread_msg_num for user's total.
func (h *harness) unreadOf(user string) int {
	h.tb.Helper()
	m := h.ok("openim/get_c2c_unread_msg_num", fmt.Sprintf(`{"To_Account":%q}`, user))
	return int(m["AllC2CUnreadMsgNum"].(float64))
}

func TestUnreadArithmetic(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b", "c", "d")

	// b sends at t0, t0+10, t0+20; c sends two; one NoUnread message from b.
	for i := range 3 {
		h.send("b", "a", i, "")
		h.clock.Advance(10 * time.Second)
	}
	h.send("c", "a", 10, "")
	h.send("c", "a", 11, "")
	h.send("b", "a", 12, `,"SendMsgControl":["NoUnread"]`)
	h.send("a", "b", 13, "") // the other direction counts for b only

	check := func(step string, wantTotal int, wantPeers map[string]int) {
		t.Helper()
		total, peers := h.emu.Unread("a")
		if total != wantTotal {
			t.Errorf("%s: Unread total = %d, want %d", step, total, wantTotal)
		}
		if diff := cmp.Diff(wantPeers, peers); diff != "" {
			t.Errorf("%s: Unread per peer (-want +got):\n%s", step, diff)
		}
		if got := h.unreadOf("a"); got != wantTotal {
			t.Errorf("%s: AllC2CUnreadMsgNum = %d, want %d", step, got, wantTotal)
		}
	}
	check("after sends", 5, map[string]int{"b": 3, "c": 2})
	if got, _ := h.emu.Unread("b"); got != 1 {
		t.Errorf("b unread = %d, want 1", got)
	}

	// Read up to t0+10 (a String): the messages at t0 and t0+10 are read.
	h.ok("openim/admin_set_msg_read", fmt.Sprintf(`{"Report_Account":"a","Peer_Account":"b","MsgReadTime":"%d"}`, t0.Unix()+10))
	check("read to t0+10", 3, map[string]int{"b": 1, "c": 2})

	// An earlier time (a Number) does not move the watermark back.
	h.ok("openim/admin_set_msg_read", fmt.Sprintf(`{"Report_Account":"a","Peer_Account":"b","MsgReadTime":%d}`, t0.Unix()))
	check("earlier read time", 3, map[string]int{"b": 1, "c": 2})

	// No MsgReadTime means now.
	h.ok("openim/admin_set_msg_read", `{"Report_Account":"a","Peer_Account":"c"}`)
	check("read c now", 1, map[string]int{"b": 1})

	// A message after the watermark is unread again.
	h.clock.Advance(time.Second)
	h.send("c", "a", 20, "")
	check("new message", 2, map[string]int{"b": 1, "c": 1})

	got := h.ok("openim/get_c2c_unread_msg_num", `{"To_Account":"a","Peer_Account":["b","c","d","ghost"]}`)
	want := decode(t, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,
		"C2CUnreadMsgNumList":[{"Peer_Account":"b","C2CUnreadMsgNum":1},{"Peer_Account":"c","C2CUnreadMsgNum":1},{"Peer_Account":"d","C2CUnreadMsgNum":0}],
		"ErrorList":[{"Peer_Account":"ghost","ErrorCode":70107}]}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("per-peer answer (-want +got):\n%s", diff)
	}
}

func TestUnreadErrors(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b")
	eleven := `"p1","p2","p3","p4","p5","p6","p7","p8","p9","p10","p11"`
	tests := []struct {
		name, api, body string
		want            int
	}{
		{"unread: To_Account missing", "openim/get_c2c_unread_msg_num", `{}`, 90003},
		{"unread: To_Account unknown", "openim/get_c2c_unread_msg_num", `{"To_Account":"ghost"}`, 90003},
		{"unread: Peer_Account not an array", "openim/get_c2c_unread_msg_num", `{"To_Account":"a","Peer_Account":"b"}`, 90001},
		{"unread: Peer_Account numbers", "openim/get_c2c_unread_msg_num", `{"To_Account":"a","Peer_Account":[1]}`, 90001},
		{"unread: 11 peers", "openim/get_c2c_unread_msg_num", `{"To_Account":"a","Peer_Account":[` + eleven + `]}`, 90001},
		{"unread: 10 peers", "openim/get_c2c_unread_msg_num", `{"To_Account":"a","Peer_Account":[` + strings.TrimSuffix(eleven, `,"p11"`) + `]}`, 0},
		{"set read: Report missing", "openim/admin_set_msg_read", `{"Peer_Account":"b"}`, 90003},
		{"set read: Report unknown", "openim/admin_set_msg_read", `{"Report_Account":"ghost","Peer_Account":"b"}`, 90003},
		{"set read: Peer missing", "openim/admin_set_msg_read", `{"Report_Account":"a"}`, 90008},
		{"set read: Peer unknown", "openim/admin_set_msg_read", `{"Report_Account":"a","Peer_Account":"ghost"}`, 90008},
		{"set read: time not digits", "openim/admin_set_msg_read", `{"Report_Account":"a","Peer_Account":"b","MsgReadTime":"soon"}`, 90001},
		{"set read: time negative", "openim/admin_set_msg_read", `{"Report_Account":"a","Peer_Account":"b","MsgReadTime":-1}`, 90001},
		{"set read: time fraction", "openim/admin_set_msg_read", `{"Report_Account":"a","Peer_Account":"b","MsgReadTime":1.5}`, 90001},
		{"set read: time bool", "openim/admin_set_msg_read", `{"Report_Account":"a","Peer_Account":"b","MsgReadTime":true}`, 90001},
		{"set read: empty time is now", "openim/admin_set_msg_read", `{"Report_Account":"a","Peer_Account":"b","MsgReadTime":""}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.code(tt.api, tt.body); got != tt.want {
				t.Errorf("ErrorCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestReadReceipt(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b", "c")
	key := h.send("b", "a", 1, "")
	other := h.send("a", "b", 2, "")
	receipt := func(op, peer, from, to, key string) string {
		return fmt.Sprintf(`{"Operator_Account":%q,"Peer_Account":%q,"C2CMsgInfo":[{"From_Account":%q,"To_Account":%q,"MsgKey":%q}]}`,
			op, peer, from, to, key)
	}
	tests := []struct {
		name, body string
		want       int
	}{
		{"ok", receipt("a", "b", "b", "a", key), 0},
		{"bad json", `{"Operator_Account":`, 90001},
		{"Operator missing", `{"Peer_Account":"b","C2CMsgInfo":[]}`, 20001},
		{"empty list", `{"Operator_Account":"a","Peer_Account":"b","C2CMsgInfo":[]}`, 20001},
		{"list not an array", `{"Operator_Account":"a","Peer_Account":"b","C2CMsgInfo":{}}`, 20001},
		{"From is not Peer", receipt("a", "b", "c", "a", key), 20001},
		{"To is not Operator", receipt("a", "b", "b", "c", key), 20001},
		{"unknown MsgKey", receipt("a", "b", "b", "a", "1_2_3"), 20001},
		{"MsgKey of the other direction", receipt("a", "b", "b", "a", other), 20001},
		{"Operator not imported", receipt("ghost", "b", "b", "ghost", key), 20003},
		{"Peer not imported", receipt("a", "ghost", "ghost", "a", key), 20003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.code("openim/c2c_msg_read_receipt", tt.body); got != tt.want {
				t.Errorf("ErrorCode = %d, want %d", got, tt.want)
			}
		})
	}
	if total, _ := h.emu.Unread("a"); total != 1 {
		t.Errorf("a unread = %d, want 1: receipts do not change unread", total)
	}
}
