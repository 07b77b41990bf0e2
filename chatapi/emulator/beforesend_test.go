package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

func TestBeforeSendMsgCallback(t *testing.T) {
	var mu sync.Mutex
	reply := `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`
	var commands []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		cmd := r.URL.Query().Get("CallbackCommand")
		commands = append(commands, cmd)
		if cmd != chatapi.CommandBeforeSendMsg {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
			return
		}
		if reply == "500" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, reply)
	}))
	defer srv.Close()
	h := setup(t, func(c *emulator.Config) {
		c.CallbackURL = srv.URL
		c.BeforeSendMsgCallback = true
	})
	h.emu.ImportAccounts("a", "b")

	tests := []struct {
		name, reply string
		extra       string // more sendmsg fields
		wantCode    int
		wantInfo    string
		wantStored  bool
		wantCmds    []string
	}{
		{"allow", `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`, "", 0, "", true,
			[]string{chatapi.CommandBeforeSendMsg, chatapi.CommandAfterSendMsg}},
		{"forbid", `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":1}`, "", 20006, "", false,
			[]string{chatapi.CommandBeforeSendMsg}},
		{"drop silently", `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":2}`, "", 0, "", false,
			[]string{chatapi.CommandBeforeSendMsg}},
		{"custom code", `{"ActionStatus":"FAIL","ErrorInfo":"not today","ErrorCode":120005}`, "", 120005, "not today", false,
			[]string{chatapi.CommandBeforeSendMsg}},
		{"callback fails", "500", "", 0, "", true,
			[]string{chatapi.CommandBeforeSendMsg, chatapi.CommandAfterSendMsg}},
		{"forbidden callback", `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":1}`, `,"ForbidCallbackControl":["ForbidBeforeSendMsgCallback"]`, 0, "", true,
			[]string{chatapi.CommandAfterSendMsg}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			reply, commands = tt.reply, nil
			mu.Unlock()
			before, _ := h.emu.Unread("b")
			m := h.call("openim/sendmsg", fmt.Sprintf(`{"From_Account":"a","To_Account":"b","MsgRandom":%d,
				"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]%s}`, i, tt.extra))
			if code := envelopeCode(t, m); code != tt.wantCode || (tt.wantInfo != "" && m["ErrorInfo"] != tt.wantInfo) {
				t.Errorf("ErrorCode %d %q, want %d %q", code, m["ErrorInfo"], tt.wantCode, tt.wantInfo)
			}
			if tt.wantCode == 0 && m["MsgKey"] == nil {
				t.Errorf("success without MsgKey: %v", m)
			}
			after, _ := h.emu.Unread("b")
			if stored := after == before+1; stored != tt.wantStored {
				t.Errorf("stored = %v, want %v", stored, tt.wantStored)
			}
			waitCallbacks(t, h)
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.wantCmds, commands); diff != "" {
				t.Errorf("callbacks (-want +got):\n%s", diff)
			}
		})
	}
	if got := h.emu.Stats().Callbacks[chatapi.CommandBeforeSendMsg]; got != (emulator.CallbackStats{Sent: 5, Failed: 1}) {
		t.Errorf("BeforeSendMsg stats = %+v", got)
	}
}

func TestBeforeSendMsgModifies(t *testing.T) {
	var after map[string]any
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("CallbackCommand") == chatapi.CommandBeforeSendMsg {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,
				"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}],"CloudCustomData":"checked"}`)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_ = json.Unmarshal(b, &after)
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	defer srv.Close()
	h := setup(t, func(c *emulator.Config) {
		c.CallbackURL = srv.URL
		c.BeforeSendMsgCallback = true
	})
	h.emu.ImportAccounts("a", "b")
	h.send("a", "b", 1, "")
	waitCallbacks(t, h)
	roam := h.ok("openim/admin_getroammsg", `{"Operator_Account":"a","Peer_Account":"b","MaxCnt":1,"MinTime":0,"MaxTime":1999999999}`)
	item := roam["MsgList"].([]any)[0].(map[string]any)
	wantBody := []any{map[string]any{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": "***"}}}
	if diff := cmp.Diff(wantBody, item["MsgBody"]); diff != "" {
		t.Errorf("stored MsgBody (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(wantBody, after["MsgBody"]); diff != "" || after["CloudCustomData"] != "checked" || item["CloudCustomData"] != "checked" {
		t.Errorf("AfterSendMsg MsgBody (-want +got):\n%s\nCloudCustomData %v / %v", diff, after["CloudCustomData"], item["CloudCustomData"])
	}
}
