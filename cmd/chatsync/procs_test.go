package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file runs the real program: built once per test binary, started as
// processes beside a redis-server of its own.

// binary is the chatsync binary built for the end-to-end tests.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// requireTool returns the path of an executable the end-to-end tests need.
// Under CI or the test command (CI or CHATSYNC_REQUIRE_REDIS set) a missing
// tool fails the test; elsewhere it skips it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not installed: run the suite with `make test`, which installs it", name)
	if os.Getenv("CI") != "" || os.Getenv("CHATSYNC_REQUIRE_REDIS") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// buildChatsync builds the program the way the Dockerfile does (static,
// -trimpath) and returns its path.
func buildChatsync(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "chatsync-e2e-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "chatsync")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", binary.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// TestBinaryIsStatic checks what the Dockerfile relies on for its
// distroless "static" stage: no dynamic loader, no shared libraries.
func TestBinaryIsStatic(t *testing.T) {
	requireTool(t, "go")
	if runtime.GOOS != "linux" {
		t.Skip("ELF check on linux only")
	}
	f, err := elf.Open(buildChatsync(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
}

// startRedis starts a redis-server on a free loopback port in a temporary
// directory, with extra arguments, and returns its URL. It is stopped when
// the test ends.
func startRedis(t *testing.T, extra ...string) string {
	t.Helper()
	server := requireTool(t, "redis-server")
	port := freePort(t)
	args := []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"}
	startProcess(t, server, append(args, extra...)...)
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer rdb.Close()
	poll(t, 10*time.Second, "redis-server answers", func() (bool, error) {
		return rdb.Ping(context.Background()).Err() == nil, nil
	})
	return url
}

// startProcess runs path with args until the test ends, and shows its
// output if the test failed.
func startProcess(t *testing.T, path string, args ...string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(path), out.String())
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a running chatsync process.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, once done
}

// startProc starts the binary with args and exactly env (plus PATH and
// HOME). Its output is shown if the test fails. It is killed at the end of
// the test if it is still running.
func startProc(t *testing.T, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(buildChatsync(t), args...), done: make(chan struct{})}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, p.stderr.String())
		}
	})
	return p
}

// waitLog waits for a JSON log record with message msg and returns it.
func (p *proc) waitLog(msg string) map[string]any {
	p.t.Helper()
	var rec map[string]any
	poll(p.t, 20*time.Second, fmt.Sprintf("%s logs %q", p.name, msg), func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			var r map[string]any
			if json.Unmarshal([]byte(line), &r) == nil && r["msg"] == msg {
				rec = r
				return true, nil
			}
		}
		return false, nil
	})
	return rec
}

// url returns http://addr for the address logged in field of record msg.
func (p *proc) url(msg, field string) string {
	p.t.Helper()
	addr, _ := p.waitLog(msg)[field].(string)
	if addr == "" {
		p.t.Fatalf("%s: log %q has no %s", p.name, msg, field)
	}
	return "http://" + addr
}

// wait waits for a short-lived command and returns its standard output;
// it fails the test unless the command exits with status 0.
func (p *proc) wait() string {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s did not exit within 30s", p.name)
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", p.name, p.err, p.stdout.String(), p.stderr.String())
	}
	return p.stdout.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM (unless the process has exited already) and checks
// that the process exits with status 0 within bound.
func (p *proc) stop(bound time.Duration) {
	p.t.Helper()
	if !p.exited() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.exited() {
			p.t.Fatalf("%s: SIGTERM: %v", p.name, err)
		}
	}
	select {
	case <-p.done:
	case <-time.After(bound):
		p.t.Fatalf("%s did not exit within %v of SIGTERM", p.name, bound)
	}
	if p.err != nil {
		p.t.Errorf("%s exited with %v after SIGTERM, want status 0", p.name, p.err)
	}
}

// poll calls cond until it reports true, fails with an error, or bound
// passes.
func poll(t *testing.T, bound time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			last = err
			if !errors.Is(err, errRetry) {
				t.Fatalf("waiting until %s: %v", what, err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting until %s: not after %v (last: %v)", what, bound, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// errRetry marks an error that poll keeps trying after.
var errRetry = errors.New("not yet")

// getJSON GETs url with headers and decodes a 200 answer into v.
func getJSON(url string, v any, header ...string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: %d %s", errRetry, url, resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

// syncBuffer is a bytes.Buffer safe for a writer and readers at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
