package emulator

import (
	"testing"
	"time"
)

// TestLimiterOutOfOrder checks the window when calls reach the limiter slightly out of
// arrival order, as concurrent handlers do.
func TestLimiterOutOfOrder(t *testing.T) {
	var l limiter
	l.init(2)
	t0 := time.Unix(1700000000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	steps := []struct {
		at   time.Time
		want bool
	}{
		{ms(10), true},
		{ms(0), true},    // arrived earlier, counted later
		{ms(5), false},   // the call at 10ms counts although it arrived after 5ms
		{ms(1000), true}, // window (0, 1000]: only the call at 10ms
		{ms(1009), false},
		{ms(1010), true}, // window (10, 1010]: only the call at 1000ms
		{ms(1011), false},
	}
	for i, s := range steps {
		if got := l.allow("api", s.at); got != s.want {
			t.Errorf("step %d at %v: allow = %v, want %v", i, s.at.Sub(t0), got, s.want)
		}
	}
}
