package emulator_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func readTestdata(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestDocumentationExamples sends every example request of the Chat pages, after building the
// state the example implies, and compares the answer with the page's.
func TestDocumentationExamples(t *testing.T) {
	sendN := func(h *harness, from, to string, n int) {
		for i := range n {
			h.send(from, to, 1000+i, "")
		}
	}
	tests := []struct {
		name  string
		api   string
		file  string // testdata/<file>.request.json and .response.json
		state func(h *harness)
	}{
		{
			name: "unread total", api: "openim/get_c2c_unread_msg_num", file: "get_c2c_unread_msg_num.total",
			state: func(h *harness) {
				h.emu.ImportAccounts("dramon1", "dramon2", "teacher")
				sendN(h, "dramon2", "dramon1", 12)
			},
		},
		{
			name: "unread per peer", api: "openim/get_c2c_unread_msg_num", file: "get_c2c_unread_msg_num.peers",
			state: func(h *harness) {
				h.emu.ImportAccounts("dramon1", "dramon2", "teacher")
				sendN(h, "dramon2", "dramon1", 12)
				sendN(h, "teacher", "dramon1", 12)
			},
		},
		{
			name: "read receipt", api: "openim/c2c_msg_read_receipt", file: "c2c_msg_read_receipt",
			state: func(h *harness) {
				h.emu.ImportAccounts("user1", "user2")
				h.clock.Set(time.Unix(1708676941, 0))
				if key := h.send("user2", "user1", 5675354, `,"MsgSeq":1467329515`); key != "1467329515_5675354_1708676941" {
					t.Fatalf("MsgKey = %s", key)
				}
			},
		},
		{
			name: "set read", api: "openim/admin_set_msg_read", file: "admin_set_msg_read",
			state: func(h *harness) {
				h.emu.ImportAccounts("dramon1", "dramon2")
				sendN(h, "dramon2", "dramon1", 3)
			},
		},
		{
			name: "account import", api: "im_open_login_svc/account_import", file: "account_import",
		},
		{
			name: "account check", api: "im_open_login_svc/account_check", file: "account_check",
			state: func(h *harness) { h.emu.ImportAccounts("UserID_1") },
		},
		{
			name: "withdraw", api: "openim/admin_msgwithdraw", file: "admin_msgwithdraw",
			state: func(h *harness) {
				h.emu.ImportAccounts("vinson", "dramon")
				h.clock.Set(time.Unix(1572869830, 0))
				h.send("vinson", "dramon", 833502, `,"MsgSeq":31906`)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t, nil)
			if tt.state != nil {
				tt.state(h)
			}
			got := h.call(tt.api, readTestdata(t, tt.file+".request.json"))
			want := decode(t, readTestdata(t, tt.file+".response.json"))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s answer mismatch (-want +got):\n%s", tt.api, diff)
			}
		})
	}
}

// TestDocumentationExampleEffects checks what the example calls change.
func TestDocumentationExampleEffects(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("dramon1", "dramon2", "user1", "user2")
	h.send("dramon2", "dramon1", 1, "")
	h.ok("openim/admin_set_msg_read", readTestdata(t, "admin_set_msg_read.request.json"))
	if total, _ := h.emu.Unread("dramon1"); total != 0 {
		t.Errorf("dramon1 unread after admin_set_msg_read = %d, want 0", total)
	}

	h.clock.Set(time.Unix(1708676941, 0))
	h.send("user2", "user1", 5675354, `,"MsgSeq":1467329515`)
	h.ok("openim/c2c_msg_read_receipt", readTestdata(t, "c2c_msg_read_receipt.request.json"))
	roam := h.ok("openim/admin_getroammsg", `{"Operator_Account":"user2","Peer_Account":"user1","MaxCnt":10,"MinTime":0,"MaxTime":1999999999}`)
	item := roam["MsgList"].([]any)[0].(map[string]any)
	if item["IsPeerRead"] != 1.0 {
		t.Errorf("IsPeerRead = %v, want 1", item["IsPeerRead"])
	}
	if total, _ := h.emu.Unread("user1"); total != 1 {
		t.Errorf("user1 unread after a read receipt = %d, want 1 (receipts do not read)", total)
	}
}
