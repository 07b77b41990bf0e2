package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

func setReadCall(at time.Time, body string, code int) emulator.Request {
	return emulator.Request{Time: at, API: apiSetMsgRead, Body: json.RawMessage(body), ErrorCode: code, HTTPStatus: 200}
}

func TestProbes(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	p := NewProbes()
	// Probe 1 is posted before its call is seen; probe 2 after (the worker
	// can call Chat before the callback's answer reaches loadgen).
	p.Sent(Request{From: "u1", To: "bot", MsgTime: 1700000000}, t0)
	n := p.Observe([]emulator.Request{
		setReadCall(t0.Add(40*time.Millisecond), `{"Report_Account":"bot","Peer_Account":"u1","MsgReadTime":"1700000000"}`, 0),
		setReadCall(t0.Add(50*time.Millisecond), `{"Report_Account":"bot","Peer_Account":"u2","MsgReadTime":1700000001}`, 0),
		// Ignored: a failed call, another API, a read of something else.
		setReadCall(t0.Add(10*time.Millisecond), `{"Report_Account":"bot","Peer_Account":"u3","MsgReadTime":"1700000002"}`, 60007),
		{Time: t0, API: "openim/sendmsg", Body: json.RawMessage(`{}`), HTTPStatus: 200},
		setReadCall(t0, `{"Report_Account":"x","Peer_Account":"y"}`, 0),
	})
	if n != 2 {
		t.Errorf("Observe recorded %d calls, want 2", n)
	}
	p.Sent(Request{From: "u2", To: "bot", MsgTime: 1700000001}, t0.Add(20*time.Millisecond))
	p.Sent(Request{From: "u3", To: "bot", MsgTime: 1700000002}, t0) // its call failed: unmatched
	// The same call seen again in the next poll counts once.
	p.Observe([]emulator.Request{
		setReadCall(t0.Add(40*time.Millisecond), `{"Report_Account":"bot","Peer_Account":"u1","MsgReadTime":"1700000000"}`, 0),
	})
	lat, sent := p.Result()
	if sent != 3 || lat.N != 2 {
		t.Fatalf("sent %d, matched %d; want 3 and 2", sent, lat.N)
	}
	if lat.P50 != 30 || lat.Max != 40 {
		t.Errorf("latency p50 %v max %v ms, want 30 and 40", lat.P50, lat.Max)
	}

	// Coalesced: one call at read point 12 applies probes at 10 and 11 of
	// its conversation; a probe at 11 posted after it was applied already.
	c := NewProbes()
	c.Sent(Request{From: "a", To: "b", MsgTime: 10}, t0)
	c.Sent(Request{From: "a", To: "b", MsgTime: 11}, t0.Add(10*time.Millisecond))
	c.Observe([]emulator.Request{setReadCall(t0.Add(100*time.Millisecond), `{"Report_Account":"b","Peer_Account":"a","MsgReadTime":"12"}`, 0)})
	c.Sent(Request{From: "a", To: "b", MsgTime: 9}, t0.Add(time.Second))
	c.Sent(Request{From: "a", To: "b", MsgTime: 13}, t0.Add(time.Second)) // not applied yet
	lat, sent = c.Result()
	if sent != 4 || lat.N != 3 || lat.Max != 100 || lat.P50 != 90 {
		t.Errorf("coalesced: sent %d, matched %d, p50 %v, max %v; want 4, 3, 90, 100", sent, lat.N, lat.P50, lat.Max)
	}
}
