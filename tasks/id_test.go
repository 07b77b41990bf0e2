package tasks

import (
	"strings"
	"testing"
)

func TestIDIsDeterministicAndUnambiguous(t *testing.T) {
	a := ID(TypeUnread, "jared", "Jonh", "48374_2837546_1557481126")
	if b := ID(TypeUnread, "jared", "Jonh", "48374_2837546_1557481126"); a != b {
		t.Errorf("same parts, different IDs: %s %s", a, b)
	}
	if !strings.HasPrefix(a, TypeUnread+":") || len(a) != len(TypeUnread)+1+32 {
		t.Errorf("ID %q: want %s: and 32 hex digits", a, TypeUnread)
	}
	distinct := map[string][]string{}
	for _, parts := range [][]string{{"ab", "c"}, {"a", "bc"}, {"abc"}, {"a:b", "c"}, {"a", "b:c"}, {"1:a;", ""}, {"", "1:a;"}} {
		id := ID(TypeUnread, parts...)
		if prev, ok := distinct[id]; ok {
			t.Errorf("parts %q and %q share ID %s", prev, parts, id)
		}
		distinct[id] = parts
	}
	if ID(TypeSetRead, "x") == ID(TypeUnread, "x") {
		t.Error("the task type is not part of the ID")
	}
	long := strings.Repeat("x", 1000) // past the stack buffer
	if ID(TypeUnread, long) == ID(TypeUnread, long+"y") {
		t.Error("long parts collide")
	}
}

func BenchmarkID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ID(TypeUnread, "jared", "Jonh", "48374_2837546_1557481126")
	}
}
