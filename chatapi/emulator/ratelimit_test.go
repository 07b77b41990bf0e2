package emulator_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

func TestRateLimitSlidingWindow(t *testing.T) {
	h := setup(t, func(c *emulator.Config) { c.RateLimit = 5 })
	h.emu.ImportAccounts("a")
	const api, body = "openim/get_c2c_unread_msg_num", `{"To_Account":"a"}`
	expect := func(step string, want ...int) {
		t.Helper()
		for i, w := range want {
			if got := h.code(api, body); got != w {
				t.Fatalf("%s: call %d: ErrorCode %d, want %d", step, i+1, got, w)
			}
		}
	}
	expect("first second", 0, 0, 0) // at t0
	h.clock.Advance(500 * time.Millisecond)
	expect("half a second later", 0, 0, 60007, 60007)
	// Another API has its own window.
	if code := h.code("openim/admin_set_msg_read", `{"Report_Account":"a","Peer_Account":"a"}`); code != 0 {
		t.Errorf("other API: ErrorCode %d, want 0", code)
	}
	h.clock.Advance(499 * time.Millisecond)
	expect("just under a second after t0", 60007)
	h.clock.Advance(time.Millisecond) // the three calls at t0 leave the window; rejected ones never counted
	expect("one second after t0", 0, 0, 0, 60007)
	h.clock.Advance(500 * time.Millisecond) // the two calls at t0+0.5s leave
	expect("one second after t0+0.5s", 0, 0, 60007)

	h.emu.SetRateLimit(-1)
	expect("unlimited", 0, 0, 0, 0, 0, 0, 0, 0)

	st := h.emu.Stats().APIs[api]
	if st.ErrorCodes[60007] != 5 {
		t.Errorf("Stats 60007 = %d, want 5", st.ErrorCodes[60007])
	}
}

// TestRateLimitRealClock checks with the real clock that a burst over the limit is cut at
// exactly the limit.
func TestRateLimitRealClock(t *testing.T) {
	h := setup(t, func(c *emulator.Config) {
		c.RateLimit = 20
		c.Now = time.Now
	})
	h.emu.ImportAccounts("a")
	var okCount, limited atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 30 {
		wg.Go(func() {
			switch code := h.code("openim/get_c2c_unread_msg_num", `{"To_Account":"a"}`); code {
			case 0:
				okCount.Add(1)
			case 60007:
				limited.Add(1)
			default:
				t.Errorf("ErrorCode %d", code)
			}
		})
	}
	wg.Wait()
	if time.Since(start) < 900*time.Millisecond && (okCount.Load() != 20 || limited.Load() != 10) {
		t.Errorf("accepted %d and limited %d, want 20 and 10", okCount.Load(), limited.Load())
	}
}
