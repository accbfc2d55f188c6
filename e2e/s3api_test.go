package e2e

// The S3 listener with S3 clients nobody here wrote — Debian's aws CLI 2.9.19 and boto3
// 1.26.27, and mc — against the real binary with Redis and MinIO behind: copies up and down
// (small, and 64 MiB in multipart), listings of a prefix token, deletes, presigned GETs,
// HEADs, and every refusal as the client prints it.

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

const bigSize = 64 << 20 // past every client's multipart threshold (8 MiB; mc: 16 MiB parts)

// TestS3APIClients runs each client through the operations and the refusals.
func TestS3APIClients(t *testing.T) {
	testenv.Integration(t)
	mc := requireClients(t)
	env := newEnv(t, false)
	g := startS3Gateway(t, env)
	dir := t.TempDir()
	small := writeRandom(t, dir, "small.bin", 100<<10)
	big := writeRandom(t, dir, "big.bin", bigSize)
	clients := []struct {
		name string
		ops  func(t *testing.T, c client, small, big string) s3Creds
		refs func(t *testing.T, c client, small string)
	}{
		{"awscli", awsOps, awsRefusals},
		{"boto3", botoOps, botoRefusals},
		{"mc", func(t *testing.T, c client, small, big string) s3Creds { return mcOps(t, c, mc, small, big) },
			func(t *testing.T, c client, small string) { mcRefusals(t, c, mc, small) }},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			c := client{t, g.URL}
			del := cl.ops(t, c, small, big)
			if err := env.objectAbsent(del.Key); err != nil {
				t.Fatalf("after the client's delete: %v", err)
			}
			cl.refs(t, c, small)
		})
	}
	assertNoSecrets(t, g.Gateway, append(minted.list(), s3Secret)...) // nor a token, nor a derived secret
}

// s3Tokens mints the tokens of one client's run under prefix p: PUT and GET of p/small.bin
// and p/big.bin, LIST of p/, DELETE of p/small.bin.
type s3Tokens struct{ putSmall, putBig, getSmall, getBig, list, del s3Creds }

func mintClientTokens(c client, p string) s3Tokens {
	return s3Tokens{
		putSmall: c.mintS3(`"key":"` + p + `/small.bin","method":"PUT"`),
		putBig:   c.mintS3(`"key":"` + p + `/big.bin","method":"PUT"`),
		getSmall: c.mintS3(`"key":"` + p + `/small.bin","method":"GET","max_hits":5`),
		getBig:   c.mintS3(`"key":"` + p + `/big.bin","method":"GET"`), // ranged downloads: a hit each
		list:     c.mintS3(`"prefix":"` + p + `/","method":"LIST","max_hits":5`),
		del:      c.mintS3(`"key":"` + p + `/small.bin","method":"DELETE"`),
	}
}

// wantUsed checks a token's used_hits.
func wantUsed(t *testing.T, c client, what string, cr s3Creds, want int) {
	t.Helper()
	if got := c.usedHits(cr.Token); got != want {
		t.Fatalf("%s: used_hits %d, want %d", what, got, want)
	}
}

// httpGet downloads a URL (a presigned one) and returns status and body.
func httpGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := plainClient(0).Get(strings.TrimSpace(u))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func awsOps(t *testing.T, c client, small, big string) s3Creds {
	k := mintClientTokens(c, "cli")
	dir := t.TempDir()
	wantOK(t, "aws s3 cp up", k.putSmall.aws(t, "s3", "cp", small, "s3://assets/cli/small.bin"))
	wantOK(t, "aws s3 cp up 64 MiB", k.putBig.aws(t, "s3", "cp", big, "s3://assets/cli/big.bin"))
	wantUsed(t, c, "a 64 MiB multipart upload", k.putBig, 1)
	wantOK(t, "aws s3 cp down", k.getSmall.aws(t, "s3", "cp", "s3://assets/cli/small.bin", filepath.Join(dir, "small")))
	sameFile(t, "aws s3 cp down", small, filepath.Join(dir, "small"))
	wantOK(t, "aws s3 cp down 64 MiB", k.getBig.aws(t, "s3", "cp", "s3://assets/cli/big.bin", filepath.Join(dir, "big")))
	sameFile(t, "aws s3 cp down 64 MiB", big, filepath.Join(dir, "big"))
	head := wantOK(t, "aws s3api head-object", k.getSmall.aws(t, "s3api", "head-object", "--bucket", "assets", "--key", "cli/small.bin"))
	if !strings.Contains(head.out, `"ContentLength": 102400`) {
		t.Fatalf("head-object: %v", head)
	}
	u := wantOK(t, "aws s3 presign", k.getSmall.aws(t, "s3", "presign", "s3://assets/cli/small.bin", "--expires-in", "60")).out
	if status, body := httpGet(t, u); status != 200 || len(body) != 100<<10 {
		t.Fatalf("the CLI's presigned URL: %d, %d bytes", status, len(body))
	}
	wantUsed(t, c, "cp down, head, presigned GET", k.getSmall, 2)
	ls := wantOK(t, "aws s3 ls", k.list.aws(t, "s3", "ls", "s3://assets/cli/"))
	if !strings.Contains(ls.out, " 102400 small.bin") || !strings.Contains(ls.out, " 67108864 big.bin") {
		t.Fatalf("aws s3 ls: %v", ls)
	}
	wantOK(t, "aws s3 rm", k.del.aws(t, "s3", "rm", "s3://assets/cli/small.bin"))
	return k.del
}

