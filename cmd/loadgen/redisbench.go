package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisResult is one redis-benchmark run: Redis's own rate for a command.
type RedisResult struct {
	Test        string  `json:"test"` // "LPUSH" or "EVALSHA"
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	PerSecond   float64 `json:"per_second"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
}

// lpushScript is the script of the EVALSHA test: an LPUSH behind Lua, the
// way asynq enqueues.
const lpushScript = "return redis.call('LPUSH', KEYS[1], ARGV[1])"

// redisBenchmark runs redis-benchmark against the Redis of opt (a loopback
// address) for test "LPUSH" or "EVALSHA" with c clients and n requests.
func redisBenchmark(ctx context.Context, bin string, opt *redis.Options, test string, c, n int) (RedisResult, error) {
	host, port, err := splitHostPort(opt.Addr)
	if err != nil {
		return RedisResult{}, err
	}
	args := []string{"-h", host, "-p", port, "--dbnum", strconv.Itoa(opt.DB), "-c", strconv.Itoa(c),
		"-n", strconv.Itoa(n), "-q", "--csv"}
	if opt.Password != "" {
		args = append(args, "-a", opt.Password)
	}
	switch test {
	case "LPUSH":
		args = append(args, "-t", "lpush")
	case "EVALSHA":
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		sha, err := rdb.ScriptLoad(ctx, lpushScript).Result()
		if err != nil {
			return RedisResult{}, fmt.Errorf("load script: %w", err)
		}
		args = append(args, "evalsha", sha, "1", "loadgen:bench:list", "x")
	default:
		return RedisResult{}, fmt.Errorf("unknown redis-benchmark test %q", test)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		return RedisResult{}, fmt.Errorf("redis-benchmark %s: %w", test, err)
	}
	rps, p50, p99, err := parseRedisCSV(out)
	if err != nil {
		return RedisResult{}, fmt.Errorf("redis-benchmark %s: %w", test, err)
	}
	return RedisResult{Test: test, Concurrency: c, Requests: n, PerSecond: rps, P50: p50, P99: p99}, nil
}

// parseRedisCSV reads the rate and latencies of redis-benchmark --csv's
// first result line.
func parseRedisCSV(out []byte) (rps, p50, p99 float64, err error) {
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("parse csv: %w", err)
	}
	if len(rows) < 2 {
		return 0, 0, 0, fmt.Errorf("no result in %q", out)
	}
	col := make(map[string]int)
	for i, h := range rows[0] {
		col[h] = i
	}
	get := func(name string) (float64, error) {
		i, ok := col[name]
		if !ok || i >= len(rows[1]) {
			return 0, fmt.Errorf("no %s column", name)
		}
		return strconv.ParseFloat(rows[1][i], 64)
	}
	if rps, err = get("rps"); err != nil {
		return 0, 0, 0, err
	}
	if p50, err = get("p50_latency_ms"); err != nil {
		return 0, 0, 0, err
	}
	if p99, err = get("p99_latency_ms"); err != nil {
		return 0, 0, 0, err
	}
	return rps, p50, p99, nil
}
