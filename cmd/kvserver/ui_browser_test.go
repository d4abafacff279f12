package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var updateScreenshot = flag.Bool("update-screenshot", false,
	"TestDashboardInBrowser: run a write load and save the dashboard to docs/dashboard.png")

const (
	screenshotPath     = "../../docs/dashboard.png"
	screenshotMaxBytes = 300 << 10 // it is committed
)

// chromiumPath finds the browser, or skips the test where it may be
// missing: everywhere but CI, whose .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); the browser test needs it")
	return ""
}

// dashboardState is what the page shows, as the test reads it.
type dashboardState struct {
	Cards   int      `json:"cards"`
	Leaders []uint64 `json:"leaders"`
	Down    []uint64 `json:"down"`
	Conn    string   `json:"conn"`
	Events  int      `json:"events"`
}

const readDashboard = `(() => {
	const cards = [...document.querySelectorAll(".node-card")];
	const ids = (cls) => cards.filter((c) => c.classList.contains(cls)).map((c) => Number(c.dataset.id));
	return {
		cards: cards.length,
		leaders: ids("leader"),
		down: ids("down"),
		conn: document.getElementById("conn").dataset.state,
		events: document.querySelectorAll("#timeline li:not(.empty)").length,
	};
})()`

// TestDashboardInBrowser opens the dashboard of a live 3-node cluster in
// headless Chromium, on the leader, stops that leader, and watches the page
// move to a surviving node and show the new leader and the dead node.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and a browser")
	}
	chromium := chromiumPath(t)
	start := time.Now()
	c := newE2ECluster(t)
	lead := c.leader()
	leadNode, _ := c.cfg.Node(lead)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := newBrowser(t, ctx, chromium)

	var writes *writeLoad
	if *updateScreenshot {
		writes = startWrites(c)
		defer writes.stop()
	}

	url := "http://" + leadNode.HTTPAddr + "/ui/"
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Logf("browser up and page loaded after %v", time.Since(start).Round(time.Millisecond))

	st := waitDashboard(t, bctx, "three node cards and one leader", func(s dashboardState) bool {
		return s.Cards == 3 && len(s.Leaders) == 1 && len(s.Down) == 0 && s.Conn == "live"
	})
	if st.Leaders[0] != lead {
		t.Fatalf("page shows node %d as leader, the cluster says %d", st.Leaders[0], lead)
	}
	if *updateScreenshot {
		time.Sleep(8 * time.Second) // a chart worth looking at: this is a picture, not a sync
		listKeys(t, bctx)
	}

	stopping := time.Now()
	c.stop(lead)
	stopped := time.Now()
	st = waitDashboard(t, bctx, "a new leader and the old one down", func(s dashboardState) bool {
		return s.Cards == 3 && len(s.Leaders) == 1 && s.Leaders[0] != lead &&
			len(s.Down) == 1 && s.Down[0] == lead && s.Conn == "live"
	})
	t.Logf("stopping node %d took %v; the page showed node %d leading and node %d down %v later", lead,
		stopped.Sub(stopping).Round(time.Millisecond), st.Leaders[0], lead, time.Since(stopped).Round(time.Millisecond))
	if now := c.leader(); now != st.Leaders[0] {
		t.Errorf("page shows node %d as leader, the cluster says %d", st.Leaders[0], now)
	}
	if st.Events == 0 {
		t.Error("the timeline shows no event")
	}

	// The page now talks to another origin than it came from: a write from
	// the key browser needs the CORS preflight to pass.
	putFromPage(t, bctx, "dashboard/greeting", "hello from the browser")
	if got, err := c.client(st.Leaders[0]).Get(ctx5s(t), "dashboard/greeting", ""); err != nil || string(got) != "hello from the browser" {
		t.Errorf("key written from the page reads %q, %v", got, err)
	}

	if *updateScreenshot {
		time.Sleep(4 * time.Second) // writes resume on the chart under the new leader
		saveScreenshot(t, bctx)
	}
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

// newBrowser starts headless Chromium, closed at the test's end.
func newBrowser(t *testing.T, ctx context.Context, chromium string) context.Context {
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900), // the screenshot is committed: no wider than it needs
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// waitDashboard polls the page until ok holds of what it shows.
func waitDashboard(t *testing.T, ctx context.Context, what string, ok func(dashboardState) bool) dashboardState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last dashboardState
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[dashboardState](readDashboard))
		if err == nil && ok(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the page never showed %s; last it showed %+v (err %v)", what, last, lastErr)
	return last
}

// putFromPage writes key through the page's key browser and waits for its
// answer.
func putFromPage(t *testing.T, ctx context.Context, key, value string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		document.getElementById("key").value = %q;
		document.getElementById("value").value = %q;
		document.getElementById("kv-msg").textContent = ""; // not a previous put's answer
		document.querySelector("#kv-form button[data-op=put]").click();
		return true;
	})()`, key, value)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("kv-msg").textContent`))
		if err == nil && strings.Contains(msg, "committed at index") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page's put never committed: %q (%v)", msg, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listKeys fills the key browser, for the screenshot, and waits for the
// rows (before the leader it asks is stopped).
func listKeys(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		document.getElementById("prefix").value = "user/";
		document.getElementById("list-form").requestSubmit();
		return true;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#kv-rows tr:not(.empty)").length`))
		if err == nil && rows > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key browser listed nothing (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func saveScreenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(out) > screenshotMaxBytes {
		t.Errorf("screenshot is %d KiB, over the %d KiB kept in the repository", len(out)>>10, screenshotMaxBytes>>10)
	}
	if err := os.MkdirAll(filepath.Dir(screenshotPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(screenshotPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d KiB)", screenshotPath, len(out)>>10)
}

// writeLoad keeps a few clients writing, so the chart and the trail move.
type writeLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startWrites(c *e2eCluster) *writeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writeLoad{cancel: cancel}
	cl := c.client(0, 1, 2)
	people := []string{"ada", "grace", "edsger", "barbara", "leslie", "diego", "john"}
	for i, p := range people {
		if _, err := cl.Put(ctx, "user/"+p, []byte(fmt.Sprintf(`{"id":%d,"name":%q}`, i+1, p))); err != nil {
			c.t.Logf("seed user/%s: %v", p, err)
		}
	}
	for g := range 4 {
		w.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				// Errors are expected while the leader changes; the load only decorates.
				_, _ = cl.Put(wctx, fmt.Sprintf("metrics/host-%d/cpu", (g*31+i)%40), []byte(fmt.Sprintf("%d%%", (i*7)%100)))
				cancel()
			}
		})
	}
	return w
}

func (w *writeLoad) stop() {
	w.cancel()
	w.wg.Wait()
}
