package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The "s3api" scenario: the gateway's S3 listener against /object, in the same run, on the
// same objects, interleaved — 1 KiB GetObject at rate (header-signed as an SDK signs), a
// 64 MiB GetObject (a presigned URL), and 64 MiB uploads: PutObject by a presigned URL
// (UNSIGNED-PAYLOAD) and by the SDK (the payload's SHA-256 signed, so the gateway hashes the
// body as it streams), against PUT /object.

// s3apiSize is the large object of the scenario.
const s3apiSize = 64 << 20

// s3Creds are a token's S3 credentials.
type s3Creds struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// mintS3 mints a token with "s3": true (outside any timed window): unlimited for GET, one
// upload for PUT.
func (b *bench) mintS3(key, method string) (s3Creds, error) {
	req := map[string]any{"bucket": bucketAlias, "key": key, "method": method, "expires_in": 6 * 3600, "s3": true}
	if method == http.MethodGet {
		req["max_hits"] = -1
	}
	body, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.s.gwURL+"/token", bytes.NewReader(body))
	if err != nil {
		return s3Creds{}, err
	}
	r.Header.Set("Authorization", "Bearer "+controlToken)
	resp, err := b.hc.Do(r)
	if err != nil {
		return s3Creds{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		S3 s3Creds `json:"s3"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusCreated || out.S3.AccessKeyID == "" {
		return s3Creds{}, fmt.Errorf("POST /token with s3: status %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	return out.S3, nil
}

// s3Client is an SDK client of the listener with cr: the payload's SHA-256 signed, no
// checksum it does not need.
func (b *bench) s3Client(cr s3Creds) *s3.Client {
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(cr.AccessKeyID, cr.SecretAccessKey, ""),
		BaseEndpoint:               aws.String(b.s.gwS3URL),
		UsePathStyle:               true,
		HTTPClient:                 b.hc,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	})
}

// signedGet is GetObject of key signed in the Authorization header as an SDK signs it, for
// the load generator to send verbatim: valid for S3's 15 minutes of clock skew.
func (b *bench) signedGet(cr s3Creds, key string) (rawRequest, error) {
	u := b.s.gwS3URL + "/" + bucketAlias + "/" + key
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return rawRequest{}, err
	}
	empty := sha256.Sum256(nil)
	payload := hex.EncodeToString(empty[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	creds := aws.Credentials{AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(b.ctx, creds, req, payload, "s3", "us-east-1", time.Now()); err != nil {
		return rawRequest{}, err
	}
	hdr := []string{"Authorization", req.Header.Get("Authorization"), "X-Amz-Date", req.Header.Get("X-Amz-Date"),
		"X-Amz-Content-Sha256", payload}
	return rawFor(http.MethodGet, u, hdr, nil, http.StatusOK)
}

// ensureObject stores key of size bytes in MinIO once and mints its /object GET token.
func (b *bench) ensureObject(key string, size int64) error {
	if b.getTok[key] != "" {
		return nil
	}
	u, err := b.presign(b.direct, http.MethodPut, key)
	if err != nil {
		return err
	}
	if _, _, err := upload(b.ctx, b.hc, u, size, false); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	tok, err := b.m.getToken(b.ctx, key)
	if err == nil {
		b.getTok[key] = tok
	}
	return err
}

// s3api runs the scenario and adds its section to the report.
func (b *bench) s3api() error {
	if err := b.ensureObject(obj1K, 1<<10); err != nil {
		return err
	}
	const big = "bench/s3api-64m"
	if err := b.ensureObject(big, s3apiSize); err != nil {
		return err
	}
	small, err := b.s3SmallGet()
	if err != nil {
		return err
	}
	large, err := b.s3LargeGet(big)
	if err != nil {
		return err
	}
	puts, err := b.s3Puts()
	if err != nil {
		return err
	}
	b.rep.addSection("S3 listener against /object (medians)", small+"\n"+large+"\n"+puts)
	return nil
}

// s3SmallGet measures 1 KiB GETs: /object against GetObject on the listener.
func (b *bench) s3SmallGet() (string, error) {
	cr, err := b.mintS3(obj1K, http.MethodGet)
	if err != nil {
		return "", err
	}
	obj, err := rawFor(http.MethodGet, b.s.gwURL+"/object/"+b.getTok[obj1K], nil, nil, http.StatusOK)
	if err != nil {
		return "", err
	}
	names := []string{"/object", "S3 GetObject"}
	runs := map[string][]rateRun{}
	for round := range b.o.runs {
		for j := range names {
			n := names[(round+j)%len(names)]
			rr := obj
			if n != "/object" {
				if rr, err = b.signedGet(cr, obj1K); err != nil { // signed afresh: within the skew
					return "", err
				}
			}
			r, err := b.runRate(rr)
			if err != nil {
				return "", fmt.Errorf("%s: %w", n, err)
			}
			runs[n] = append(runs[n], r)
			progress("s3api small GET %-12s round %d/%d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d",
				n, round+1, b.o.runs, r.rps, r.p50, r.p99, r.errors)
		}
	}
	hop := func(n string) float64 {
		return usPerRequest(runs[n], func(u map[string]float64) float64 { return u["gateway"] + u["redis"] })
	}
	o, _, _ := summarize(runs["/object"])
	s, _, _ := summarize(runs["S3 GetObject"])
	return fmt.Sprintf("**1 KiB GET**, %d keep-alive connections, %s warm-up then %s per run; the S3 request "+
		"is signed in its Authorization header (an empty payload's SHA-256), as the SDKs sign, and replayed.\n\n",
		b.o.conns, b.o.warmup, b.o.window) +
		rateTable(names, runs, []string{"bench", "gateway", "redis", "MinIO", "other"}) +
		fmt.Sprintf("\nS3/object req/s %.2f; CPU per request, gateway + redis: /object %.0f µs, S3 %.0f µs.\n",
			ratio(s, o), hop("/object"), hop("S3 GetObject")), nil
}

// s3LargeGet measures 64 MiB GETs: /object against a presigned GetObject on the listener.
func (b *bench) s3LargeGet(key string) (string, error) {
	cr, err := b.mintS3(key, http.MethodGet)
	if err != nil {
		return "", err
	}
	pu, err := s3.NewPresignClient(b.s3Client(cr)).PresignGetObject(b.ctx,
		&s3.GetObjectInput{Bucket: aws.String(bucketAlias), Key: aws.String(key)}, s3.WithPresignExpires(6*time.Hour))
	if err != nil {
		return "", err
	}
	urls := map[string]string{"/object": b.s.gwURL + "/object/" + b.getTok[key], "S3 GetObject": pu.URL}
	names := []string{"/object", "S3 GetObject"}
	buf := make([]byte, 256<<10)
	res := map[string][]float64{}
	for round := range 3 * b.o.runs {
		for j := range names {
			n := names[(round+j)%len(names)]
			var d time.Duration
			err := b.measured(func() (map[string]float64, error) {
				var err error
				d, err = download(b.ctx, b.hc, urls[n], s3apiSize, buf)
				return nil, err
			})
			if err != nil {
				return "", fmt.Errorf("%s: %w", n, err)
			}
			res[n] = append(res[n], float64(s3apiSize)/d.Seconds()/1e6)
		}
	}
	return b.transferTable("**64 MiB GET**, one at a time (S3: a presigned URL)", names, res), nil
}

// s3Puts measures 64 MiB uploads, each with a token minted for it outside the timer.
func (b *bench) s3Puts() (string, error) {
	data := make([]byte, s3apiSize)
	if _, err := io.ReadFull(newPatternBody(s3apiSize), data); err != nil {
		return "", err
	}
	names := []string{"PUT /object", "S3 PutObject presigned", "S3 PutObject SDK"}
	one := map[string]func(key string) (time.Duration, error){
		"PUT /object": func(key string) (time.Duration, error) {
			tok, err := b.m.putToken(b.ctx, key)
			if err != nil {
				return 0, err
			}
			d, _, err := upload(b.ctx, b.hc, b.s.gwURL+"/object/"+tok, s3apiSize, false)
			return d, err
		},
		"S3 PutObject presigned": func(key string) (time.Duration, error) {
			cr, err := b.mintS3(key, http.MethodPut)
			if err != nil {
				return 0, err
			}
			pu, err := s3.NewPresignClient(b.s3Client(cr)).PresignPutObject(b.ctx,
				&s3.PutObjectInput{Bucket: aws.String(bucketAlias), Key: aws.String(key)}, s3.WithPresignExpires(time.Hour))
			if err != nil {
				return 0, err
			}
			d, _, err := upload(b.ctx, b.hc, pu.URL, s3apiSize, false)
			return d, err
		},
		"S3 PutObject SDK": func(key string) (time.Duration, error) {
			cr, err := b.mintS3(key, http.MethodPut)
			if err != nil {
				return 0, err
			}
			start := time.Now()
			_, err = b.s3Client(cr).PutObject(b.ctx, &s3.PutObjectInput{Bucket: aws.String(bucketAlias), Key: aws.String(key),
				Body: bytes.NewReader(data)})
			return time.Since(start), err
		},
	}
	res := map[string][]float64{}
	for round := range b.o.runs {
		for j := range names {
			n := names[(round+j)%len(names)]
			var d time.Duration
			err := b.measured(func() (map[string]float64, error) {
				var err error
				d, err = one[n](fmt.Sprintf("bench/s3api-put-%d-%d", round, j))
				return nil, err
			})
			if err != nil {
				return "", fmt.Errorf("%s: %w", n, err)
			}
			res[n] = append(res[n], float64(s3apiSize)/d.Seconds()/1e6)
		}
	}
	return b.transferTable("**64 MiB PUT**, one at a time; the SDK's time includes hashing the body "+
		"on the client before it sends (the signed payload), which the gateway hashes again as it streams", names, res), nil
}

// transferTable renders MB/s medians with every run, against the first name.
func (b *bench) transferTable(title string, names []string, res map[string][]float64) string {
	var rows [][]string
	base := median(res[names[0]])
	for _, n := range names {
		progress("s3api %-24s %.0f MB/s (median of %d)", n, median(res[n]), len(res[n]))
		rows = append(rows, []string{n, fmt.Sprintf("%.0f", median(res[n])), fmt.Sprintf("%.2f", ratio(median(res[n]), base)),
			runsList(res[n], "%.0f")})
	}
	return title + ".\n\n" + mdTable([]string{"path", "MB/s", "/ " + names[0], "MB/s of every run"}, rows)
}