func awsRefusals(t *testing.T, c client, small string) {
	put := c.mintS3(`"key":"cli/again.bin","method":"PUT"`)
	wantOK(t, "upload", put.aws(t, "s3", "cp", small, "s3://assets/cli/again.bin"))
	get := c.mintS3(`"key":"cli/again.bin","method":"GET","max_hits":1`)
	out := filepath.Join(t.TempDir(), "out")
	getObject := func(cr s3Creds, key string) run {
		return cr.aws(t, "s3api", "get-object", "--bucket", "assets", "--key", key, out)
	}
	wrong := get
	wrong.SecretAccessKey = strings.ToUpper(get.SecretAccessKey)
	wantRefused(t, "aws: wrong secret", getObject(wrong, "cli/again.bin"), "(SignatureDoesNotMatch)")
	wantRefused(t, "aws: other key", getObject(get, "cli/big.bin"), "(AccessDenied)", "another bucket or key")
	wantRefused(t, "aws: other key, with cp", get.aws(t, "s3", "cp", "s3://assets/cli/big.bin", out), "(403)", "HeadObject")
	wantOK(t, "the one hit", getObject(get, "cli/again.bin"))
	wantRefused(t, "aws: exhausted", getObject(get, "cli/again.bin"), "(AccessDenied)", "no hits left")
	rev := c.mintS3(`"key":"cli/again.bin","method":"GET"`)
	c.revoke(rev.Token)
	wantRefused(t, "aws: revoked", getObject(rev, "cli/again.bin"), "(AccessDenied)", "revoked")
	capped := c.mintS3(`"key":"cli/capped.bin","method":"PUT","size":1000`)
	wantRefused(t, "aws: over the size cap", capped.aws(t, "s3", "cp", small, "s3://assets/cli/capped.bin"), "(EntityTooLarge)")
	wantUsed(t, c, "a refused upload", capped, 0)
}

func botoOps(t *testing.T, c client, small, big string) s3Creds {
	k := mintClientTokens(c, "boto")
	dir := t.TempDir()
	wantOK(t, "boto3 upload_file", k.putSmall.boto3(t, `s3.upload_file(`+pyStr(small)+`, bucket, key)`))
	wantOK(t, "boto3 upload_file 64 MiB", k.putBig.boto3(t, `s3.upload_file(`+pyStr(big)+`, bucket, key)`))
	wantUsed(t, c, "a 64 MiB multipart upload", k.putBig, 1)
	wantOK(t, "boto3 download_file", k.getSmall.boto3(t, `s3.download_file(bucket, key, `+pyStr(filepath.Join(dir, "small"))+`)`))
	sameFile(t, "boto3 download_file", small, filepath.Join(dir, "small"))
	wantOK(t, "boto3 download_file 64 MiB", k.getBig.boto3(t, `s3.download_file(bucket, key, `+pyStr(filepath.Join(dir, "big"))+`)`))
	sameFile(t, "boto3 download_file 64 MiB", big, filepath.Join(dir, "big"))
	head := wantOK(t, "boto3 head_object", k.getSmall.boto3(t, `print(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])`))
	if strings.TrimSpace(head.out) != "102400" {
		t.Fatalf("head_object: %v", head)
	}
	u := wantOK(t, "boto3 generate_presigned_url", k.getSmall.boto3(t,
		`print(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60))`)).out
	if status, body := httpGet(t, u); status != 200 || len(body) != 100<<10 {
		t.Fatalf("boto3's presigned URL: %d, %d bytes", status, len(body))
	}
	ls := wantOK(t, "boto3 list_objects_v2", k.list.boto3(t, `for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 1}):
    for o in page.get("Contents", []): print(o["Key"], o["Size"])`))
	if ls.out != "boto/big.bin 67108864\nboto/small.bin 102400\n" {
		t.Fatalf("list_objects_v2 in pages of one: %v", ls)
	}
	wantUsed(t, c, "two pages of one, and the end", k.list, 2)
	wantOK(t, "boto3 delete_object", k.del.boto3(t, `s3.delete_object(Bucket=bucket, Key=key)`))
	return k.del
}

