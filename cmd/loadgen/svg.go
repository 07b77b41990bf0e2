package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/template"
)

// Chart is a line chart over categories (the concurrencies) with a left
// axis (throughput) and a right axis (latency).
type Chart struct {
	Title         string
	XLabel        string
	X             []int // category values, left to right
	LeftLabel     string
	RightLabel    string
	Left, Right   []Series
	Width, Height int // default 760 × 420
}

// Series is one line. A NaN value leaves a gap.
type Series struct {
	Name   string
	Color  string
	Dashed bool
	Values []float64
}

// Chart geometry.
const (
	marginLeft, marginRight, marginTop, marginBottom = 80, 80, 50, 90
	yTicks                                           = 5
)

// svgPoint is a plotted point.
type svgPoint struct{ X, Y float64 }

// svgLine is a series laid out: its segments (split at gaps) and points.
type svgLine struct {
	Name, Color, Dash string
	Segments          []string // "x,y x,y …" for polyline
	Points            []svgPoint
	LegendX, LegendY  float64
	LegendEnd         float64
}

// svgTick is an axis tick with its label.
type svgTick struct {
	Pos   float64
	Label string
}

// svgLayout is everything the template draws, in pixels.
type svgLayout struct {
	Width, Height          int
	Title                  string
	XLabel                 string
	LeftLabel, RightLabel  string
	X0, X1, Y0, Y1         float64 // plot area: X0 left, X1 right, Y0 bottom, Y1 top
	XTicks, LTicks, RTicks []svgTick
	Lines                  []svgLine
	MidX, MidY             float64
	LeftX, RightX          float64 // where the axis labels stand
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func maxOf(series []Series) float64 {
	m := 0.0
	for _, s := range series {
		for _, v := range s.Values {
			if !math.IsNaN(v) && v > m {
				m = v
			}
		}
	}
	return m
}

// formatTick renders an axis value compactly: 12000 → 12k, 2.5 → 2.5.
func formatTick(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// layout computes the chart's geometry.
func (c Chart) layout() svgLayout {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 760
	}
	if h == 0 {
		h = 420
	}
	l := svgLayout{Width: w, Height: h, Title: c.Title, XLabel: c.XLabel, LeftLabel: c.LeftLabel, RightLabel: c.RightLabel,
		X0: marginLeft, X1: float64(w - marginRight), Y0: float64(h - marginBottom), Y1: marginTop}
	l.MidX, l.MidY = (l.X0+l.X1)/2, (l.Y0+l.Y1)/2
	l.LeftX, l.RightX = l.X0-55, l.X1+55
	xAt := func(i int) float64 {
		if len(c.X) <= 1 {
			return (l.X0 + l.X1) / 2
		}
		return l.X0 + (l.X1-l.X0)*float64(i)/float64(len(c.X)-1)
	}
	for i, x := range c.X {
		l.XTicks = append(l.XTicks, svgTick{Pos: xAt(i), Label: strconv.Itoa(x)})
	}
	lmax, rmax := niceCeil(maxOf(c.Left)), niceCeil(maxOf(c.Right))
	for i := 0; i <= yTicks; i++ {
		pos := l.Y0 - (l.Y0-l.Y1)*float64(i)/yTicks
		l.LTicks = append(l.LTicks, svgTick{Pos: pos, Label: formatTick(lmax * float64(i) / yTicks)})
		l.RTicks = append(l.RTicks, svgTick{Pos: pos, Label: formatTick(rmax * float64(i) / yTicks)})
	}
	n := 0
	add := func(s Series, top float64) {
		ln := svgLine{Name: s.Name, Color: s.Color, LegendX: l.X0 + float64(n%3)*210, LegendY: l.Y0 + 56 + float64(n/3)*18}
		ln.LegendEnd = ln.LegendX + 24
		if s.Dashed {
			ln.Dash = "6 4"
		}
		var seg []string
		for i, v := range s.Values {
			if i >= len(c.X) {
				break
			}
			if math.IsNaN(v) {
				if len(seg) > 0 {
					ln.Segments = append(ln.Segments, strings.Join(seg, " "))
				}
				seg = nil
				continue
			}
			p := svgPoint{X: round1(xAt(i)), Y: round1(l.Y0 - (l.Y0-l.Y1)*v/top)}
			ln.Points = append(ln.Points, p)
			seg = append(seg, fmt.Sprintf("%g,%g", p.X, p.Y))
		}
		if len(seg) > 0 {
			ln.Segments = append(ln.Segments, strings.Join(seg, " "))
		}
		l.Lines = append(l.Lines, ln)
		n++
	}
	for _, s := range c.Left {
		add(s, lmax)
	}
	for _, s := range c.Right {
		add(s, rmax)
	}
	return l
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

var svgTemplate = template.Must(template.New("chart").Funcs(template.FuncMap{"xml": xmlEscape}).Parse(
	`<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{{.X0}}" y="28" font-size="15" font-weight="bold">{{xml .Title}}</text>
{{- range .LTicks}}
<line x1="{{$.X0}}" y1="{{.Pos}}" x2="{{$.X1}}" y2="{{.Pos}}" stroke="#e5e5e5"/>
<text x="{{$.X0}}" y="{{.Pos}}" dx="-6" dy="4" text-anchor="end">{{.Label}}</text>
{{- end}}
{{- range .RTicks}}
<text x="{{$.X1}}" y="{{.Pos}}" dx="6" dy="4">{{.Label}}</text>
{{- end}}
{{- range .XTicks}}
<line x1="{{.Pos}}" y1="{{$.Y0}}" x2="{{.Pos}}" y2="{{$.Y1}}" stroke="#f0f0f0"/>
<text x="{{.Pos}}" y="{{$.Y0}}" dy="18" text-anchor="middle">{{.Label}}</text>
{{- end}}
<line x1="{{.X0}}" y1="{{.Y0}}" x2="{{.X1}}" y2="{{.Y0}}" stroke="#333"/>
<line x1="{{.X0}}" y1="{{.Y0}}" x2="{{.X0}}" y2="{{.Y1}}" stroke="#333"/>
<line x1="{{.X1}}" y1="{{.Y0}}" x2="{{.X1}}" y2="{{.Y1}}" stroke="#333"/>
<text x="{{.MidX}}" y="{{.Y0}}" dy="36" text-anchor="middle">{{xml .XLabel}}</text>
<text transform="translate({{.LeftX}} {{.MidY}}) rotate(-90)" text-anchor="middle">{{xml .LeftLabel}}</text>
<text transform="translate({{.RightX}} {{.MidY}}) rotate(90)" text-anchor="middle">{{xml .RightLabel}}</text>
{{- range .Lines}}
{{- $l := .}}
{{- range .Segments}}
<polyline points="{{.}}" fill="none" stroke="{{$l.Color}}" stroke-width="2"{{if $l.Dash}} stroke-dasharray="{{$l.Dash}}"{{end}}/>
{{- end}}
{{- range .Points}}
<circle cx="{{.X}}" cy="{{.Y}}" r="3" fill="{{$l.Color}}"/>
{{- end}}
<line x1="{{.LegendX}}" y1="{{.LegendY}}" x2="{{.LegendEnd}}" y2="{{.LegendY}}" stroke="{{.Color}}" stroke-width="2"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}}/>
<text x="{{.LegendEnd}}" y="{{.LegendY}}" dx="6" dy="4">{{xml .Name}}</text>
{{- end}}
</svg>
`))

// WriteSVG renders c as an SVG document.
func (c Chart) WriteSVG(w io.Writer) error {
	if err := svgTemplate.Execute(w, c.layout()); err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	return nil
}

// xmlEscape escapes text for XML character data and attributes.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
