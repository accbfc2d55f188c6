package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// memory measures Redis bytes per token after minting o.tokens tokens (the "memory"
// scenario). It stays one function, longer than the house limit: clean-up, minting and the
// before/after readings must run in this order and share their readings.
func (b *bench) memory() error {
	ctx := b.ctx
	// Remove the records earlier scenarios minted, so that they neither count nor change the
	// size of Redis's key tables under the measurement.
	removed := 0
	for _, pattern := range []string{keyPrefix + "t:*", keyPrefix + "r:*", "ceil:t:*"} {
		it := b.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		for it.Next(ctx) {
			batch = append(batch, it.Val())
			if len(batch) == 1000 {
				if err := b.rdb.Unlink(ctx, batch...).Err(); err != nil {
					return err
				}
				removed += len(batch)
				batch = batch[:0]
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := b.rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			removed += len(batch)
		}
	}
	time.Sleep(2 * time.Second) // lazy frees and table shrinking run in Redis's cron
	keys0, err := b.rdb.DBSize(ctx).Result()
	if err != nil {
		return err
	}
	mem0, err := infoInt(ctx, b.rdb, "memory", "used_memory")
	if err != nil {
		return err
	}
	hdr := []string{"Authorization", "Bearer " + controlToken, "Content-Type", "application/json"}
	rr, err := rawFor(http.MethodPost, b.s.gwURL+"/token", hdr, []byte(mintBody), http.StatusCreated)
	if err != nil {
		return err
	}
	b.waitQuiet()
	progress("minting %d tokens through POST /token", b.o.tokens)
	res, err := runLoad(ctx, rr.withCounter("000123"), loadOptions{conns: b.o.conns, total: int64(b.o.tokens)})
	if err != nil {
		return err
	}
	if res.errors > 0 {
		return fmt.Errorf("%d of %d mints failed, first: %v", res.errors, b.o.tokens, res.firstErr)
	}
	time.Sleep(time.Second)
	keys1, err := b.rdb.DBSize(ctx).Result()
	if err != nil {
		return err
	}
	mem1, err := infoInt(ctx, b.rdb, "memory", "used_memory")
	if err != nil {
		return err
	}
	per := float64(mem1-mem0) / float64(res.requests)

	// One record, for the shape of the cost.
	var sample string
	keys, _, err := b.rdb.Scan(ctx, 0, keyPrefix+"t:*", 100).Result()
	if err == nil && len(keys) > 0 {
		k := keys[0]
		usage, _ := b.rdb.MemoryUsage(ctx, k, 0).Result()
		enc, _ := b.rdb.ObjectEncoding(ctx, k).Result()
		fields, _ := b.rdb.HGetAll(ctx, k).Result()
		names := make([]string, 0, len(fields))
		data := 0
		for f, v := range fields {
			names = append(names, f)
			data += len(f) + len(v)
		}
		slices.Sort(names)
		sample = fmt.Sprintf("One record: key `%s` (%d bytes), a hash with %d fields (%s) holding %d bytes of "+
			"field names and values, encoding `%s`, with a TTL; `MEMORY USAGE` says %d bytes (key, value and "+
			"allocator overhead, without the main and expires table entries).",
			redactKey(k), len(k), len(fields), strings.Join(names, " "), data, enc, usage)
	}
	b.rep.addTarget("Redis memory per token", fmt.Sprintf("%.0f B", per), "≤ 250 B", per <= 250)
	rows := [][]string{{
		fmt.Sprint(res.requests), fmt.Sprintf("%.0f/s", float64(res.requests)/res.elapsed.Seconds()),
		fmt.Sprint(keys0), fmt.Sprint(keys1), mib(mem0), mib(mem1), fmt.Sprintf("%.1f", per),
	}}
	body := fmt.Sprintf("Tokens minted through the gateway's `POST /token` (body `%s`, the digits changing "+
		"every time; %d connections), after removing the records earlier scenarios left (%d keys). "+
		"Bytes per token = change of `used_memory` (`INFO memory`) / tokens minted, measured, not "+
		"extrapolated; it includes each key's share of Redis's main and expires hash tables.\n\n",
		mintBody, b.o.conns, removed) +
		mdTable([]string{"tokens minted", "mint rate", "keys before", "keys after", "used_memory before", "after", "bytes / token"}, rows)
	if sample != "" {
		body += "\n" + sample + "\n"
	}
	b.rep.addSection("Redis memory per token", body)
	return nil
}

// redactKey shortens a record key for the report.
func redactKey(k string) string {
	if i := strings.IndexByte(k, '{'); i > 0 && len(k) > i+8 {
		return k[:i+5] + "…}"
	}
	return k
}
