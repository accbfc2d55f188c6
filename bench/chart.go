package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Bar charts of a scenario's results, written as SVG next to the report and embedded in it.
// The SVG is built as a tree of elements and written with encoding/xml, which escapes every
// text and attribute, so it is well-formed by construction. No script and no stylesheet:
// every colour is explicit and the background is white, so a chart reads the same in a light
// or a dark viewer; every bar also carries a <title> (the browser's tooltip).

// chart is one SVG: panels stacked top to bottom, a legend under the title.
type chart struct {
	title  string
	panels []panel
}

// panel is one plot with its own y axis: groups of bars side by side.
type panel struct {
	title  string   // above the plot, e.g. "Throughput (higher is better)"
	unit   string   // the y axis' label, e.g. "MB/s"
	format string   // of the value written above each bar, e.g. "%.0f"
	groups []group  // along the x axis, e.g. object sizes
	notes  []string // lines under the plot, e.g. ratios against their targets
}

// group is one x position, e.g. "64 MiB": a bar per path.
type group struct {
	label string
	bars  []bar
}

// bar is one path's value: one part, or parts stacked from the axis up (the gateway and its
// Redis server). A bar without parts was not measured and is drawn as "n/a".
type bar struct {
	name  string
	parts []part
}

// part is one stacked piece of a bar; its name picks the colour and the legend entry.
type part struct {
	name  string
	value float64
}

func (b bar) total() float64 {
	var t float64
	for _, p := range b.parts {
		t += p.value
	}
	return t
}

// palette gives each path or process its colour (Okabe–Ito, readable by colour-blind eyes)
// and the colour of a value written on it, in the order of the legend.
var palette = []struct{ name, fill, ink string }{
	{"gateway", "#0072B2", "#FFFFFF"},
	{"redis", "#56B4E9", "#111111"},
	{"revproxy", "#E69F00", "#111111"},
	{"nginx", "#009E73", "#FFFFFF"},
	{"direct", "#8C8C8C", "#111111"},
	{"redirect", "#CC79A7", "#111111"},
}

// colours returns name's fill and ink, and its rank in the legend (names not in the palette
// come last, dark grey).
func colours(name string) (fill, ink string, rank int) {
	for i, c := range palette {
		if c.name == name {
			return c.fill, c.ink, i
		}
	}
	return "#555555", "#FFFFFF", len(palette)
}

// Layout, in SVG user units (pixels at 100 %).
const (
	chartWidth  = 800.0
	plotLeft    = 84.0 // room for the tick labels and the rotated axis label
	plotRight   = 24.0
	plotHeight  = 200.0
	titleHeight = 34.0
	legendRow   = 26.0
	panelTitle  = 30.0
	belowPlot   = 40.0 // bar names, then group labels
	noteLine    = 17.0
	panelGap    = 22.0
	textColour  = "#222222"
	gridColour  = "#DDDDDD"
	axisColour  = "#444444"
)

// node is one SVG element.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []*node    `xml:",any"`
}

// el makes an element from attribute name/value pairs (values formatted with %v, floats
// with two decimals at most).
func el(name string, attrs ...any) *node {
	n := &node{XMLName: xml.Name{Local: name}}
	for i := 0; i+1 < len(attrs); i += 2 {
		v := attrs[i+1]
		var s string
		if f, ok := v.(float64); ok {
			s = strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
		} else {
			s = fmt.Sprint(v)
		}
		n.Attrs = append(n.Attrs, xml.Attr{Name: xml.Name{Local: attrs[i].(string)}, Value: s})
	}
	return n
}

func (n *node) add(children ...*node) *node {
	n.Children = append(n.Children, children...)
	return n
}

func (n *node) text(s string) *node {
	n.Text = s
	return n
}

// label is a text element in the chart's font; extra attributes come after the position and
// replace the defaults of the same name (the fill).
func label(x, y float64, size int, anchor, s string, extra ...any) *node {
	attrs := []any{"x", x, "y", y, "font-size", size, "text-anchor", anchor}
	fill := true
	for i := 0; i < len(extra); i += 2 {
		fill = fill && extra[i] != "fill"
	}
	if fill {
		attrs = append(attrs, "fill", textColour)
	}
	return el("text", append(attrs, extra...)...).text(s)
}

