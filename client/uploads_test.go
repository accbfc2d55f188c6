package client_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/assetgateway/assetgateway/client"
)

// sdkClient is an AWS SDK S3 client that uses a token's S3 credentials as given.
func sdkClient(cr *client.S3Credentials) *s3.Client {
	return s3.New(s3.Options{
		Region:           cr.Region,
		BaseEndpoint:     aws.String(cr.Endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(cr.AccessKeyID, cr.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
}

// TestUploadsAndS3Credentials: a PUT token's other upload URLs and a token's S3
// credentials reach the client, from POST /token, POST /tokens and GET /token, and the
// credentials work as they are with the AWS SDK — until the token is revoked.
func TestUploadsAndS3Credentials(t *testing.T) {
	gw, c := startGateway(t)
	ctx := context.Background()
	put, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "s3/a.txt", Method: client.MethodPut, MaxHits: new(int64(1)), S3: true})
	if err != nil {
		t.Fatal(err)
	}
	if put.TusURL != gw.URL+"/tus/"+put.Token || put.UppyEndpoint != "" {
		t.Errorf("uploads: tus %q, uppy %q; want the tus URL and no Uppy endpoint (not an S3 alias)", put.TusURL, put.UppyEndpoint)
	}
	cr := put.S3
	if cr == nil || cr.Endpoint != gw.S3URL || cr.Bucket != "local" || cr.Key != "s3/a.txt" || cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
		t.Fatalf("s3: %+v, want the listener's endpoint, the token's bucket and key, and a key pair", cr)
	}
	if _, err := sdkClient(cr).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cr.Bucket), Key: aws.String(cr.Key),
		Body: strings.NewReader("through the S3 listener")}); err != nil {
		t.Fatalf("PutObject with the token's credentials: %v", err)
	}
	rec, err := c.GetToken(ctx, put.Token)
	if err != nil || rec.UsedHits != 1 || rec.TusURL != put.TusURL {
		t.Fatalf("GetToken after the S3 upload: %+v, %v; want 1 hit used and the tus URL", rec, err)
	}

	res, err := c.CreateTokens(ctx, []client.CreateRequest{
		{Bucket: "local", Key: "s3/a.txt", Method: client.MethodGet, S3: true},
		{Bucket: "local", Key: "s3/b.txt", Method: client.MethodPut},
	})
	if err != nil || len(res) != 2 || res[0].Err() != nil || res[1].Err() != nil {
		t.Fatalf("CreateTokens: %+v, %v", res, err)
	}
	if res[0].S3 == nil || res[0].TusURL != "" || res[1].S3 != nil || res[1].TusURL != gw.URL+"/tus/"+res[1].Token {
		t.Fatalf("batch: GET %+v, PUT %+v; want S3 credentials only where asked, a tus URL only for PUT", res[0], res[1])
	}
	get := sdkClient(res[0].S3)
	obj, err := get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("local"), Key: aws.String("s3/a.txt")})
	if err != nil {
		t.Fatalf("GetObject with the batch token's credentials: %v", err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(body) != "through the S3 listener" {
		t.Fatalf("GetObject: %q", body)
	}
	if err := c.DeleteToken(ctx, res[0].Token); err != nil {
		t.Fatal(err)
	}
	_, err = get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("local"), Key: aws.String("s3/a.txt")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Fatalf("GetObject with a revoked token's credentials: %v, want AccessDenied", err)
	}
}
