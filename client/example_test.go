package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/assetgateway/assetgateway/client"
)

// exampleGateway runs an in-process gateway for the examples (bucket "local" is an empty
// directory). In real code, use your gateway's URL and one of its control.tokens.
func exampleGateway() (url, control string, stop func()) {
	gw, err := newGateway()
	if err != nil {
		log.Fatal(err)
	}
	return gw.URL, controlToken, gw.close
}

// A backend mints an upload token, someone uploads through it, the backend checks that the
// upload landed, then mints a download token for a browser.
func Example() {
	gatewayURL, controlToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	c := client.New(gatewayURL, controlToken)

	put, err := c.CreateToken(ctx, client.CreateRequest{
		Bucket: "local",
		Key:    "reports/2026.txt",
		Method: client.MethodPut,
		Size:   new(int64(1 << 20)), // at most 1 MiB
	})
	if err != nil {
		log.Fatal(err)
	}
	// put.URL is what you hand to the uploader; here we upload ourselves.
	report := "quarterly numbers\n"
	if _, err := c.Upload(ctx, put.URL, strings.NewReader(report), int64(len(report)), "text/plain"); err != nil {
		log.Fatal(err)
	}

	st, err := c.Status(ctx, put.Token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("uploaded:", st.Uploaded, "size:", st.ObjectSize)

	get, err := c.CreateToken(ctx, client.CreateRequest{
		Bucket:   "local",
		Key:      "reports/2026.txt",
		Method:   client.MethodGet,
		Filename: "Report 2026.txt",
		MaxHits:  new(int64(3)),
	})
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	info, err := c.Download(ctx, get.URL, &buf, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("downloaded %q as %q\n", buf.String(), info.Filename)
	// Output:
	// uploaded: true size: 18
	// downloaded "quarterly numbers\n" as "Report 2026.txt"
}

func ExampleClient_CreateToken() {
	gatewayURL, controlToken, stop := exampleGateway()
	defer stop()
	c := client.New(gatewayURL, controlToken)

	created, err := c.CreateToken(context.Background(), client.CreateRequest{
		Token:     "example-download-token-1", // leave Token out to get a random one
		Bucket:    "local",
		Key:       "videos/intro.mp4",
		Method:    client.MethodGet,
		ExpiresIn: new(int64(3600)), // one hour
		MaxHits:   new(int64(5)),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(created.Token, created.Method, strings.TrimPrefix(created.URL, gatewayURL))
	// Output: example-download-token-1 GET /object/example-download-token-1
}

func ExampleClient_Download() {
	gatewayURL, controlToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	c := client.New(gatewayURL, controlToken)
	put, _ := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "abc.txt", Method: client.MethodPut})
	_, _ = c.Upload(ctx, put.URL, strings.NewReader("abcdefghij"), 10, "text/plain")
	get, _ := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "abc.txt", Method: client.MethodGet})

	// The last four bytes: one hit, answered 206.
	info, err := c.Download(ctx, get.URL, os.Stdout, "bytes=-4")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\n%d: bytes %d-%d of %d\n", info.Status, info.Start, info.Start+info.Length-1, info.Size)
	// Output:
	// ghij
	// 206: bytes 6-9 of 10
}

func ExampleClient_Upload() {
	gatewayURL, controlToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	c := client.New(gatewayURL, controlToken)
	put, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "in/data.bin", Method: client.MethodPut})
	if err != nil {
		log.Fatal(err)
	}

	// A reader of unknown length (a pipe, a network stream) is sent chunked: size -1.
	var body io.Reader = io.MultiReader(strings.NewReader("streamed "), strings.NewReader("content"))
	up, err := c.Upload(ctx, put.URL, body, -1, "application/octet-stream")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(up.Size, up.ETag)
	// Output: 16 7e18ca14752cea87dc093d2f239d49c8
}

