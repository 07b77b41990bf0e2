// Package redistest gives tests a real Redis database: the redis-server that
// the test command (scripts/test.sh) starts and names in REDIS_URL.
package redistest

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// URL returns REDIS_URL. When it is unset the test fails under CI or the
// test command (CI or CHATSYNC_REQUIRE_REDIS set) and is skipped otherwise,
// with a message saying how to run it.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("REDIS_URL")
	if u != "" {
		return u
	}
	const msg = "REDIS_URL is not set: run the suite with `make test`, which starts redis-server"
	if os.Getenv("CI") != "" || os.Getenv("CHATSYNC_REQUIRE_REDIS") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// Options returns connection options for database db of the test Redis,
// flushed before the test. Give each package its own db so that packages
// tested in parallel do not meet.
func Options(tb testing.TB, db int) *redis.Options {
	tb.Helper()
	opt, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatalf("REDIS_URL: %v", err)
	}
	opt.DB = db
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		tb.Fatalf("flush redis db %d: %v", db, err)
	}
	return opt
}
