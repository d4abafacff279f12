// Command chart turns the CSV that bench/compare.sh writes into a summary
// on stdout (the median over rounds of each system, mode and client count,
// with the ratio of the first system to the second) and an SVG chart with
// two panels, throughput and p99 latency against clients, one line per
// system and mode. It needs nothing beyond the standard library.
//
//	go run ./bench/chart [-title T] [-note N] docs/bench/compare.csv docs/bench/compare.svg
//
// The CSV has the header system,mode,clients,round,ops_per_s,p50_ms,p99_ms,errors.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	title := flag.String("title", "raftkv and etcd, closed-loop kvcli bench", "chart title")
	note := flag.String("note", "", "a line under the title (how the figures were made)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: chart [-title T] [-note N] RESULTS.csv CHART.svg")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *title, *note, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(csvPath, svgPath, title, note string, out io.Writer) error {
	f, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := parseCSV(f)
	if err != nil {
		return fmt.Errorf("%s: %w", csvPath, err)
	}
	sum := summarize(rows)
	if err := writeSummary(out, sum); err != nil {
		return err
	}
	svg := renderSVG(sum, title, note)
	if err := os.WriteFile(svgPath, []byte(svg), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "chart: %s\n", svgPath)
	return nil
}

// Row is one line of the CSV: one run of one system.
type Row struct {
	System, Mode string
	Clients      int
	Round        int
	OpsPerS      float64
	P50, P99     float64 // milliseconds
	Errors       int64
	// CPU time per operation, in microseconds, from the optional columns
	// server_cpu_us (every node of the cluster, summed) and client_cpu_us
	// (the load generator); -1 when the row has none.
	ServerCPU, ClientCPU float64
}

var columns = []string{"system", "mode", "clients", "round", "ops_per_s", "p50_ms", "p99_ms", "errors"}

// cpuColumns are optional: a CSV from before they existed still reads.
var cpuColumns = []string{"server_cpu_us", "client_cpu_us"}

