package main

import (
	"context"
)

const usageList = `Usage: assetgateway list [flags] OBJECT-URL

Prints one page of the objects under a LIST token's prefix (GET OBJECT-URL; each page is one
hit of the token) as JSON:

  {"objects": [{"key": "index.m3u8", "size": 312, "etag": "...", "last_modified": "..."}],
   "truncated": true, "next_after": "index.m3u8"}

Keys are relative to the token's prefix, in byte order. When "truncated", run it again with
--after set to "next_after" for the next page. OBJECT-URL is the "url" of 'token create', a
path (/object/TOKEN) or a bare token, resolved against --gateway.

  --after KEY   start after this key (relative to the prefix)
  --limit N     at most N objects, 1-1000 (default: the gateway's, 1000)
  --gateway     see 'assetgateway help'
`

const usageDelete = `Usage: assetgateway delete [flags] OBJECT-URL

Deletes the object of a DELETE token's URL (DELETE OBJECT-URL; one hit) and prints
{"deleted": true}. Like S3, it succeeds whether or not the object existed. OBJECT-URL is the
"url" of 'token create', a path (/object/TOKEN) or a bare token, resolved against --gateway.

  --gateway   see 'assetgateway help'
`

// list runs "list OBJECT-URL [--after KEY] [--limit N]".
func (c *cli) list(ctx context.Context, args []string) error {
	fs, co := c.flags("list")
	after := fs.String("after", "", "")
	limit := fs.Int("limit", 0, "")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 0 || *limit > 1000 || flagSet(fs, "limit") && *limit == 0 {
		return c.usageError(fs.Name(), "--limit: want 1 to 1000")
	}
	api, err := c.newClient(fs, co, false)
	if err != nil {
		return err
	}
	page, err := api.List(ctx, objectRef(pos[0]), *after, *limit)
	if err != nil {
		return err
	}
	return c.printJSON(page)
}

// deleteObject runs "delete OBJECT-URL".
func (c *cli) deleteObject(ctx context.Context, args []string) error {
	fs, co := c.flags("delete")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	api, err := c.newClient(fs, co, false)
	if err != nil {
		return err
	}
	if err := api.Delete(ctx, objectRef(pos[0])); err != nil {
		return err
	}
	return c.printJSON(struct {
		Deleted bool `json:"deleted"`
	}{true})
}
