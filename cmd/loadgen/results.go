package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// record is one line of the results file: exactly one of its fields set.
type record struct {
	Load     *loadResult     `json:"load,omitempty"`
	E2E      *e2eResult      `json:"e2e,omitempty"`
	Burst    *burstResult    `json:"burst,omitempty"`
	Backlog  *backlogResult  `json:"backlog,omitempty"`
	Memory   *memoryResult   `json:"memory,omitempty"`
	Overload *overloadResult `json:"overload,omitempty"`
	Note     string          `json:"note,omitempty"`
}

// appendRecord appends rec to the results file at path ("": nowhere).
func appendRecord(path string, rec record) error {
	if path == "" {
		return nil
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("results file: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err2 := f.Close(); err == nil {
		err = err2
	}
	return err
}

// emit prints rec as the progress line of a phase and appends it.
func emit(w io.Writer, path string, rec record) error {
	line, _ := json.Marshal(rec)
	fmt.Fprintf(w, "%.2000s\n", line)
	return appendRecord(path, rec)
}

// results is everything a results file holds.
type results struct {
	loads    []loadResult
	e2e      []e2eResult
	bursts   []burstResult
	backlogs []backlogResult
	memory   []memoryResult
	overload []overloadResult
	notes    []string
}

// readResults reads the results file at path.
func readResults(path string) (*results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("results file: %w", err)
	}
	defer f.Close()
	res := &results{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		var rec record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		res.add(rec)
	}
	return res, sc.Err()
}

func (res *results) add(rec record) {
	switch {
	case rec.Load != nil:
		res.loads = append(res.loads, *rec.Load)
	case rec.E2E != nil:
		res.e2e = append(res.e2e, *rec.E2E)
	case rec.Burst != nil:
		res.bursts = append(res.bursts, *rec.Burst)
	case rec.Backlog != nil:
		res.backlogs = append(res.backlogs, *rec.Backlog)
	case rec.Memory != nil:
		res.memory = append(res.memory, *rec.Memory)
	case rec.Overload != nil:
		res.overload = append(res.overload, *rec.Overload)
	case rec.Note != "":
		res.notes = append(res.notes, rec.Note)
	}
}

// bestSweep returns the sweep's chatsync phase with the highest rate.
func (res *results) bestSweep() *loadResult {
	var best *loadResult
	for i, l := range res.loads {
		if l.Label == "sweep" && l.System == systemChatsync && l.Rate == 0 && (best == nil || l.PerSecond > best.PerSecond) {
			best = &res.loads[i]
		}
	}
	return best
}
