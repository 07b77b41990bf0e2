package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// embeddedRedis starts an in-process miniredis for dev and returns options
// pointing at it. asynq's Lua scripts run on it; key expiry follows
// miniredis's FastForward rather than the clock, so retention and TTLs do
// not expire in dev, which a development session never notices.
func embeddedRedis() (*miniredis.Miniredis, *redis.Options, error) {
	m, err := miniredis.Run()
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded redis: %w", err)
	}
	return m, &redis.Options{Addr: m.Addr()}, nil
}

// pingRedis checks that Redis answers within a short bound; it is the
// readiness check of every process.
func pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// waitRedis pings Redis until it answers, for up to bound, so that a
// process started together with Redis (compose, systemd) does not exit
// while Redis is still loading its AOF.
func waitRedis(ctx context.Context, rdb redis.UniversalClient, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for {
		err := pingRedis(ctx, rdb)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkRedis fails on a Redis older than 6.2 (asynq's scripts need it) and
// on a Redis Cluster node (asynq keeps each queue in one hash slot; Sentinel
// is the supported way to high availability). It warns when the eviction
// policy is not noeviction (an evicted task is lost without a trace) and
// when fewer replicas are connected than waitReplicas (every acknowledgement
// would then fail). Managed Redis may refuse CONFIG GET; that is not an
// error.
func checkRedis(ctx context.Context, rdb redis.UniversalClient, waitReplicas int, log *slog.Logger) error {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("redis info: %w", err)
	}
	version := infoField(info, "redis_version")
	if !atLeast(version, 6, 2) {
		return fmt.Errorf("redis %s is too old: chatsync needs Redis 6.2 or newer", version)
	}
	if info, err := rdb.Info(ctx, "cluster").Result(); err == nil && infoField(info, "cluster_enabled") == "1" {
		return fmt.Errorf("REDIS_URL: %w", errCluster)
	}
	policy, err := rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if err == nil && policy["maxmemory-policy"] != "" && policy["maxmemory-policy"] != "noeviction" {
		log.Warn("redis maxmemory-policy should be noeviction: under memory pressure Redis would drop queued tasks",
			"maxmemory_policy", policy["maxmemory-policy"])
	}
	if waitReplicas > 0 {
		info, err := rdb.Info(ctx, "replication").Result()
		n, _ := strconv.Atoi(infoField(info, "connected_slaves"))
		if err == nil && n < waitReplicas {
			log.Warn("fewer replicas connected than REDIS_WAIT_REPLICAS: events are refused (503) until enough replicas are back",
				"connected_replicas", n, "wait_replicas", waitReplicas)
		}
	}
	return nil
}

// infoField returns one field of an INFO answer.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// atLeast reports whether version "major.minor.patch" is at least
// major.minor.
func atLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
