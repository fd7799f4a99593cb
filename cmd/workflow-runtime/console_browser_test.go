package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless chromium of its own, with a fresh profile, and
// returns a tab's context. Without chromium the test is skipped, except in CI,
// which must run it.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		found, lerr := exec.LookPath("chromium")
		switch {
		case lerr == nil:
			path = found
		case os.Getenv("CI") != "":
			t.Fatalf("chromium is not installed (%s): CI must run the browser test; .ci/run installs the package chromium", chromiumPath)
		default:
			t.Skipf("chromium is not installed (%s, nor on PATH): apt-get install -y chromium to run the console's browser test", chromiumPath)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// One bound for the whole test: a page that never shows what a step
	// waits for fails the test instead of hanging it. Generous, because CI
	// runs it beside every other test and the multi-process ones (72 s once).
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "starting chromium")
	return ctx
}

// screenshotDir is where the browser test saves its screenshots:
// $WFR_SCREENSHOT_DIR, or the test's artifact directory (kept with go test
// -artifacts).
func screenshotDir(t *testing.T) string {
	if dir := os.Getenv("WFR_SCREENSHOT_DIR"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	return t.ArtifactDir()
}

// screenshot saves the whole page as name.png and logs where.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(dir, name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot %s: %s", name, path)
}

// TestConsoleInBrowser drives the console in a real browser against a whole
// service with tokens on: sign in, deploy a workflow through the console,
// watch its cron executions appear on its page without a reload, pause it,
// open an execution, and see the load chart drawn; at phone width the pages
// fit the screen.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium and a whole service on PostgreSQL and Redis")
	}
	t.Parallel()
	const token = "console-browser-test-token"
	s := startStack(t, map[string]string{"WFR_AUTH_TOKENS": token})
	ctx := browser(t, 1280, 900)
	dir := screenshotDir(t)
	ui := s.httpBase + "/ui/"

	// A page without the cookie goes to the sign-in page, and back after it.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(ui+"load"),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), token),
		chromedp.Submit(css("#token")),
		chromedp.WaitVisible(css("#load-chart")),
		chromedp.Navigate(ui),
		chromedp.WaitVisible(css("#h-health")),
	))
	require.Equal(t, "Overview", text(t, ctx, "h1"))

	// Deploy through the console's form: a cron trigger every second, no jitter.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(ui+"deploy"),
		chromedp.WaitVisible(css("#workflow_id")),
		chromedp.SendKeys(css("#workflow_id"), "browser.demo"),
		chromedp.SendKeys(css("#cron"), "* * * * * ?"),
		chromedp.SendKeys(css("#jitter"), "0"),
		chromedp.Submit(css("#workflow_id")),
		chromedp.WaitVisible(css("#h-recent")),
	))
	require.Equal(t, "browser.demo", text(t, ctx, "h1"))
	deploymentPage, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)

	// The page is not loaded again: a mark set on it now is still there
	// when the executions have appeared in its table.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillThisPage = true`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(css("#executions tbody tr")),
		chromedp.WaitVisible(css("#executions .s-succeeded")),
	))
	marked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillThisPage === true`))
	require.NoError(t, err)
	require.True(t, marked, "the executions appeared by a reload of the page")
	screenshot(t, ctx, dir, "deployment")

	// Pause: the status says so and the button turns into Resume.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css("#pause")),
		chromedp.WaitVisible(css("#resume")),
	))
	require.Equal(t, "PAUSED", text(t, ctx, "#status .badge"))

	// An execution's page: its timeline and its trace id.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css("#executions tbody tr a")),
		chromedp.WaitVisible(css("#h-timeline")),
	))
	require.Contains(t, text(t, ctx, ".timeline"), "Fired")
	require.Len(t, text(t, ctx, "#h-ids + dl dd code"), 32, "the trace id")
	screenshot(t, ctx, dir, "execution")

	// The load chart of 30 workflows every 10 minutes: without jitter they
	// all fire at once, with it they spread; both lines are drawn, each
	// rising above the axis somewhere, on a chart with a size on the page.
	bctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	for i := range 30 {
		_, err := s.client.DeployWorkflow(bctx, &pb.DeployWorkflowRequest{
			WorkflowId: fmt.Sprintf("load.%02d", i), WorkflowDefinition: definition(t, actionNode),
			Triggers: []*pb.Trigger{{Type: pb.TriggerType_TRIGGER_TYPE_CRON, Cron: &pb.CronSpec{Expression: "*/10 * * * *"}}},
		})
		require.NoError(t, err)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(ui+"load"),
		chromedp.WaitVisible(css("#load-chart")),
	))
	require.Equal(t, "30", text(t, ctx, "#peak-without"))
	drawn, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const svg = document.querySelector('#load-chart');
		const base = svg.querySelector('line.axis-line').y1.baseVal.value;
		const lines = [...svg.querySelectorAll('polyline.series')];
		const box = svg.getBoundingClientRect();
		return lines.length === 2 && lines.every(l => [...l.points].some(p => p.y < base)) && box.width > 600 && box.height > 100;
	})()`))
	require.NoError(t, err)
	require.True(t, drawn, "the load chart lacks a line, a line never leaves the axis, or the chart has no size")
	require.Equal(t, 10, count(t, ctx, "#jitter-chart rect.bar"), "the jitter histogram's bars")
	screenshot(t, ctx, dir, "load")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(ui), chromedp.WaitVisible(css("#h-health"))))
	screenshot(t, ctx, dir, "overview")

	// At phone width nothing is wider than the screen: tables scroll in
	// their own box. Every form field has its label.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch)))
	for _, page := range []string{ui, ui + "deployments", deploymentPage, ui + "load", ui + "deploy"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(css("h1"))))
		fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= document.documentElement.clientWidth`))
		require.NoError(t, err)
		require.True(t, fits, "%s is wider than a phone's screen", page)
		labelled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`[...document.querySelectorAll('input:not([type=hidden]), select, textarea')].every(e => e.labels.length > 0)`))
		require.NoError(t, err)
		require.True(t, labelled, "%s has a form field without a label", page)
		if page == ui {
			screenshot(t, ctx, dir, "overview-phone")
		}
	}
}

// css selects the first element that matches a CSS selector.
func css(selector string) chromedp.CSS { return chromedp.CSS(selector) }

// text is the visible text of the first element that matches selector.
func text(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(css(selector)))
	require.NoError(t, err)
	return s
}

// count is how many elements match selector.
func count(t *testing.T, ctx context.Context, selector string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, selector)))
	require.NoError(t, err)
	return n
}
