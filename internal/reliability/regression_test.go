package reliability

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
	"github.com/chatsync/chatsync/tasks"
)

// TestReadTimeIsTheEventsTime: a conversation.read event without
// read_time means "read up to now", the moment the user read. When its
// set-read call only succeeds later (Chat failing meanwhile), messages that
// arrived after the event must stay unread.
func TestReadTimeIsTheEventsTime(t *testing.T) {
	t.Parallel()
	h := New(t, Config{Binary: binary(t), Workers: 1, Accounts: []string{"reader", "writer"}})
	ctx := context.Background()
	if _, err := h.SendMessages(ctx, "writer", "reader", 1); err != nil {
		t.Fatal(err)
	}
	// Chat fails every set-read for now.
	h.Emulator.SetFault(chatapi.APISetMsgRead, emulator.Fault{HTTPStatus: http.StatusBadGateway})
	read := time.Now()
	mustStatus(t, "conversation.read", h.Sender.Events(ctx, "evt_read", EventsBody(ConversationRead("reader", "writer", 0))), http.StatusAccepted)
	// A new message arrives a few seconds after the user read.
	err := Poll(ctx, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		return time.Now().Unix() >= read.Unix()+2, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	later, err := h.SendMessages(ctx, "writer", "reader", 1)
	if err != nil {
		t.Fatal(err)
	}
	h.Emulator.ClearFaults()
	err = Poll(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		for _, r := range h.Emulator.Requests(chatapi.APISetMsgRead) {
			if r.HTTPStatus == http.StatusOK && r.ErrorCode == 0 {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("set-read never succeeded: %v", err)
	}
	if _, peers := h.Emulator.Unread("reader"); peers["writer"] != 1 {
		t.Errorf("message %s sent %ds after the read is unread %d times, want 1: the read covered it",
			later[0].Key, later[0].Time-read.Unix(), peers["writer"])
	}
}

// TestStaleRefreshClaim: a worker that dies (or loses Redis) after it
// claimed a user's refresh and before it enqueued the refresh task leaves
// the claim behind. asynq runs the chat:unread task again; it must find its
// own claim and schedule the refresh, not wait for the claim to go stale
// (10 minutes), during which the user's counts would freeze. The state
// such a crash leaves is planted here directly, since the window between
// the claim and the enqueue is too narrow to hit with a kill: a claim made
// with the token of the first message's unread task, whose run then
// stands for the run after the crash.
func TestStaleRefreshClaim(t *testing.T) {
	t.Parallel()
	h := New(t, Config{Binary: binary(t), Workers: 1, Accounts: []string{"reader", "writer"}})
	ctx := context.Background()
	rdb := redis.NewClient(h.Redis.Options())
	defer rdb.Close()
	msgs, err := h.SendMessages(ctx, "writer", "reader", 2)
	if err != nil {
		t.Fatal(err)
	}
	// What a worker killed between the change script and the enqueue of
	// the refresh leaves: a claimed refresh with no task.
	// The unread task's ID, as the intake names it: from the callback's ID.
	crashed := tasks.ID(tasks.TypeUnread, tasks.ID(chatapi.CommandAfterSendMsg, "writer", "reader", msgs[0].Key))
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := rdb.HSet(ctx, "chatsync:{reader}:refresh", "token", tasks.ClaimToken(crashed), "token_at", now,
		"first", now, "last", now, "p:writer", 1).Err(); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		total, _ := h.Emulator.Unread("reader")
		if r := h.Sender.Callback(ctx, chatapi.CommandAfterSendMsg, AfterSendMsgBody(m, &total)); !r.ChatOK() {
			t.Fatalf("callback: %s", r)
		}
	}
	if err := h.WaitUnread(ctx, map[string][]string{"reader": {"writer"}}, 15*time.Second); err != nil {
		t.Error(err)
	}
}

// TestSlowBodyIsCutOff: a client that sends its headers and then trickles
// (or withholds) the body must not hold a connection for ever; serve
// bounds headers (ReadHeaderTimeout, 10 s) but not the body.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	h := New(t, Config{Binary: binary(t), Workers: -1})
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.ServeURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	// 30 s is far beyond any sensible body timeout.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("serve still waits for the body after %v", time.Since(start).Round(time.Second))
	} else {
		t.Logf("serve answered or closed after %v: %v", time.Since(start).Round(time.Second), err)
	}
}
