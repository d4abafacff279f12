package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const sample = `system,mode,clients,round,ops_per_s,p50_ms,p99_ms,errors
raftkv,write,1,1,500,1.9,3.5,0
etcd,write,1,1,400,2.4,5.0,0
raftkv,write,1,2,700,1.5,3.0,0
etcd,write,1,2,420,2.3,4.0,1
raftkv,write,1,3,600,1.6,4.0,0
etcd,write,1,3,380,2.6,6.0,0
raftkv,read,1,1,900,1.0,2.0,0
etcd,read,1,1,450,2.1,4.2,0
raftkv,write,16,1,4000,3.8,9.0,2
etcd,write,16,1,3000,5.0,12.0,0
raftkv,write,16,2,5000,3.2,8.0,0
etcd,write,16,2,3400,4.6,10.0,0
`

func TestParseCSV(t *testing.T) {
	rows, err := parseCSV(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 12 {
		t.Fatalf("%d rows", len(rows))
	}
	want := Row{System: "etcd", Mode: "write", Clients: 1, Round: 2, OpsPerS: 420, P50: 2.3, P99: 4, Errors: 1, ServerCPU: -1, ClientCPU: -1}
	if rows[3] != want {
		t.Errorf("row 4 = %+v, want %+v", rows[3], want)
	}
	// Columns are found by name.
	swapped := "errors,round,system,mode,p99_ms,p50_ms,ops_per_s,clients\n3,1,raftkv,read,9.5,2.5,1234.5,64\n"
	rows, err = parseCSV(strings.NewReader(swapped))
	if err != nil {
		t.Fatal(err)
	}
	if got := (Row{System: "raftkv", Mode: "read", Clients: 64, Round: 1, OpsPerS: 1234.5, P50: 2.5, P99: 9.5, Errors: 3, ServerCPU: -1, ClientCPU: -1}); rows[0] != got {
		t.Errorf("swapped columns: %+v", rows[0])
	}
}

func TestParseCSVErrors(t *testing.T) {
	head := "system,mode,clients,round,ops_per_s,p50_ms,p99_ms,errors\n"
	for name, tt := range map[string]struct{ in, want string }{
		"empty":          {"", "empty file"},
		"header only":    {head, "no rows"},
		"missing column": {"system,mode,clients,round,ops_per_s,p50_ms,errors\nraftkv,write,1,1,1,1,0\n", `no column "p99_ms"`},
		"bad number":     {head + "raftkv,write,1,1,500,1,2,0\nraftkv,write,1,2,fast,1,2,0\n", `line 3: ops_per_s "fast"`},
		"zero clients":   {head + "raftkv,write,0,1,500,1,2,0\n", `line 2: clients "0"`},
		"negative":       {head + "raftkv,write,1,1,500,-1,2,0\n", `p50_ms "-1"`},
		"nan":            {head + "raftkv,write,1,1,NaN,1,2,0\n", `ops_per_s "NaN"`},
		"no system":      {head + ",write,1,1,500,1,2,0\n", "empty system"},
		"short row":      {head + "raftkv,write,1\n", "wrong number of fields"},
		"bad errors":     {head + "raftkv,write,1,1,500,1,2,x\n", `errors "x"`},
	} {
		_, err := parseCSV(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1000}, 10}, // not the mean
	} {
		in := slices.Clone(tt.in)
		if got := median(in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median reordered its input: %v", in)
		}
	}
}

