// Package reliability is chatsync's reliability and security suite: Go
// tests that run the real chatsync binary (serve and work as child
// processes) against real redis-server processes (AOF, appendfsync
// everysec, so that they can be stopped, killed and restarted) and the
// Chat emulator over HTTP, inject faults, and check that nothing
// acknowledged is ever lost.
//
// The pieces:
//
//   - [Harness] is one deployment: a redis-server, the emulator, one
//     `chatsync serve` and N `chatsync work` processes, wired through the
//     environment exactly as an operator would wire them, every process
//     writing its output to a log file. The emulator runs inside the test
//     binary (over HTTP on loopback) rather than as `chatsync emulator`,
//     because the ledger needs every request it saw and the command keeps
//     only the last 1000.
//   - With Config.Sentinel the Redis is a [Sentinels] deployment instead: a
//     primary and a replica with chatsync's own ACL user, and three
//     password-protected sentinels; serve and work get its
//     redis-sentinel:// URL, and TestSentinelFailover kills primaries under
//     load.
//   - [Sender] plays Chat and the app backend: it signs and posts
//     callbacks and app events and remembers every signature it sent, so
//     that the log scan can look for them.
//   - [Ledger] records, for every acknowledged callback or event, the Chat
//     REST call it must cause ([Effect]); [Ledger.Check] matches them with
//     the successful calls the emulator recorded: none missing (lost), and
//     any extra counted (duplicates).
//   - [Scanner] reads every log line the suite's processes wrote and
//     reports any that holds a secret, a UserSig, a Sign or webhook
//     signature that was sent, or a message body.
//
// The tests need redis-server on PATH (scripts/test.sh installs it). They
// are skipped with -short, and when redis-server is missing unless CI or
// CHATSYNC_REQUIRE_REDIS is set. Under -race the chatsync binary is built
// with the race detector too, and a race report in any log fails the test.
// CHATSYNC_RELIABILITY_LONG=1 runs the heavier variants (scripts/reliability.sh
// runs them and the fuzz targets); CHATSYNC_RELIABILITY_DIR=<dir> keeps
// every process's logs and Redis files there. regression_test.go holds the
// regression tests of problems this suite found and that were fixed.
//
// Everything listens on 127.0.0.1 only. Processes are ended by their own
// PID, and die with the test binary (Linux parent-death signal).
package reliability
