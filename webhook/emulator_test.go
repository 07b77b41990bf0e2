package webhook

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/tasks"
)

// TestEmulatorCallbacks drives the Chat emulator over HTTP: its sendmsg,
// admin_set_msg_read and admin_msgwithdraw post real, signed callbacks to
// the server over HTTP, which must accept every one and leave the tasks
// routing asks for.
func TestEmulatorCallbacks(t *testing.T) {
	e := setup(t, Config{Now: time.Now, AutoRead: []string{"bot"}})
	target := httptest.NewServer(e.srv)
	defer target.Close()

	emu, err := emulator.New(emulator.Config{
		SDKAppID: testAppID, SecretKey: "emulator-secret", CallbackToken: testToken,
		CallbackURL: target.URL + "/callback", BeforeSendMsgCallback: true, RateLimit: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	chat := httptest.NewServer(emu.Handler())
	defer chat.Close()
	emu.ImportAccounts("alice", "bot")
	client, err := chatapi.New(chatapi.Config{SDKAppID: testAppID, SecretKey: "emulator-secret",
		Admin: emulator.DefaultAdmin, BaseURL: chat.URL})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent, err := client.SendMsg(ctx, chatapi.SendMsgRequest{FromAccount: "alice", ToAccount: "bot",
		MsgBody: []chatapi.MsgElem{chatapi.TextElem("hello")}})
	if err != nil {
		t.Fatalf("sendmsg: %v", err)
	}
	if err := client.SetMsgRead(ctx, chatapi.SetMsgReadRequest{ReportAccount: "alice", PeerAccount: "bot"}); err != nil {
		t.Fatalf("admin_set_msg_read: %v", err)
	}
	var withdrawn struct{ chatapi.Envelope }
	if err := client.Do(ctx, "openim/admin_msgwithdraw", map[string]string{
		"From_Account": "alice", "To_Account": "bot", "MsgKey": sent.MsgKey}, &withdrawn); err != nil {
		t.Fatalf("admin_msgwithdraw: %v", err)
	}
	if err := emu.WaitCallbacks(ctx); err != nil {
		t.Fatal(err)
	}

	got := map[string]emulator.CallbackStats{}
	for cmd, st := range emu.Stats().Callbacks {
		got[cmd] = st
	}
	want := map[string]emulator.CallbackStats{
		chatapi.CommandBeforeSendMsg:    {Sent: 1},
		chatapi.CommandAfterSendMsg:     {Sent: 1},
		chatapi.CommandAfterMsgReport:   {Sent: 1},
		chatapi.CommandAfterMsgWithDraw: {Sent: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("callbacks (-want +got):\n%s", diff)
	}

	// One unread per callback plus, bot being auto-read, a set-read and a
	// read-receipt for the message.
	count := map[string]int{}
	for _, task := range e.tasks(t) {
		count[task.Type]++
	}
	if diff := cmp.Diff(map[string]int{tasks.TypeUnread: 3, tasks.TypeSetRead: 1, tasks.TypeReadReceipt: 1}, count); diff != "" {
		t.Errorf("tasks by type (-want +got):\n%s", diff)
	}
}