func TestSummarize(t *testing.T) {
	rows, err := parseCSV(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	s := summarize(rows)
	if !slices.Equal(s.Systems, []string{"raftkv", "etcd"}) || !slices.Equal(s.Modes, []string{"write", "read"}) || !slices.Equal(s.Clients, []int{1, 16}) {
		t.Errorf("systems %v modes %v clients %v", s.Systems, s.Modes, s.Clients)
	}
	if len(s.Series) != 4 {
		t.Errorf("%d series, want 4", len(s.Series))
	}
	p, ok := s.Get("raftkv", "write", 1)
	if want := (Point{Clients: 1, OpsPerS: 600, P50: 1.6, P99: 3.5, Errors: 0, Rounds: 3, MinOps: 500, MaxOps: 700, ServerCPU: -1, ClientCPU: -1}); !ok || p != want {
		t.Errorf("raftkv write 1 = %+v, want %+v", p, want)
	}
	p, ok = s.Get("etcd", "write", 1)
	if !ok || p.OpsPerS != 400 || p.P99 != 5 || p.Errors != 1 {
		t.Errorf("etcd write 1 = %+v", p)
	}
	p, ok = s.Get("raftkv", "write", 16) // two rounds: the mean of both
	if !ok || p.OpsPerS != 4500 || p.P99 != 8.5 || p.Errors != 2 || p.Rounds != 2 {
		t.Errorf("raftkv write 16 = %+v", p)
	}
	if _, ok := s.Get("raftkv", "read", 16); ok {
		t.Error("a point that was never measured")
	}

	var out bytes.Buffer
	if err := writeSummary(&out, s); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 { // header, write 1, write 16, read 1, the note
		t.Fatalf("summary:\n%s", out.String())
	}
	for i, want := range [][]string{
		{"mode", "clients", "raftkv ops/s", "etcd ops/s", "ratio", "raftkv p50 ms", "etcd p50 ms", "raftkv p99 ms", "etcd p99 ms", "ratio", "errors", "rounds"},
		{"write", "1", "600", "400", "1.50", "1.60", "2.40", "3.50", "5.00", "0.70", "0/1", "3/3"},
		{"write", "16", "4500", "3200", "1.41", "3.50", "4.80", "8.50", "11.00", "0.77", "2/0", "2/2"},
		{"read", "1", "900", "450", "2.00", "1.00", "2.10", "2.00", "4.20", "0.48", "0/0", "1/1"},
	} {
		got := strings.Split(lines[i], "  ")
		var fields []string
		for _, g := range got {
			if g = strings.TrimSpace(g); g != "" {
				fields = append(fields, g)
			}
		}
		if !slices.Equal(fields, want) {
			t.Errorf("line %d: %q, want %q", i, fields, want)
		}
	}
	if !strings.Contains(lines[4], "ratio = raftkv/etcd") {
		t.Errorf("note %q", lines[4])
	}
}

// The optional CPU columns: medians over the rounds that measured them,
// shown in the summary only when some run has them.
func TestCPUColumns(t *testing.T) {
	in := `system,mode,clients,round,ops_per_s,p50_ms,p99_ms,errors,server_cpu_us,client_cpu_us
raftkv,write,64,1,6000,10,30,0,200,80
raftkv,write,64,2,6400,10,30,0,180,
raftkv,write,64,3,6200,10,30,0,190,70
etcd,write,64,1,5000,11,31,0,,
`
	rows, err := parseCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if rows[1].ServerCPU != 180 || rows[1].ClientCPU != -1 || rows[3].ServerCPU != -1 {
		t.Errorf("rows %+v", rows)
	}
	s := summarize(rows)
	if p, _ := s.Get("raftkv", "write", 64); p.ServerCPU != 190 || p.ClientCPU != 75 {
		t.Errorf("raftkv point %+v: want server 190 (median of 3), client 75 (median of the 2 measured)", p)
	}
	if p, _ := s.Get("etcd", "write", 64); p.ServerCPU != -1 || p.ClientCPU != -1 {
		t.Errorf("etcd point %+v: nothing measured", p)
	}
	var out bytes.Buffer
	if err := writeSummary(&out, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raftkv server µs/op", "etcd client µs/op", "190", "75", "(µs/op: CPU time"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if fields := strings.Fields(strings.Split(out.String(), "\n")[1]); !slices.Contains(fields, "-") {
		t.Errorf("etcd's unmeasured CPU should read -: %q", fields)
	}
	bad := "system,mode,clients,round,ops_per_s,p50_ms,p99_ms,errors,server_cpu_us\nraftkv,write,1,1,1,1,1,0,lots\n"
	if _, err := parseCSV(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), `server_cpu_us "lots"`) {
		t.Errorf("bad CPU value: %v", err)
	}
}

func TestSummaryMissingSystem(t *testing.T) {
	rows, _ := parseCSV(strings.NewReader("system,mode,clients,round,ops_per_s,p50_ms,p99_ms,errors\nraftkv,write,4,1,100,1,2,0\netcd,read,4,1,50,1,2,0\n"))
	var out bytes.Buffer
	writeSummary(&out, summarize(rows))
	for _, want := range []string{"write  4        100           -", "read   4        -             50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTicks(t *testing.T) {
	if got := linearTicks(9537, 5); !slices.Equal(got, []float64{0, 2000, 4000, 6000, 8000, 10000}) {
		t.Errorf("linear ticks %v", got)
	}
	if got := linearTicks(0, 5); got[len(got)-1] < 1 {
		t.Errorf("linear ticks of nothing %v", got)
	}
	if got := logTicks(1.3, 62); !slices.Equal(got, []float64{1, 2, 5, 10, 20, 50, 100}) {
		t.Errorf("log ticks %v", got)
	}
	if got := logTicks(0.3, 0.3); len(got) < 2 || got[0] > 0.3 || got[len(got)-1] < 0.3 {
		t.Errorf("log ticks of one value %v", got)
	}
	if fmtNum(2500) != "2.5k" || fmtNum(10000) != "10k" || fmtNum(0.5) != "0.5" {
		t.Errorf("fmtNum: %s %s %s", fmtNum(2500), fmtNum(10000), fmtNum(0.5))
	}
}

// TestRun writes the summary and a well-formed SVG with two panels, one
// line per system and mode in each, and a legend naming them.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	in, svgPath := filepath.Join(dir, "c.csv"), filepath.Join(dir, "c.svg")
	if err := os.WriteFile(in, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(in, svgPath, "raftkv & etcd <test>", "ROUNDS=3", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "write  1") || !strings.Contains(out.String(), "chart: "+svgPath) {
		t.Errorf("stdout:\n%s", out.String())
	}
	data, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	counts := map[string]int{}
	var texts []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, data)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			counts[el.Name.Local]++
			for _, a := range el.Attr {
				if a.Name.Local == "class" {
					counts["."+a.Value]++
				}
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	if counts["svg"] != 1 || counts[".panel"] != 2 || counts[".series"] != 8 || counts[".legend"] != 1 {
		t.Errorf("elements %v", counts)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"raftkv & etcd <test>", "ROUNDS=3", "Throughput", "p99 latency", "clients (log scale)",
		"raftkv writes", "etcd writes", "raftkv linearizable reads", "etcd linearizable reads", "|16|"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "c.csv")
	os.WriteFile(in, []byte("nope\n"), 0o644)
	err := run(in, filepath.Join(dir, "c.svg"), "t", "", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "c.csv") || !strings.Contains(err.Error(), "no column") {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.svg")); err == nil {
		t.Error("an SVG was written from bad input")
	}
}