func ExampleError() {
	gatewayURL, controlToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	c := client.New(gatewayURL, controlToken)
	put, _ := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "once.txt", Method: client.MethodPut})
	_, _ = c.Upload(ctx, put.URL, strings.NewReader("x"), 1, "")
	once, _ := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "once.txt", Method: client.MethodGet, MaxHits: new(int64(1))})

	for range 2 {
		_, err := c.Download(ctx, once.URL, io.Discard, "")
		var e *client.Error
		switch {
		case err == nil:
			fmt.Println("downloaded")
		case errors.Is(err, client.ErrHitsExceeded) && errors.As(err, &e):
			fmt.Println("refused:", e.Status, e.Code)
		default:
			log.Fatal(err)
		}
	}
	// Output:
	// downloaded
	// refused: 409 hits_exceeded
}

func ExampleClient_Head() {
	gatewayURL, controlToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	c := client.New(gatewayURL, controlToken)
	put, _ := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "later.txt", Method: client.MethodPut})

	// HEAD through a PUT token tells whether the upload landed, and costs no hit.
	_, err := c.Head(ctx, put.URL)
	var e *client.Error
	fmt.Println("before:", errors.As(err, &e) && e.Status == 404)
	_, _ = c.Upload(ctx, put.URL, strings.NewReader("done"), 4, "text/plain")
	info, err := c.Head(ctx, put.URL)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after:", info.Size, info.ContentType)
	// Output:
	// before: true
	// after: 4 text/plain
}

// Mint many tokens in one call: one per file of an album, each good for one download.
func ExampleClient_CreateTokens() {
	gatewayURL, controlToken, stop := exampleGateway()
	defer stop()
	c := client.New(gatewayURL, controlToken)

	var reqs []client.CreateRequest
	for _, name := range []string{"01.jpg", "02.jpg", "03.jpg"} {
		reqs = append(reqs, client.CreateRequest{Bucket: "local", Key: "album/" + name, Method: client.MethodGet,
			Filename: name, MaxHits: new(int64(1))})
	}
	results, err := c.CreateTokens(context.Background(), reqs)
	if err != nil {
		log.Fatal(err) // nothing was minted: err names every invalid item
	}
	for _, r := range results {
		if err := r.Err(); err != nil {
			fmt.Println("refused:", err) // a custom token that was taken
			continue
		}
		fmt.Println(r.Status, r.Filename, strings.HasPrefix(r.URL, gatewayURL+"/object/"))
	}
	// Output:
	// 201 01.jpg true
	// 201 02.jpg true
	// 201 03.jpg true
}

// Walk a folder through a LIST token, page by page, and fetch its files through a GET
// token for the same prefix.
func ExampleClient_List() {
	gatewayURL, controlToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	c := client.New(gatewayURL, controlToken)
	for _, key := range []string{"site/index.html", "site/css/main.css", "site/about.html"} {
		put, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: key, Method: client.MethodPut})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.Upload(ctx, put.URL, strings.NewReader(key), int64(len(key)), "text/plain"); err != nil {
			log.Fatal(err)
		}
	}

	list, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Prefix: "site/", Method: client.MethodList})
	if err != nil {
		log.Fatal(err)
	}
	get, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Prefix: "site/", Method: client.MethodGet})
	if err != nil {
		log.Fatal(err)
	}
	for after := ""; ; {
		page, err := c.List(ctx, list.URL, after, 2) // each page is a hit of the LIST token
		if err != nil {
			log.Fatal(err)
		}
		for _, e := range page.Objects {
			var buf bytes.Buffer
			if _, err := c.Download(ctx, client.PrefixURL(get.URL, e.Key), &buf, ""); err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%s %d %q\n", e.Key, e.Size, buf.String())
		}
		if !page.Truncated {
			break
		}
		after = page.NextAfter
	}
	// Output:
	// about.html 15 "site/about.html"
	// css/main.css 17 "site/css/main.css"
	// index.html 15 "site/index.html"
}
