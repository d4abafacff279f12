package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW     = 1000
	chartH     = 500
	panelW     = 490 // each of the two panels, side by side
	plotLeft   = 80  // inside a panel: room for the y labels
	plotRight  = 20
	plotTop    = 85
	plotBottom = 390
	legendY    = 455
)

var (
	palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"} // by system
	dashes  = []string{"", "7 4", "2 3", "10 3 2 3"}                          // by mode
)

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func esc(s string) string { return xmlEscaper.Replace(s) }

// fmtNum writes axis labels: 2.5k for thousands, else the shortest form.
func fmtNum(v float64) string {
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v/1000, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// linearTicks returns about n round ticks from 0 to at least max.
func linearTicks(max float64, n int) []float64 {
	if !(max > 0) {
		max = 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := 0.0; ; v += step {
		ticks = append(ticks, v)
		if v >= max-step*1e-9 {
			break
		}
	}
	return ticks
}

// logTicks returns the 1-2-5 values that bracket [lo, hi] (lo > 0).
func logTicks(lo, hi float64) []float64 {
	if !(lo > 0) {
		lo = 1
	}
	if hi < lo {
		hi = lo
	}
	seq := func(i int) float64 { // ..., 0.1, 0.2, 0.5, 1, 2, 5, 10, ...
		e := int(math.Floor(float64(i) / 3))
		return []float64{1, 2, 5}[i-3*e] * math.Pow(10, float64(e))
	}
	i := 3 * int(math.Floor(math.Log10(lo)))
	for seq(i+1) <= lo*(1+1e-9) {
		i++
	}
	ticks := []float64{seq(i)}
	for ticks[len(ticks)-1] < hi*(1-1e-9) || len(ticks) < 2 {
		i++
		ticks = append(ticks, seq(i))
	}
	return ticks
}

// axis maps a data value to a pixel coordinate.
type axis struct {
	lo, hi     float64 // data domain, after the transform
	from, to   float64 // pixels
	log        bool
	log2       bool
	ticks      []float64
	tickLabels []string
}

func (a axis) transform(v float64) float64 {
	switch {
	case a.log2:
		return math.Log2(v)
	case a.log:
		return math.Log10(v)
	}
	return v
}

func (a axis) pos(v float64) float64 {
	t := a.transform(v)
	if a.hi == a.lo {
		return (a.from + a.to) / 2
	}
	t = math.Max(a.lo, math.Min(a.hi, t)) // clamp: a 0 on a log axis sits at the bottom
	return a.from + (t-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// panel is one of the two plots.
type panel struct {
	title, yLabel string
	value         func(Point) float64
	logY          bool
	whiskers      bool // draw the min..max over rounds (throughput only)
}

func renderSVG(s Summary, title, note string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="28" text-anchor="middle" font-size="17" font-weight="bold">%s</text>`+"\n", chartW/2, esc(title))
	if note != "" {
		fmt.Fprintf(&b, `<text x="%d" y="50" text-anchor="middle" fill="#555">%s</text>`+"\n", chartW/2, esc(note))
	}
	panels := []panel{
		{title: "Throughput", yLabel: "ops/s (median over rounds; bars: min to max)", value: func(p Point) float64 { return p.OpsPerS }, whiskers: true},
		{title: "p99 latency", yLabel: "p99 latency, ms (log scale)", value: func(p Point) float64 { return p.P99 }, logY: true},
	}
	for i, p := range panels {
		renderPanel(&b, s, p, float64(i*panelW+10))
	}
	renderLegend(&b, s)
	b.WriteString("</svg>\n")
	return b.String()
}

func renderPanel(b *strings.Builder, s Summary, p panel, left float64) {
	x0, x1 := left+plotLeft, left+panelW-plotRight
	// The x axis: log2 of the client counts, a tick at each one measured.
	xa := axis{from: x0, to: x1, log2: true}
	if len(s.Clients) > 0 {
		xa.lo, xa.hi = math.Log2(float64(s.Clients[0])), math.Log2(float64(s.Clients[len(s.Clients)-1]))
	}
	pad := math.Max((xa.hi-xa.lo)*0.05, 0.25)
	xa.lo, xa.hi = xa.lo-pad, xa.hi+pad
	// The y axis, from every value shown.
	var lo, hi float64 = math.Inf(1), 0
	for _, se := range s.Series {
		for _, pt := range se.Points {
			v := p.value(pt)
			if p.whiskers {
				v = math.Max(v, pt.MaxOps)
			}
			hi = math.Max(hi, v)
			if v > 0 {
				lo = math.Min(lo, v)
			}
		}
	}
	ya := axis{from: plotBottom, to: plotTop, log: p.logY}
	if p.logY {
		ya.ticks = logTicks(lo, hi)
		ya.lo, ya.hi = math.Log10(ya.ticks[0]), math.Log10(ya.ticks[len(ya.ticks)-1])
	} else {
		ya.ticks = linearTicks(hi, 5)
		ya.lo, ya.hi = 0, ya.ticks[len(ya.ticks)-1]
	}

	fmt.Fprintf(b, `<g class="panel"><text x="%.1f" y="%d" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n",
		(x0+x1)/2, plotTop-12, esc(p.title))
	// Grid, ticks and labels.
	for _, t := range ya.ticks {
		y := ya.pos(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", x0-6, y, fmtNum(t))
	}
	for _, c := range s.Clients {
		x := xa.pos(float64(c))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>`+"\n", x, plotTop, x, plotBottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x, plotBottom+18, c)
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="none" stroke="#333"/>`+"\n", x0, plotTop, x1-x0, plotBottom-plotTop)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">clients (log scale)</text>`+"\n", (x0+x1)/2, plotBottom+40)
	cy := float64(plotTop+plotBottom) / 2
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		left+18, cy, left+18, cy, esc(p.yLabel))
	// One line per series.
	for _, se := range s.Series {
		color, dash := style(s, se)
		var pts []string
		for _, pt := range se.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xa.pos(float64(pt.Clients)), ya.pos(p.value(pt))))
		}
		dashAttr := ""
		if dash != "" {
			dashAttr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		fmt.Fprintf(b, `<polyline class="series" data-series="%s %s" points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n",
			esc(se.System), esc(se.Mode), strings.Join(pts, " "), color, dashAttr)
		for _, pt := range se.Points {
			x, y := xa.pos(float64(pt.Clients)), ya.pos(p.value(pt))
			if p.whiskers && pt.Rounds > 1 {
				fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`+"\n",
					x, ya.pos(pt.MinOps), x, ya.pos(pt.MaxOps), color)
			}
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %s, %d clients: %s (%d rounds)</title></circle>`+"\n",
				x, y, color, esc(se.System), esc(se.Mode), pt.Clients, esc(describe(p, pt)), pt.Rounds)
		}
	}
	b.WriteString("</g>\n")
}

func describe(p panel, pt Point) string {
	if p.logY {
		return fmt.Sprintf("p99 %.2f ms", pt.P99)
	}
	return fmt.Sprintf("%.0f ops/s (min %.0f, max %.0f)", pt.OpsPerS, pt.MinOps, pt.MaxOps)
}

// style gives a series its colour (by system) and dash (by mode).
func style(s Summary, se Series) (color, dash string) {
	si, mi := 0, 0
	for i, sys := range s.Systems {
		if sys == se.System {
			si = i
		}
	}
	for i, m := range s.Modes {
		if m == se.Mode {
			mi = i
		}
	}
	return palette[si%len(palette)], dashes[mi%len(dashes)]
}

func renderLegend(b *strings.Builder, s Summary) {
	const entryW = 190
	x := float64(chartW)/2 - float64(len(s.Series)*entryW)/2
	b.WriteString(`<g class="legend">` + "\n")
	for _, se := range s.Series {
		color, dash := style(s, se)
		dashAttr := ""
		if dash != "" {
			dashAttr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"%s/>`, x, legendY, x+34, legendY, color, dashAttr)
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%d" r="3.5" fill="%s"/>`, x+17, legendY, color)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" dominant-baseline="middle">%s %s</text>`+"\n", x+42, legendY, esc(se.System), esc(modeLabel(se.Mode)))
		x += entryW
	}
	b.WriteString("</g>\n")
}

// modeLabel names a mode as the chart means it.
func modeLabel(m string) string {
	if m == "read" {
		return "linearizable reads"
	}
	if m == "write" {
		return "writes"
	}
	return m
}