// pyStr is a Python string literal of s.
func pyStr(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

func botoRefusals(t *testing.T, c client, small string) {
	put := c.mintS3(`"key":"boto/again.bin","method":"PUT"`)
	wantOK(t, "upload", put.boto3(t, `s3.upload_file(`+pyStr(small)+`, bucket, key)`))
	get := c.mintS3(`"key":"boto/again.bin","method":"GET","max_hits":1`)
	getObject := func(cr s3Creds, key string) run {
		return cr.boto3(t, `s3.get_object(Bucket=bucket, Key=`+pyStr(key)+`)["Body"].read()`)
	}
	wrong := get
	wrong.SecretAccessKey = strings.ToUpper(get.SecretAccessKey)
	wantRefused(t, "boto3: wrong secret", getObject(wrong, "boto/again.bin"), "(SignatureDoesNotMatch)")
	wantRefused(t, "boto3: other key", getObject(get, "boto/big.bin"), "(AccessDenied)", "another bucket or key")
	wantOK(t, "the one hit", getObject(get, "boto/again.bin"))
	wantRefused(t, "boto3: exhausted", getObject(get, "boto/again.bin"), "(AccessDenied)", "no hits left")
	rev := c.mintS3(`"key":"boto/again.bin","method":"GET"`)
	c.revoke(rev.Token)
	wantRefused(t, "boto3: revoked", getObject(rev, "boto/again.bin"), "(AccessDenied)", "revoked")
	capped := c.mintS3(`"key":"boto/capped.bin","method":"PUT","size":1000`)
	wantRefused(t, "boto3: over the size cap", capped.boto3(t, `s3.upload_file(`+pyStr(small)+`, bucket, key)`), "EntityTooLarge")
}

func mcOps(t *testing.T, c client, mc, small, big string) s3Creds {
	k := mintClientTokens(c, "mc")
	dir := t.TempDir()
	wantOK(t, "mc cp up", k.putSmall.mc(t, mc, "cp", small, "gw/assets/mc/small.bin"))
	wantOK(t, "mc cp up 64 MiB", k.putBig.mc(t, mc, "cp", big, "gw/assets/mc/big.bin"))
	wantUsed(t, c, "a 64 MiB multipart upload", k.putBig, 1)
	wantOK(t, "mc cp down", k.getSmall.mc(t, mc, "cp", "gw/assets/mc/small.bin", filepath.Join(dir, "small")))
	sameFile(t, "mc cp down", small, filepath.Join(dir, "small"))
	wantOK(t, "mc cp down 64 MiB", k.getBig.mc(t, mc, "cp", "gw/assets/mc/big.bin", filepath.Join(dir, "big")))
	sameFile(t, "mc cp down 64 MiB", big, filepath.Join(dir, "big"))
	stat := wantOK(t, "mc stat", k.getSmall.mc(t, mc, "stat", "gw/assets/mc/small.bin"))
	if !strings.Contains(stat.out, "100 KiB") {
		t.Fatalf("mc stat: %v", stat)
	}
	ls := wantOK(t, "mc ls", k.list.mc(t, mc, "ls", "gw/assets/mc/"))
	if !strings.Contains(ls.out, "small.bin") || !strings.Contains(ls.out, "big.bin") {
		t.Fatalf("mc ls: %v", ls)
	}
	wantOK(t, "mc rm", k.del.mc(t, mc, "rm", "gw/assets/mc/small.bin"))
	return k.del
}

func mcRefusals(t *testing.T, c client, mc, small string) {
	put := c.mintS3(`"key":"mc/again.bin","method":"PUT"`)
	wantOK(t, "upload", put.mc(t, mc, "cp", small, "gw/assets/mc/again.bin"))
	get := c.mintS3(`"key":"mc/again.bin","method":"GET","max_hits":1`)
	cat := func(cr s3Creds, key string) run { return cr.mc(t, mc, "cat", "gw/assets/"+key) }
	wrong := get
	wrong.SecretAccessKey = strings.ToUpper(get.SecretAccessKey)
	wantRefused(t, "mc: wrong secret", cat(wrong, "mc/again.bin"), "signature we calculated does not match")
	// mc stats (HEAD) first: a refused HEAD has no document, and mc words its 403 itself.
	wantRefused(t, "mc: other key", cat(get, "mc/big.bin"), "Insufficient permissions")
	wantOK(t, "the one hit", cat(get, "mc/again.bin"))
	wantRefused(t, "mc: exhausted", cat(get, "mc/again.bin"), "no hits left")
	rev := c.mintS3(`"key":"mc/again.bin","method":"GET"`)
	c.revoke(rev.Token)
	wantRefused(t, "mc: revoked", cat(rev, "mc/again.bin"), "Insufficient permissions")
	capped := c.mintS3(`"key":"mc/capped.bin","method":"PUT","size":1000`)
	wantRefused(t, "mc: over the size cap", capped.mc(t, mc, "cp", small, "gw/assets/mc/capped.bin"), "maximum allowed size")
}
