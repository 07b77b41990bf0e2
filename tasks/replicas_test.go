package tasks_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/chatsync/chatsync/internal/reliability"
	"github.com/chatsync/chatsync/tasks"
)

// TestWaitForEveryOnlineReplica: with WaitReplicas 1 and two replicas
// online, an input is acknowledged only once both have it. With one of
// them stopped (SIGSTOP: its primary still lists it online) Accept fails
// with ErrNotReplicated, where WAIT 1 alone would have passed on the
// other, and Sentinel could have promoted the stopped one without the
// input. Once the stopped replica has not acknowledged for more than 2 s
// it no longer counts, and Accept succeeds again with the other; the same
// once it is gone (SIGKILL).
func TestWaitForEveryOnlineReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, pw := t.TempDir(), "replicas-test-pw"
	start := func(name string, extra ...string) *reliability.Redis {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		r, err := reliability.NewRedis(d, d+".log", pw, extra...)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Kill() })
		return r
	}
	primary := start("primary", "--repl-diskless-sync-delay", "0")
	var replicas []*reliability.Redis
	for _, name := range []string{"replica1", "replica2"} {
		replicas = append(replicas, start(name, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port), "--masterauth", pw))
	}
	rdb := redis.NewClient(primary.Options())
	t.Cleanup(func() { rdb.Close() })
	online := func(want int) {
		t.Helper()
		err := reliability.Poll(ctx, 20*time.Second, 50*time.Millisecond, func() (bool, error) {
			info, err := rdb.Info(ctx, "replication").Result()
			return err == nil && strings.Count(info, ",state=online,") == want, err
		})
		if err != nil {
			t.Fatalf("%d replicas online: %v", want, err)
		}
	}
	online(2)

	in, err := tasks.NewIntake(tasks.IntakeConfig{Redis: rdb, Enqueuer: asynq.NewClientFromRedisClient(rdb),
		WaitReplicas: 1, WaitTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	accept := func() error {
		n++
		peer := "peer" + strconv.Itoa(n)
		_, err := in.Accept(ctx, tasks.Input{ID: "input-" + peer, Account: "alice", Window: time.Minute,
			SetRead: &tasks.SetRead{Account: "alice", Peer: peer, ReadTime: 1700000000}})
		return err
	}
	acceptedWithin := func(d time.Duration, what string) {
		t.Helper()
		err := reliability.Poll(ctx, d, 100*time.Millisecond, func() (bool, error) {
			err := accept()
			return err == nil, err
		})
		if err != nil {
			t.Fatalf("%s: Accept = %v, want success within %v", what, err, d)
		}
	}
	// A replica just online may still be loading what it got: give it a
	// moment to answer WAIT.
	acceptedWithin(5*time.Second, "both replicas up")

	if err := replicas[1].Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	err = accept()
	if !errors.Is(err, tasks.ErrNotReplicated) || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("one of two online replicas stopped: Accept = %v, want ErrNotReplicated (1 of 2)", err)
	}

	stopped := time.Now()
	acceptedWithin(8*time.Second, "one replica stopped for long")
	// Redis counts lag in whole seconds since the replica's last
	// acknowledgement, which it sends every second: a lag above 2 can come
	// just over 1 s after the stop, not sooner.
	if d := time.Since(stopped); d < time.Second {
		t.Errorf("accepted %v after the replica stopped: its lag cannot have exceeded 2 s", d)
	}
	if err := replicas[1].Kill(); err != nil {
		t.Fatal(err)
	}
	online(1)
	acceptedWithin(5*time.Second, "the stopped replica gone, one left")
}
