package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

func setReadCall(at time.Time, body string, code int) emulator.Request {
	return emulator.Request{Time: at, API: chatapi.APISetMsgRead, Body: json.RawMessage(body), ErrorCode: code, HTTPStatus: 200}
}

// A probe is matched to the first successful call on its conversation at
// or above its read point, in whichever order loadgen learns of them; a
// call before it applied it already; failed calls and repeats do not count.
func TestProbes(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	p := newProbes()
	p.sent(request{from: "a", to: "b", msgTime: 10}, t0)
	p.sent(request{from: "a", to: "b", msgTime: 11}, t0.Add(10*time.Millisecond))
	call := setReadCall(t0.Add(100*time.Millisecond), `{"Report_Account":"b","Peer_Account":"a","MsgReadTime":"12"}`, 0)
	n := p.observe([]emulator.Request{call, call,
		setReadCall(t0, `{"Report_Account":"b","Peer_Account":"c","MsgReadTime":99}`, 60007),
		setReadCall(t0, `{"Report_Account":"x","Peer_Account":"y"}`, 0),
		{Time: t0, API: chatapi.APISendMsg, Body: json.RawMessage(`{}`), HTTPStatus: 200}})
	p.sent(request{from: "a", to: "b", msgTime: 9}, t0.Add(time.Second))  // applied already: 0
	p.sent(request{from: "a", to: "b", msgTime: 13}, t0.Add(time.Second)) // not applied yet
	p.sent(request{from: "a", to: "b", msgTime: 13}, t0.Add(time.Second)) // the same read point
	lat, sent := p.result()
	if n != 1 || sent != 4 || lat.N != 3 || lat.Max != 100 || lat.P50 != 90 {
		t.Errorf("observed %d, sent %d, matched %d, p50 %v, max %v; want 1, 4, 3, 90, 100", n, sent, lat.N, lat.P50, lat.Max)
	}
	if !p.covered(map[string]int64{conversation("b", "a"): 12}) || p.covered(map[string]int64{conversation("b", "a"): 13}) {
		t.Error("covered: want read point 12 covered and 13 not")
	}
}
