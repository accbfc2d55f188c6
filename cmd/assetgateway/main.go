// Command assetgateway serves temporary, countable, revocable access to objects in
// S3-compatible buckets.
package main

func main() {}
