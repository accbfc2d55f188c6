package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// activeResult is what active.mjs prints.
type activeResult struct {
	BrowserVersion string `json:"browserVersion"`
	Fatal          string `json:"fatal"`
	Cases          []struct {
		Name            string `json:"name"`
		Status          int    `json:"status"`
		Download        bool   `json:"download"`
		NavigationError string `json:"navigationError"`
		Marker          any    `json:"marker"`
		ImageWidth      *int   `json:"imageWidth"`
		VideoReady      *int   `json:"videoReady"`
		VideoWidth      *int   `json:"videoWidth"`
	} `json:"cases"`
	Storage struct {
		Pwned  *string `json:"pwned"`
		Cookie string  `json:"cookie"`
	} `json:"storage"`
}

// TestBrowserActiveContent: headless Chromium navigates to uploaded objects. An HTML page with
// a <script> and an SVG with onload=, served inline on the token's request, run nothing: the
// marker they set stays unset, in the document and in the gateway origin's storage. Without
// inline they are downloads. An image and a video still display inline.
func TestBrowserActiveContent(t *testing.T) {
	testenv.Integration(t)
	node := browserDeps(t)
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(nil))
	c := client{t, gw.URL}

	const script = `globalThis.__pwned = "yes"; try { localStorage.setItem("pwned", "yes"); document.cookie = "pwned=yes"; } catch (e) {}`
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 8, 6))
	for i := range img.Pix {
		img.Pix[i] = 0xc0
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	video, err := os.ReadFile(filepath.Join("testdata", "seek-box.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	objects := []struct{ key, contentType, disposition, body string }{
		{"active/page.html", "text/html", "inline", "<!doctype html><title>x</title><script>" + script + "</script>"},
		{"active/onload.svg", "image/svg+xml", "inline", `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload='` + script + `'><rect width="10" height="10"/></svg>`},
		{"active/saved.html", "text/html", "", "<script>" + script + "</script>"},
		{"passive/pic.png", "image/png", "", pic.String()},
		{"passive/clip.mp4", "video/mp4", "", string(video)},
	}
	var cases []map[string]string
	for _, o := range objects {
		putObjectTyped(t, env, o.key, o.contentType, []byte(o.body))
		disposition := ""
		if o.disposition != "" {
			disposition = fmt.Sprintf(`,"disposition":%q`, o.disposition)
		}
		tok := c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"GET","max_hits":-1%s}`, o.key, disposition))
		cases = append(cases, map[string]string{"name": o.key, "url": gw.URL + "/object/" + tok})
	}
	list, _ := json.Marshal(cases)
	var res activeResult
	start := time.Now()
	runNode(t, node, "active.mjs", []string{
		"AG_CHROMIUM=" + chromiumPath,
		"AG_USER_DATA_DIR=" + t.TempDir(),
		"AG_ORIGIN_URL=" + gw.URL + "/healthz",
		"AG_CASES=" + string(list),
	}, &res, func() string { return res.Fatal })
	t.Logf("Chromium %s, %d cases in %s: %+v", res.BrowserVersion, len(res.Cases), time.Since(start).Round(time.Millisecond), res.Cases)

	if len(res.Cases) != len(objects) {
		t.Fatalf("got %d cases, want %d", len(res.Cases), len(objects))
	}
	for _, r := range res.Cases {
		switch r.Name {
		case "active/page.html", "active/onload.svg":
			if r.Status != 200 || r.Marker != nil {
				t.Errorf("%s: status %d, marker %v: want it shown inline (200) with its script not run", r.Name, r.Status, r.Marker)
			}
		case "active/saved.html":
			if !r.Download || r.Marker != nil {
				t.Errorf("%s: download %v, marker %v: want a download and nothing run", r.Name, r.Download, r.Marker)
			}
		case "passive/pic.png":
			if r.Status != 200 || r.ImageWidth == nil || *r.ImageWidth != 8 || r.Download {
				t.Errorf("%s: status %d, image width %v, download %v: want the image shown inline", r.Name, r.Status, r.ImageWidth, r.Download)
			}
		case "passive/clip.mp4":
			if r.Status != 200 || r.VideoReady == nil || *r.VideoReady < 1 || r.VideoWidth == nil || *r.VideoWidth == 0 || r.Download {
				t.Errorf("%s: status %d, video ready %v width %v, download %v: want the video playing inline", r.Name, r.Status, r.VideoReady, r.VideoWidth, r.Download)
			}
		}
	}
	if res.Storage.Pwned != nil || res.Storage.Cookie != "" {
		t.Errorf("the gateway origin's storage was written by an object: localStorage %v, cookie %q", *res.Storage.Pwned, res.Storage.Cookie)
	}
}
