package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/raftkv/raftkv/api/client"
)

// TestDashboardWithTokens opens the dashboard of a cluster with tokens in
// headless Chromium: the page asks for a token, then streams, writes, and
// follows the cluster to another node (another origin) with it, and the
// token is in no URL the page requested.
func TestDashboardWithTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and a browser")
	}
	chromium := chromiumPath(t)
	dir := t.TempDir()
	c := newE2EClusterFrom(t, testConfigJSON(t, dir, 3, writeTokensWith(t, dir, false)))
	lead := c.leader()
	leadNode, _ := c.cfg.Node(lead)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := newBrowser(t, ctx, chromium)
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+leadNode.HTTPAddr+"/ui/")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "the token form", `!document.getElementById("token-form").hidden`)
	_, err := chromedp.Run(bctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		document.getElementById("token-input").value = %q;
		document.getElementById("token-form").requestSubmit();
		return true;
	})()`, procWriteToken)))
	if err != nil {
		t.Fatal(err)
	}
	waitDashboard(t, bctx, "three node cards and one leader", func(s dashboardState) bool {
		return s.Cards == 3 && len(s.Leaders) == 1 && s.Conn == "live"
	})
	putFromPage(t, bctx, "dashboard/with-token", "hello")

	c.stop(lead)
	st := waitDashboard(t, bctx, "a new leader, on another node", func(s dashboardState) bool {
		return len(s.Leaders) == 1 && s.Leaders[0] != lead && s.Conn == "live"
	})
	putFromPage(t, bctx, "dashboard/after-failover", "hello again")
	now, _ := c.cfg.Node(st.Leaders[0])
	cl, err := client.New([]string{now.HTTPAddr}, 5*time.Second, client.WithToken(procReadToken))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got, err := cl.Get(ctx5s(t), "dashboard/after-failover", ""); err != nil || string(got) != "hello again" {
		t.Errorf("key written from the page after failover reads %q, %v", got, err)
	}
	urls, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`performance.getEntriesByType("resource").map((e) => e.name).concat([location.href])`))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		if strings.Contains(u, procWriteToken) {
			t.Errorf("the page requested %s", u)
		}
	}
}

// waitPage polls until the JavaScript expression cond holds on the page.
func waitPage(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond)); err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page never showed %s", what)
}