// svg renders the chart.
func (c chart) svg() ([]byte, error) {
	height := titleHeight + legendRow
	for _, p := range c.panels {
		height += p.height()
	}
	root := el("svg", "xmlns", "http://www.w3.org/2000/svg", "width", chartWidth, "height", height,
		"viewBox", fmt.Sprintf("0 0 %g %g", chartWidth, height), "font-family", "DejaVu Sans, Helvetica, Arial, sans-serif")
	root.add(el("title").text(c.title))
	root.add(el("rect", "x", 0, "y", 0, "width", chartWidth, "height", height, "fill", "#FFFFFF"))
	root.add(label(chartWidth/2, 24, 16, "middle", c.title, "font-weight", "bold"))
	root.add(c.legend(titleHeight + 14))
	y := titleHeight + legendRow
	for _, p := range c.panels {
		root.add(p.render(y))
		y += p.height()
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", " ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// legend lists every part name the chart shows once.
func (c chart) legend(y float64) *node {
	var names []string
	for _, p := range c.panels {
		for _, gr := range p.groups {
			for _, b := range gr.bars {
				for _, pt := range b.parts {
					if !slices.Contains(names, pt.name) {
						names = append(names, pt.name)
					}
				}
			}
		}
	}
	rank := func(n string) int {
		_, _, r := colours(n)
		return r
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	g := el("g")
	x := plotLeft
	for _, n := range names {
		fill, _, _ := colours(n)
		g.add(el("rect", "x", x, "y", y-10, "width", 12, "height", 12, "fill", fill))
		g.add(label(x+17, y, 12, "start", n))
		x += 30 + 7.5*float64(len(n))
	}
	return g
}

func (p panel) height() float64 {
	return panelTitle + plotHeight + belowPlot + noteLine*float64(len(p.notes)) + panelGap
}

// render draws the panel with its top at y.
func (p panel) render(y float64) *node {
	g := el("g")
	g.add(label(plotLeft, y+18, 14, "start", p.title, "font-weight", "bold"))
	top, bottom := y+panelTitle, y+panelTitle+plotHeight
	width := chartWidth - plotLeft - plotRight
	var most float64
	for _, gr := range p.groups {
		for _, b := range gr.bars {
			most = max(most, b.total())
		}
	}
	scaleTop, step := niceScale(most)
	yOf := func(v float64) float64 { return bottom - v/scaleTop*plotHeight }
	for i := range int(math.Round(scaleTop/step)) + 1 {
		v := float64(i) * step
		g.add(el("line", "x1", plotLeft, "x2", chartWidth-plotRight, "y1", yOf(v), "y2", yOf(v), "stroke", gridColour, "stroke-width", 1))
		g.add(label(plotLeft-6, yOf(v)+4, 11, "end", tickText(v, step)))
	}
	g.add(label(20, (top+bottom)/2, 12, "middle", p.unit, "transform", fmt.Sprintf("rotate(-90 20 %g)", (top+bottom)/2)))
	groupWidth := width / float64(max(1, len(p.groups)))
	for i, gr := range p.groups {
		x0 := plotLeft + float64(i)*groupWidth
		g.add(p.renderGroup(gr, x0, groupWidth, bottom, yOf))
	}
	g.add(el("line", "x1", plotLeft, "x2", chartWidth-plotRight, "y1", bottom, "y2", bottom, "stroke", axisColour, "stroke-width", 1.5))
	g.add(el("line", "x1", plotLeft, "x2", plotLeft, "y1", top, "y2", bottom, "stroke", axisColour, "stroke-width", 1.5))
	for i, n := range p.notes {
		g.add(label(plotLeft, bottom+belowPlot+noteLine*float64(i)+8, 12, "start", n))
	}
	return g
}

// renderGroup draws one group's bars between x0 and x0+w, the axis at bottom.
func (p panel) renderGroup(gr group, x0, w, bottom float64, yOf func(float64) float64) *node {
	g := el("g")
	inner := w * 0.9
	slot := inner / float64(max(1, len(gr.bars)))
	bw := min(slot*0.78, 84)
	for j, b := range gr.bars {
		cx := x0 + (w-inner)/2 + slot*float64(j) + slot/2
		g.add(label(cx, bottom+15, 11, "middle", b.name))
		if len(b.parts) == 0 {
			g.add(label(cx, bottom-6, 11, "middle", "n/a"))
			continue
		}
		// The parts of a stacked bar are labelled inside when every one is tall enough for it.
		inside := len(b.parts) > 1
		for _, pt := range b.parts {
			inside = inside && yOf(0)-yOf(pt.value) >= 16
		}
		base := 0.0
		for _, pt := range b.parts {
			fill, ink, _ := colours(pt.name)
			y0, y1 := yOf(base+pt.value), yOf(base)
			r := el("rect", "x", cx-bw/2, "y", y0, "width", bw, "height", max(0, y1-y0), "fill", fill)
			r.add(el("title").text(fmt.Sprintf("%s, %s, %s: "+p.format+" %s", gr.label, b.name, pt.name, pt.value, p.unit)))
			g.add(r)
			if inside {
				g.add(label(cx, (y0+y1)/2+4, 10, "middle", fmt.Sprintf(p.format, pt.value), "fill", ink))
			}
			base += pt.value
		}
		g.add(label(cx, yOf(base)-5, 12, "middle", fmt.Sprintf(p.format, base), "font-weight", "bold"))
	}
	g.add(label(x0+w/2, bottom+32, 12, "middle", gr.label, "font-weight", "bold"))
	return g
}

// niceScale returns the top of the y axis and its tick step for values up to most: a step of
// 1, 2, 2.5 or 5 × 10^k giving about five ticks, and room above the tallest bar for its value.
func niceScale(most float64) (top, step float64) {
	if !(most > 0) || math.IsInf(most, 0) {
		return 1, 0.25
	}
	raw := most / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return math.Ceil(most*1.1/step) * step, step
}

// tickText writes a tick value with as many decimals as the step needs.
func tickText(v, step float64) string {
	d := 0
	for d < 6 && math.Abs(step*math.Pow(10, float64(d))-math.Round(step*math.Pow(10, float64(d)))) > 1e-9 {
		d++
	}
	return strconv.FormatFloat(v, 'f', d, 64)
}

// writeChart writes c as <report base>-<scenario>.svg in the report's folder and returns the
// Markdown that embeds it.
func (b *bench) writeChart(scenario string, c chart) (string, error) {
	data, err := c.svg()
	if err != nil {
		return "", fmt.Errorf("chart %s: %w", scenario, err)
	}
	name := b.rep.date + b.o.variant() + "-" + scenario + ".svg"
	if err := os.WriteFile(filepath.Join(b.o.out, name), data, 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("![%s](%s)\n", scenario, name), nil
}
