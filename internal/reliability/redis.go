package reliability

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server child process on a loopback port with its own
// directory, append-only file (appendfsync everysec) and password, so that
// it can be stopped, killed and started again with its data.
type Redis struct {
	*Process
	Port     int
	Password string
	Dir      string
}

// NewRedis returns a redis-server (from PATH) for dir, logging to logPath,
// on a free port, with extra arguments. It does not start it.
func NewRedis(dir, logPath, password string, extra ...string) (*Redis, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--dbfilename", "dump.rdb",
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--requirepass", password,
		"--maxmemory-policy", "noeviction",
		"--daemonize", "no", "--logfile", "",
	}
	args = append(args, extra...)
	return &Redis{
		Process:  NewProcess("redis-server", logPath, path, args, nil),
		Port:     port,
		Password: password,
		Dir:      filepath.Clean(dir),
	}, nil
}

// Addr returns host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL returns the REDIS_URL of database 0, with the password.
func (r *Redis) URL() string { return "redis://:" + r.Password + "@" + r.Addr() + "/0" }

// Options returns go-redis options for database 0.
func (r *Redis) Options() *redis.Options {
	return &redis.Options{Addr: r.Addr(), Password: r.Password, DialTimeout: time.Second}
}

// ConnOpt returns asynq's connection options for database 0.
func (r *Redis) ConnOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: r.Addr(), Password: r.Password, DialTimeout: time.Second}
}

// Start starts redis-server and waits until it answers PING, which it does
// only once its append-only file is loaded.
func (r *Redis) Start(ctx context.Context) error {
	if err := r.Process.Start(); err != nil {
		return err
	}
	err := Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		if !r.Running() {
			return false, fmt.Errorf("redis-server exited: %v", r.ExitErr())
		}
		err := r.ping()
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("redis-server on %s not ready: %w", r.Addr(), err)
	}
	return nil
}

// ping authenticates and sends PING over a fresh connection. (A go-redis
// client would log every refused dial while redis-server starts.)
func (r *Redis) ping() error {
	conn, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	auth := fmt.Sprintf("*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n", len(r.Password), r.Password)
	if _, err := io.WriteString(conn, auth); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	for _, want := range []string{"+OK", "+PONG"} {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(line); got != want {
			return fmt.Errorf("redis answered %q, want %s", got, want)
		}
	}
	return nil
}
