package main

import (
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var fixedNow = func() time.Time { return time.Unix(1700000000, 0) }

func newTestGenerator(t *testing.T, mix Mix, seed uint64) *Generator {
	t.Helper()
	g, err := NewGenerator(mix, seed, new(atomic.Uint32), fixedNow)
	if err != nil {
		t.Fatalf("NewGenerator: %v", err)
	}
	return g
}

func TestMixShares(t *testing.T) {
	tests := []struct {
		name string
		mix  Mix
		want map[Kind]float64
	}{
		{"default callbacks", Mix{}, map[Kind]float64{KindSendMsg: 0.80, KindMsgReport: 0.15, KindOther: 0.05}},
		{"with events and auto-read", Mix{Events: 0.1, AutoRead: 0.05, AutoReadAccounts: []string{"bot"}},
			map[Kind]float64{
				KindSendMsg: 0.9 * 0.8 * 0.95, KindSendAutoRead: 0.9 * 0.8 * 0.05, KindMsgReport: 0.9 * 0.15,
				KindOther: 0.9 * 0.05, KindConversationRead: 0.05, KindMessagesRead: 0.025, KindUnreadRefresh: 0.025,
			}},
		{"no messages.read", Mix{SendMsg: 1, Events: 0.3, NoMessagesRead: true},
			map[Kind]float64{KindSendMsg: 0.7, KindConversationRead: 0.2, KindUnreadRefresh: 0.1}},
	}
	const n = 200000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestGenerator(t, tt.mix, 1)
			var counts [numKinds]int
			for range n {
				counts[g.Next().Kind]++
			}
			for k := range numKinds {
				got := float64(counts[k]) / n
				if want := tt.want[k]; math.Abs(got-want) > 0.005 {
					t.Errorf("share of %v = %.4f, want %.4f", k, got, want)
				}
			}
		})
	}
}

func TestGeneratorRequests(t *testing.T) {
	mix := Mix{Users: 50, Events: 0.2, AutoRead: 0.5, AutoReadAccounts: []string{"bot1", "bot2"}}
	seq := new(atomic.Uint32)
	g1, err := NewGenerator(mix, 1, seq, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := NewGenerator(mix, 2, seq, fixedNow) // another worker of the same run
	if err != nil {
		t.Fatal(err)
	}
	keys := make(map[string]bool)
	ids := make(map[string]bool)
	for i := range 20000 {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		r := g.Next()
		if r.From == r.To {
			t.Fatalf("request %d is from %s to itself", i, r.From)
		}
		switch r.Kind {
		case KindSendMsg, KindSendAutoRead:
			if keys[r.MsgKey] {
				t.Fatalf("MsgKey %s repeats", r.MsgKey)
			}
			keys[r.MsgKey] = true
			want := MsgKey(r.MsgSeq, r.MsgRandom, r.MsgTime)
			if r.MsgKey != want || r.MsgTime != 1700000000 {
				t.Fatalf("MsgKey %s, MsgTime %d: want %s at 1700000000", r.MsgKey, r.MsgTime, want)
			}
			isBot := r.To == "bot1" || r.To == "bot2"
			if isBot != (r.Kind == KindSendAutoRead) {
				t.Fatalf("%v addressed to %s", r.Kind, r.To)
			}
			if r.Command != cmdAfterSendMsg {
				t.Fatalf("%v has command %s", r.Kind, r.Command)
			}
		case KindOther:
			if r.Command == cmdAfterSendMsg || r.Command == cmdAfterMsgReport || r.Command == "" {
				t.Fatalf("other request has command %q", r.Command)
			}
		}
		if r.Kind.IsEvent() {
			if r.ID == "" || ids[r.ID] {
				t.Fatalf("app event webhook-id %q is empty or repeats", r.ID)
			}
			ids[r.ID] = true
		}
		for _, u := range []string{r.From, r.To} {
			if !strings.HasPrefix(u, "bot") {
				n, err := strconv.Atoi(strings.TrimPrefix(u, "u"))
				if err != nil || n < 0 || n >= 50 {
					t.Fatalf("user %q is outside the 50 users", u)
				}
			}
		}
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	a, b := newTestGenerator(t, Mix{Events: 0.1}, 42), newTestGenerator(t, Mix{Events: 0.1}, 42)
	for range 100 {
		if diff := cmp.Diff(a.Next(), b.Next()); diff != "" {
			t.Fatalf("same seed, different requests (-a +b):\n%s", diff)
		}
	}
}

func TestMixValidate(t *testing.T) {
	tests := []struct {
		name    string
		mix     Mix
		wantErr string
	}{
		{"zero is fine", Mix{}, ""},
		{"negative share", Mix{SendMsg: -1, MsgReport: 1}, "negative"},
		{"events over one", Mix{Events: 1.5}, "events share"},
		{"auto-read without accounts", Mix{AutoRead: 0.1}, "auto-read accounts"},
		{"one user", Mix{Users: 1}, "users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.mix.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMixFlags(t *testing.T) {
	m := mixFlags{shares: "70,20,10", events: 0.2, users: 100, autoRead: "bot1, bot2", arShare: 0.1}
	got, err := m.mix(true)
	if err != nil {
		t.Fatal(err)
	}
	want := Mix{SendMsg: 70, MsgReport: 20, Other: 10, Events: 0.2, Users: 100, AutoRead: 0.1,
		AutoReadAccounts: []string{"bot1", "bot2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mix (-want +got):\n%s", diff)
	}
	got, err = m.mix(false)
	if err != nil || got.Events != 0 {
		t.Errorf("mix without an events secret: Events = %v, err %v; want 0, nil", got.Events, err)
	}
	for _, bad := range []string{"80,20", "a,b,c", "0,0,0", "-1,1,1"} {
		if _, err := (&mixFlags{shares: bad, users: 10}).mix(false); err == nil {
			t.Errorf("-mix %q: no error", bad)
		}
	}
}
