package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// parsedSVG is what a test reads back from a rendered chart.
type parsedSVG struct {
	root  xml.StartElement
	texts []string // the content of every <text>, in order
	rects int
}

// parseSVG decodes data as XML to its end (failing on anything not well-formed) and checks
// that every rectangle has finite, non-negative numbers.
func parseSVG(t *testing.T, data []byte) parsedSVG {
	t.Helper()
	var out parsedSVG
	dec := xml.NewDecoder(bytes.NewReader(data))
	var inText bool
	var cur strings.Builder
	for depth := 0; ; {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if depth != 0 {
				t.Fatalf("document ends at depth %d", depth)
			}
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, data)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			seen := map[string]bool{}
			for _, a := range tok.Attr {
				if seen[a.Name.Local] {
					t.Errorf("<%s>: attribute %s twice", tok.Name.Local, a.Name.Local)
				}
				seen[a.Name.Local] = true
			}
			if depth == 0 {
				out.root = tok.Copy()
			}
			depth++
			switch tok.Name.Local {
			case "text":
				inText = true
				cur.Reset()
			case "rect":
				out.rects++
				for _, a := range tok.Attr {
					if a.Name.Local != "width" && a.Name.Local != "height" && a.Name.Local != "x" && a.Name.Local != "y" {
						continue
					}
					v, err := strconv.ParseFloat(a.Value, 64)
					if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || (a.Name.Local != "y" && v < 0) {
						t.Errorf("rect %s=%q", a.Name.Local, a.Value)
					}
				}
			}
		case xml.EndElement:
			depth--
			if tok.Name.Local == "text" {
				inText = false
				out.texts = append(out.texts, cur.String())
			}
		case xml.CharData:
			if inText {
				cur.Write(tok)
			}
		}
	}
	return out
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// fixedSmallGet is a small-get result with round numbers: 4 paths, 2 runs each.
func fixedSmallGet() ([]string, map[string][]rateRun) {
	names := []string{"gateway", "revproxy", "nginx", "direct"}
	mk := func(rps float64, cpu map[string]float64) []rateRun {
		return []rateRun{{rps: rps, cpu: cpu}, {rps: rps, cpu: cpu}}
	}
	return names, map[string][]rateRun{
		// 0.5 cores at 5000 req/s: 100 µs per request; Redis 0.1 cores: 20 µs.
		"gateway":  mk(5000, map[string]float64{"gateway": 0.5, "redis": 0.1, "MinIO": 1.2}),
		"revproxy": mk(4000, map[string]float64{"revproxy": 0.64, "MinIO": 1.0}),
		"nginx":    mk(5500, map[string]float64{"nginx": 0.22, "MinIO": 1.5}),
		"direct":   mk(6000, map[string]float64{"MinIO": 1.8}),
	}
}