// parseCSV reads the rows. Columns are found by their header names, so
// their order may change; each must be there once, and every field parse.
func parseCSV(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file: want a header " + strings.Join(columns, ","))
	}
	if err != nil {
		return nil, err
	}
	at := map[string]int{}
	for i, h := range header {
		at[strings.TrimSpace(h)] = i
	}
	for _, c := range columns {
		if _, ok := at[c]; !ok {
			return nil, fmt.Errorf("line 1: no column %q (want %s)", c, strings.Join(columns, ","))
		}
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		field := func(name string) string { return strings.TrimSpace(rec[at[name]]) }
		bad := func(name string, err error) error {
			return fmt.Errorf("line %d: %s %q: %w", line, name, field(name), err)
		}
		row := Row{System: field("system"), Mode: field("mode")}
		if row.System == "" || row.Mode == "" {
			return nil, fmt.Errorf("line %d: empty system or mode", line)
		}
		if row.Clients, err = strconv.Atoi(field("clients")); err != nil || row.Clients < 1 {
			return nil, bad("clients", errOr(err, "want a positive count"))
		}
		if row.Round, err = strconv.Atoi(field("round")); err != nil {
			return nil, bad("round", err)
		}
		for _, f := range []struct {
			name string
			to   *float64
		}{{"ops_per_s", &row.OpsPerS}, {"p50_ms", &row.P50}, {"p99_ms", &row.P99}} {
			v, err := strconv.ParseFloat(field(f.name), 64)
			if err != nil || v < 0 || v != v {
				return nil, bad(f.name, errOr(err, "want a number >= 0"))
			}
			*f.to = v
		}
		if row.Errors, err = strconv.ParseInt(field("errors"), 10, 64); err != nil || row.Errors < 0 {
			return nil, bad("errors", errOr(err, "want a count"))
		}
		row.ServerCPU, row.ClientCPU = -1, -1
		for i, to := range []*float64{&row.ServerCPU, &row.ClientCPU} {
			name := cpuColumns[i]
			if _, ok := at[name]; !ok || field(name) == "" {
				continue // not measured: the run's CPU could not be read
			}
			v, err := strconv.ParseFloat(field(name), 64)
			if err != nil || v < 0 || v != v {
				return nil, bad(name, errOr(err, "want a number >= 0"))
			}
			*to = v
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("no rows after the header")
	}
	return rows, nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// median of vs (the mean of the middle two for an even count); 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Point is the median over rounds of one system, mode and client count.
type Point struct {
	Clients        int
	OpsPerS        float64
	P50, P99       float64
	Errors         int64 // summed over rounds
	Rounds         int
	MinOps, MaxOps float64 // the spread over rounds
	// Medians of the rounds that measured them; -1 when none did.
	ServerCPU, ClientCPU float64
}

// Series is one line of the chart.
type Series struct {
	System, Mode string
	Points       []Point // by clients
}

// Summary is every series, systems and modes in display order.
type Summary struct {
	Systems, Modes []string
	Clients        []int
	Series         []Series
}

// Get returns the point of a series at a client count.
func (s *Summary) Get(system, mode string, clients int) (Point, bool) {
	for _, se := range s.Series {
		if se.System == system && se.Mode == mode {
			for _, p := range se.Points {
				if p.Clients == clients {
					return p, true
				}
			}
		}
	}
	return Point{}, false
}

// orderFirst sorts names with the preferred ones first, in that order,
// then the rest alphabetically.
func orderFirst(names []string, preferred ...string) []string {
	rank := func(n string) int {
		if i := slices.Index(preferred, n); i >= 0 {
			return i
		}
		return len(preferred)
	}
	s := slices.Clone(names)
	sort.SliceStable(s, func(i, j int) bool {
		ri, rj := rank(s[i]), rank(s[j])
		if ri != rj {
			return ri < rj
		}
		return s[i] < s[j]
	})
	return s
}

func summarize(rows []Row) Summary {
	type key struct {
		system, mode string
		clients      int
	}
	groups := map[key][]Row{}
	systems, modes := map[string]bool{}, map[string]bool{}
	clients := map[int]bool{}
	for _, r := range rows {
		k := key{r.System, r.Mode, r.Clients}
		groups[k] = append(groups[k], r)
		systems[r.System], modes[r.Mode], clients[r.Clients] = true, true, true
	}
	var sum Summary
	for s := range systems {
		sum.Systems = append(sum.Systems, s)
	}
	for m := range modes {
		sum.Modes = append(sum.Modes, m)
	}
	for c := range clients {
		sum.Clients = append(sum.Clients, c)
	}
	sum.Systems = orderFirst(sum.Systems, "raftkv", "etcd")
	sum.Modes = orderFirst(sum.Modes, "write", "read")
	slices.Sort(sum.Clients)
	for _, s := range sum.Systems {
		for _, m := range sum.Modes {
			se := Series{System: s, Mode: m}
			for _, c := range sum.Clients {
				g := groups[key{s, m, c}]
				if len(g) == 0 {
					continue
				}
				var ops, p50, p99 []float64
				p := Point{Clients: c, Rounds: len(g)}
				for _, r := range g {
					ops, p50, p99 = append(ops, r.OpsPerS), append(p50, r.P50), append(p99, r.P99)
					p.Errors += r.Errors
				}
				p.OpsPerS, p.P50, p.P99 = median(ops), median(p50), median(p99)
				p.ServerCPU, p.ClientCPU = medianMeasured(g, func(r Row) float64 { return r.ServerCPU }), medianMeasured(g, func(r Row) float64 { return r.ClientCPU })
				p.MinOps, p.MaxOps = slices.Min(ops), slices.Max(ops)
				se.Points = append(se.Points, p)
			}
			if len(se.Points) > 0 {
				sum.Series = append(sum.Series, se)
			}
		}
	}
	return sum
}

func cpuCell(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

// medianMeasured is the median of f over the rows where it was measured
// (not -1), or -1 when none was.
func medianMeasured(rows []Row, f func(Row) float64) float64 {
	var vs []float64
	for _, r := range rows {
		if v := f(r); v >= 0 {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return -1
	}
	return median(vs)
}

// hasCPU says whether any point measured CPU time.
func (s *Summary) hasCPU() bool {
	for _, se := range s.Series {
		for _, p := range se.Points {
			if p.ServerCPU >= 0 || p.ClientCPU >= 0 {
				return true
			}
		}
	}
	return false
}

// ratio is a/b as text, or "-" when either is missing or b is 0.
func ratio(a, b float64, ok bool) string {
	if !ok || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// writeSummary prints one row per mode and client count: each system's
// medians and, with two systems, the ratio first/second of throughput and
// of p99 (above 1: the first has more throughput, or a worse p99).
func writeSummary(w io.Writer, s Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// With more than two (the HTTP floor), the ratios are of the first two.
	pair := len(s.Systems) >= 2
	var a, b string
	head := []string{"mode", "clients"}
	for _, sys := range s.Systems {
		head = append(head, sys+" ops/s")
	}
	if pair {
		a, b = s.Systems[0], s.Systems[1]
		head = append(head, "ratio")
	}
	for _, sys := range s.Systems {
		head = append(head, sys+" p50 ms")
	}
	for _, sys := range s.Systems {
		head = append(head, sys+" p99 ms")
	}
	if pair {
		head = append(head, "ratio")
	}
	cpu := s.hasCPU()
	if cpu {
		for _, sys := range s.Systems {
			head = append(head, sys+" server µs/op")
		}
		for _, sys := range s.Systems {
			head = append(head, sys+" client µs/op")
		}
	}
	head = append(head, "errors", "rounds")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, m := range s.Modes {
		for _, c := range s.Clients {
			pts := make([]Point, len(s.Systems))
			have := make([]bool, len(s.Systems))
			anyPt := false
			for i, sys := range s.Systems {
				pts[i], have[i] = s.Get(sys, m, c)
				anyPt = anyPt || have[i]
			}
			if !anyPt {
				continue
			}
			col := func(f func(Point) string) []string {
				var out []string
				for i := range s.Systems {
					if have[i] {
						out = append(out, f(pts[i]))
					} else {
						out = append(out, "-")
					}
				}
				return out
			}
			cells := []string{m, strconv.Itoa(c)}
			cells = append(cells, col(func(p Point) string { return fmt.Sprintf("%.0f", p.OpsPerS) })...)
			if pair {
				cells = append(cells, ratio(pts[0].OpsPerS, pts[1].OpsPerS, have[0] && have[1]))
			}
			cells = append(cells, col(func(p Point) string { return fmt.Sprintf("%.2f", p.P50) })...)
			cells = append(cells, col(func(p Point) string { return fmt.Sprintf("%.2f", p.P99) })...)
			if pair {
				cells = append(cells, ratio(pts[0].P99, pts[1].P99, have[0] && have[1]))
			}
			if cpu {
				cells = append(cells, col(func(p Point) string { return cpuCell(p.ServerCPU) })...)
				cells = append(cells, col(func(p Point) string { return cpuCell(p.ClientCPU) })...)
			}
			cells = append(cells, strings.Join(col(func(p Point) string { return strconv.FormatInt(p.Errors, 10) }), "/"))
			cells = append(cells, strings.Join(col(func(p Point) string { return strconv.Itoa(p.Rounds) }), "/"))
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
	if pair {
		fmt.Fprintf(tw, "(medians over rounds; ratio = %s/%s; errors and rounds: %s)\n", a, b, strings.Join(s.Systems, "/"))
	}
	if cpu {
		fmt.Fprintln(tw, "(µs/op: CPU time per operation, user and system; server: the three nodes summed)")
	}
	return tw.Flush()
}
