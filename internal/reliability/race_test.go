//go:build race

package reliability

// raceEnabled: under `go test -race` the chatsync binary is built with the
// race detector too, and the log scan fails on any race it reports.
const raceEnabled = true
