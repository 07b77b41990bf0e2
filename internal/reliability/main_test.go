package reliability

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// build builds the chatsync binary once, on first use, into buildDir.
var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "chatsync-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	build.dir = dir
	return m.Run()
}

// binary returns the chatsync binary, built on first use (with the race
// detector under -race). It skips the test with -short, and when
// redis-server is missing unless CI or CHATSYNC_REQUIRE_REDIS is set.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the reliability scenarios do not run with -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		const msg = "redis-server is not on PATH: run the suite with `make test`, which installs it"
		if os.Getenv("CI") != "" || os.Getenv("CHATSYNC_REQUIRE_REDIS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	build.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		build.bin, build.err = Build(ctx, build.dir, raceEnabled)
		t.Logf("built chatsync (race detector: %v) in %v", raceEnabled, time.Since(start).Round(time.Millisecond))
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// long reports whether the heavier variants run (CHATSYNC_RELIABILITY_LONG=1).
func long() bool { return os.Getenv("CHATSYNC_RELIABILITY_LONG") != "" }

// scale returns short normally and long with CHATSYNC_RELIABILITY_LONG.
func scale(short, long_ int) int {
	if long() {
		return long_
	}
	return short
}
