package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The "uppy" scenario: a 1 GiB upload sent straight to the bucket through Uppy's S3 protocol
// (/uppy/{token}/s3/…, internal/uppy) against a plain 1 GiB PUT through the gateway, in the
// same run, interleaved.

// uppyPartSize is the part size @uppy/aws-s3 6.3.1 picks for a 1 GiB file: max(5 MiB,
// size / 10000).
const uppyPartSize = 5 << 20

// uppy measures the modes of the scenario: the direct upload as Uppy 6.3.1 sends it (for each
// 5 MiB part, ask the gateway for its URL, then PUT it to MinIO; one part after the other),
// the same with four parts in flight (a client that parallelises), and PUT /object with
// Content-Length. Each run mints its token outside the timer; the timer covers every
// request of the upload, the start and the completion included.
func (b *bench) uppy() error {
	const size = 1 << 30
	type mode struct {
		name     string
		inFlight int // parts in flight; 0: PUT /object
	}
	modes := []mode{{"direct, parts one by one (Uppy 6.3.1)", 1}, {"direct, 4 parts in flight", 4}, {"gateway PUT, Content-Length", 0}}
	res := map[string][]float64{}
	cpu := map[string][]map[string]float64{}
	for round := range b.o.runs1G {
		for j := range modes {
			m := modes[(round+j)%len(modes)]
			tok, err := b.m.putToken(b.ctx, fmt.Sprintf("bench/uppy-%d", m.inFlight))
			if err != nil {
				return err
			}
			var v float64
			var use map[string]float64
			err = b.measured(func() (map[string]float64, error) {
				g := b.cpuOf()
				g.begin()
				d, err := b.uppyOnce(tok, size, m.inFlight)
				use = g.end()
				if err == nil {
					v = float64(size) / d.Seconds() / 1e6
				}
				return use, err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			res[m.name], cpu[m.name] = append(res[m.name], v), append(cpu[m.name], use)
			progress("upload 1 GiB %-38s round %d/%d: %.0f MB/s", m.name, round+1, b.o.runs1G, v)
		}
	}
	gw := median(res[modes[2].name])
	var rows [][]string
	for _, m := range modes {
		runs := cpu[m.name]
		var gwCPU []float64 // CPU seconds of the gateway per 10^9 bytes: cores × seconds per GB
		for i, r := range runs {
			gwCPU = append(gwCPU, r["gateway"]*1000/res[m.name][i])
		}
		rows = append(rows, []string{m.name, fmt.Sprintf("%.0f", median(res[m.name])), fmt.Sprintf("%.2f", ratio(median(res[m.name]), gw)),
			runsList(res[m.name], "%.0f"), fmt.Sprintf("%.2f", median(gwCPU)), cpuMedian(runs, "bench"), cpuMedian(runs, "gateway"),
			cpuMedian(runs, "redis"), cpuMedian(runs, "MinIO")})
	}
	body := fmt.Sprintf("One 1 GiB upload at a time, timed from the first request to the last answer, a fresh "+
		"one-upload PUT token per upload, minted before the timer starts. Direct: `POST /uppy/<token>/s3/multipart`, "+
		"then for each of the %d parts of 5 MiB `GET …/s3/multipart/<id>/<n>` (a presigned URL) and a PUT of the "+
		"part to MinIO, then `POST …/complete` (the gateway lists the parts and checks the cap); no object byte "+
		"passes through the gateway. Gateway PUT: `PUT /object/<token>` with Content-Length, streamed by the "+
		"gateway as one PutObject. %d rounds, interleaved.\n\n", (size+uppyPartSize-1)/uppyPartSize, b.o.runs1G) +
		mdTable([]string{"upload", "MB/s", "/ gateway PUT", "MB/s of every run", "gateway CPU s/GB", "CPU bench", "CPU gateway",
			"CPU redis", "CPU MinIO"}, rows) +
		"\nCPU columns: cores used during the upload, medians; gateway CPU s/GB: the gateway's CPU seconds per 10^9 bytes uploaded.\n"
	b.rep.addSection("Direct upload (Uppy's S3 protocol) vs PUT through the gateway, 1 GiB (MB/s, medians)", body)
	return nil
}

// uppyOnce uploads size bytes through tok: directly with inFlight parts at a time, or with
// PUT /object when inFlight is 0. It returns how long it took.
func (b *bench) uppyOnce(tok string, size int64, inFlight int) (time.Duration, error) {
	start := time.Now()
	if inFlight == 0 {
		_, body, err := upload(b.ctx, b.hc, b.s.gwURL+"/object/"+tok, size, false)
		if err != nil {
			return 0, err
		}
		return time.Since(start), checkUploadAnswer(body, size)
	}
	err := directUpload(b.ctx, b.hc, b.s.gwURL+"/uppy/"+tok, size, inFlight)
	return time.Since(start), err
}

// directUpload speaks Uppy's S3 protocol to endpoint (a token's uppy_endpoint) as
// @uppy/aws-s3 does, with inFlight workers each signing a part and sending it to the bucket.
func directUpload(ctx context.Context, c *http.Client, endpoint string, size int64, inFlight int) error {
	var started struct{ UploadID, Key string }
	if err := uppyCall(ctx, c, http.MethodPost, endpoint+"/s3/multipart", `{"type":"application/octet-stream"}`, &started); err != nil {
		return err
	}
	base := endpoint + "/s3/multipart/" + started.UploadID
	q := "?key=" + url.QueryEscape(started.Key)
	n := int((size + uppyPartSize - 1) / uppyPartSize)
	etags := make([]string, n)
	errs := make([]error, inFlight)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range inFlight {
		wg.Go(func() {
			for i := range next {
				if errs[w] != nil {
					continue // drain: the upload has failed
				}
				etags[i], errs[w] = sendPart(ctx, c, fmt.Sprintf("%s/%d%s", base, i+1, q), min(uppyPartSize, size-int64(i)*uppyPartSize))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	parts := make([]string, n)
	for i, e := range etags {
		parts[i] = fmt.Sprintf(`{"PartNumber":%d,"ETag":%q}`, i+1, e)
	}
	var done struct{ Location string }
	return uppyCall(ctx, c, http.MethodPost, base+"/complete"+q, `{"parts":[`+strings.Join(parts, ",")+`]}`, &done)
}

// sendPart asks the gateway for a part's URL and PUTs n bytes there; it returns the ETag.
func sendPart(ctx context.Context, c *http.Client, signURL string, n int64) (string, error) {
	var signed struct{ URL string }
	if err := uppyCall(ctx, c, http.MethodGet, signURL, "", &signed); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, signed.URL, newPatternBody(n))
	if err != nil {
		return "", err
	}
	req.ContentLength = n
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("PUT part: status %d", resp.StatusCode)
	}
	return strings.Trim(resp.Header.Get("ETag"), `"`), nil
}

// uppyCall sends one request of the protocol and decodes its JSON answer into out.
func uppyCall(ctx context.Context, c *http.Client, method, target, body string, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d: %s", method, strings.SplitN(target, "/uppy/", 2)[0], resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}
