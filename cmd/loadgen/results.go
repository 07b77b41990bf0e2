package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// Record types of the results file: one JSON object a line,
// {"type":…,"data":…}, appended by every phase and read by report.
const (
	recMachine  = "machine"
	recLoad     = "load"
	recRedis    = "redis"
	recE2E      = "e2e"
	recBurst    = "burst"
	recBacklog  = "backlog"
	recMemory   = "memory"
	recOverload = "overload"
	recNote     = "note"
)

type record struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// appendRecord appends one record to the results file at path; an empty
// path appends nothing.
func appendRecord(path, typ string, v any) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", typ, err)
	}
	line, err := json.Marshal(record{Type: typ, Data: data})
	if err != nil {
		return fmt.Errorf("encode %s record: %w", typ, err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("results file: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("results file: %w", err)
	}
	return f.Close()
}

// Results is everything a results file holds, by record type.
type Results struct {
	Machine  *Machine
	Loads    []LoadResult
	Redis    []RedisResult
	E2E      []E2EResult
	Bursts   []BurstResult
	Backlogs []BacklogResult
	Memory   []MemoryResult
	Overload []OverloadResult
	Notes    []string
}

// readResults reads the results file at path.
func readResults(path string) (*Results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("results file: %w", err)
	}
	defer f.Close()
	res := &Results{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := res.add(sc.Bytes()); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("results file: %w", err)
	}
	return res, nil
}

func (res *Results) add(line []byte) error {
	var rec record
	if err := json.Unmarshal(line, &rec); err != nil {
		return err
	}
	var err error
	switch rec.Type {
	case recMachine:
		res.Machine = new(Machine)
		err = json.Unmarshal(rec.Data, res.Machine)
	case recLoad:
		err = appendJSON(rec.Data, &res.Loads)
	case recRedis:
		err = appendJSON(rec.Data, &res.Redis)
	case recE2E:
		err = appendJSON(rec.Data, &res.E2E)
	case recBurst:
		err = appendJSON(rec.Data, &res.Bursts)
	case recBacklog:
		err = appendJSON(rec.Data, &res.Backlogs)
	case recMemory:
		err = appendJSON(rec.Data, &res.Memory)
	case recOverload:
		err = appendJSON(rec.Data, &res.Overload)
	case recNote:
		err = appendJSON(rec.Data, &res.Notes)
	default:
		return fmt.Errorf("unknown record type %q", rec.Type)
	}
	if err != nil {
		return fmt.Errorf("%s record: %w", rec.Type, err)
	}
	return nil
}

func appendJSON[T any](data []byte, dst *[]T) error {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*dst = append(*dst, v)
	return nil
}
