package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNiceCeil(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0, 1}, {-3, 1}, {math.NaN(), 1}, {1, 1}, {1.2, 2}, {2, 2}, {3, 5}, {7, 10}, {10, 10},
		{11, 20}, {4999, 5000}, {5001, 10000}, {0.03, 0.05},
	}
	for _, tt := range tests {
		if got := niceCeil(tt.in); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFormatTick(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{{0, "0"}, {2.5, "2.5"}, {400, "400"}, {1000, "1k"}, {12000, "12k"}, {2500, "2.5k"}}
	for _, tt := range tests {
		if got := formatTick(tt.in); got != tt.want {
			t.Errorf("formatTick(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChartLayout(t *testing.T) {
	c := Chart{
		X:     []int{1, 2, 4},
		Left:  []Series{{Name: "rps", Color: "blue", Values: []float64{0, 500, 1000}}},
		Right: []Series{{Name: "p99", Color: "red", Dashed: true, Values: []float64{1, math.NaN(), 4}}},
		Width: 360, Height: 240,
	}
	l := c.layout()
	// Plot area: x 80…280, y 150 (bottom) … 50 (top).
	if diff := cmp.Diff([]svgTick{{80, "1"}, {180, "2"}, {280, "4"}}, l.XTicks); diff != "" {
		t.Errorf("x ticks (-want +got):\n%s", diff)
	}
	if got := []string{l.LTicks[0].Label, l.LTicks[5].Label, l.RTicks[5].Label}; !cmp.Equal(got, []string{"0", "1k", "5"}) {
		t.Errorf("axis ends %v, want 0, 1k (left top), 5 (right top)", got)
	}
	want := []svgLine{
		{Name: "rps", Color: "blue", Segments: []string{"80,150 180,100 280,50"},
			Points: []svgPoint{{80, 150}, {180, 100}, {280, 50}}, LegendX: 80, LegendY: 206, LegendEnd: 104},
		// The NaN splits the line; the right axis tops out at niceCeil(4) = 5.
		{Name: "p99", Color: "red", Dash: "6 4", Segments: []string{"80,130", "280,70"},
			Points: []svgPoint{{80, 130}, {280, 70}}, LegendX: 290, LegendY: 206, LegendEnd: 314},
	}
	if diff := cmp.Diff(want, l.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// The SVG is well-formed XML and escapes text.
func TestWriteSVG(t *testing.T) {
	c := Chart{Title: `p99 < 10 ms & "fast"`, XLabel: "concurrency", LeftLabel: "req/s", RightLabel: "ms",
		X: []int{1, 8, 64}, Left: []Series{{Name: "a<b", Color: "#000", Values: []float64{1, 2, 3}}},
		Right: []Series{{Name: "p99", Color: "#f00", Values: []float64{3, 2, math.NaN()}}}}
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	counts := map[string]int{}
	dec := xml.NewDecoder(strings.NewReader(out))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, out)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
	if counts["svg"] != 1 || counts["polyline"] != 2 || counts["circle"] != 5 {
		t.Errorf("elements %v: want one svg, two polylines, five circles", counts)
	}
	if strings.Contains(out, "a<b") || !strings.Contains(out, "a&lt;b") {
		t.Errorf("series name not escaped:\n%s", out)
	}
}
