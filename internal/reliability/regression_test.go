package reliability

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
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