func TestSmallGetChart(t *testing.T) {
	names, runs := fixedSmallGet()
	rps, hop := map[string]float64{}, map[string]float64{}
	for _, n := range names {
		rps[n], _, _ = summarize(runs[n])
		hop[n] = usPerRequest(runs[n], func(u map[string]float64) float64 { return hopOf(n, u) })
	}
	if got, want := hop["gateway"], 120.0; math.Abs(got-want) > 1e-9 {
		t.Fatalf("gateway+redis µs per request: got %v, want %v", got, want)
	}
	costs := smallGetCosts(hop, 100)
	data, err := smallGetChart(names, rps, runs, hop, ratio(rps["gateway"], rps["direct"]), costs).svg()
	if err != nil {
		t.Fatal(err)
	}
	svg := parseSVG(t, data)
	if svg.root.Name.Local != "svg" || attr(svg.root, "xmlns") != "http://www.w3.org/2000/svg" {
		t.Fatalf("root: got <%s xmlns=%q>, want an SVG root", svg.root.Name.Local, attr(svg.root, "xmlns"))
	}
	all := strings.Join(svg.texts, "\n")
	for _, want := range []string{
		"gateway", "revproxy", "nginx", "direct", "gateway+redis", "redis", // bars and legend
		"req/s", "µs CPU per request", "1 KiB GET", // axes and groups
		"5000", "4000", "5500", "6000", // req/s above the bars
		"120", "100", "20", "160", "40", // µs per request: gateway+redis (100 + 20), revproxy, nginx
		"gateway+redis / revproxy: 0.75 (target ≤ 0.8: met)",
		"gateway+redis / nginx: 3.00 (target ≤ 2: not met)",
		"gateway / direct 0.83 (target ≥ 0.75)",
	} {
		if !containsLine(svg.texts, want) && !strings.Contains(all, want) {
			t.Errorf("no text %q in the chart; texts:\n%s", want, all)
		}
	}
	if svg.rects < 1+7 { // background, 4 throughput bars, 2 + 1 + 1 CPU parts
		t.Errorf("got %d rects, want at least 8", svg.rects)
	}
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

func TestLargeGetChart(t *testing.T) {
	r := &largeRuns{
		label: "64 MiB", size: 64 << 20,
		paths: []string{"gateway", "revproxy", "nginx", "direct"},
		mbps:  map[string][]float64{"gateway": {1200, 1250, 1100}, "revproxy": {1000}, "nginx": {900}, "direct": {1400}},
		secs: map[string]map[string]float64{
			"gateway":  {"gateway": 0.25, "redis": 0.01},
			"revproxy": {"revproxy": 0.4},
			"nginx":    {"nginx": 0.6},
			"direct":   {"MinIO": 0.7},
		},
		bytes: map[string]int64{"gateway": 2e9, "revproxy": 2e9, "nginx": 2e9, "direct": 2e9},
	}
	costs := []costTarget{{"large GET 64 MiB: CPU per GB, gateway+redis / nginx", "64 MiB: gateway+redis / nginx", ratio(0.13, 0.3), 0.5}}
	data, err := largeGetChart([]*largeRuns{r}, costs).svg()
	if err != nil {
		t.Fatal(err)
	}
	svg := parseSVG(t, data)
	for _, want := range []string{"MB/s", "CPU seconds per GB", "64 MiB", "1200", "1000", "0.13", "0.20", "0.30",
		"64 MiB: gateway+redis / nginx: 0.43 (target ≤ 0.5: met)"} {
		if !containsLine(svg.texts, want) {
			t.Errorf("no text %q in the chart; texts:\n%s", want, strings.Join(svg.texts, "\n"))
		}
	}
}

// TestChartEscapes checks that text which is markup in XML comes back as written.
func TestChartEscapes(t *testing.T) {
	c := chart{title: `a < b & "c" > d`, panels: []panel{{
		title: "<script>", unit: "x & y", format: "%.1f",
		groups: []group{{label: "A&B", bars: []bar{{name: "gateway", parts: []part{{"gateway", 1.5}}}, {name: "nginx"}}}},
	}}}
	data, err := c.svg()
	if err != nil {
		t.Fatal(err)
	}
	svg := parseSVG(t, data)
	for _, want := range []string{`a < b & "c" > d`, "<script>", "x & y", "A&B", "1.5", "n/a"} {
		if !containsLine(svg.texts, want) {
			t.Errorf("no text %q; texts: %q", want, svg.texts)
		}
	}
}

func TestNiceScale(t *testing.T) {
	tests := []struct {
		name            string
		most            float64
		wantTop, wantSt float64
	}{
		{"requests per second", 6000, 8000, 2000},
		{"microseconds", 205, 250, 50},
		{"seconds per GB", 0.37, 0.5, 0.1},
		{"nothing measured", 0, 1, 0.25},
		{"not a number", math.NaN(), 1, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, step := niceScale(tt.most)
			if math.Abs(top-tt.wantTop) > 1e-9 || math.Abs(step-tt.wantSt) > 1e-9 {
				t.Errorf("niceScale(%v): got %v, %v, want %v, %v", tt.most, top, step, tt.wantTop, tt.wantSt)
			}
			if top < tt.most {
				t.Errorf("top %v below the largest value %v", top, tt.most)
			}
		})
	}
}
