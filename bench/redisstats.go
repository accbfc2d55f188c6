package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// commandStats returns calls per command from INFO commandstats. Redis counts the commands
// a Lua script runs (redis.call) there too, next to the EVALSHA that ran the script.
func commandStats(ctx context.Context, rdb *redis.Client) (map[string]int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("commandstats line %q", line)
				}
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out, nil
}

// infoInt returns one integer field of INFO section.
func infoInt(ctx context.Context, rdb *redis.Client, section, field string) (int64, error) {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO %s has no %s", section, field)
}

// monitor follows MONITOR and counts commands in three classes, so that the round trips of
// the /object path can be told from what INFO commandstats mixes in with them:
//
//	token  — sent by a client (not from inside a script) and naming a token record key
//	         (<prefix>t:…, <prefix>r:…): the round trips of the token path;
//	lua    — run by a script (redis.call) on a token record key, counted in commandstats too;
//	other, lua-other — anything else, sent by a client or run by a script: the webhook
//	         queue's polling (XREADGROUP, XAUTOCLAIM, its retry script…), the bench's own INFO.
type monitor struct {
	conn net.Conn
	done chan struct{}

	mu     sync.Mutex
	counts map[string]int64 // "class command" → count
	lines  int64
}

func startMonitor(addr string) (*monitor, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(c, 256<<10)
	if _, err := c.Write([]byte("MONITOR\r\n")); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	ok, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(ok, "+OK") {
		c.Close()
		return nil, fmt.Errorf("MONITOR answered %q: %v", ok, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	m := &monitor{conn: c, done: make(chan struct{}), counts: map[string]int64{}}
	go func() {
		defer close(m.done)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			class, cmd, ok := classifyMonitorLine(line)
			if !ok {
				continue
			}
			m.mu.Lock()
			m.counts[class+" "+cmd]++
			m.lines++
			m.mu.Unlock()
		}
	}()
	return m, nil
}

// classifyMonitorLine parses `+1700000000.123456 [0 127.0.0.1:5555] "evalsha" "…" …` (or
// `[0 lua]` for a command a script ran).
func classifyMonitorLine(line string) (class, cmd string, ok bool) {
	open := strings.IndexByte(line, '[')
	closing := strings.IndexByte(line, ']')
	if open < 0 || closing < open {
		return "", "", false
	}
	src := line[open+1 : closing]
	rest := strings.TrimSpace(line[closing+1:])
	if len(rest) < 2 || rest[0] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(rest[1:], '"')
	if end < 0 {
		return "", "", false
	}
	cmd = strings.ToLower(rest[1 : 1+end])
	// Token records are "<prefix>{<id>}" and refund markers "<prefix>{<id>}r:<n>"; the
	// webhook queue's keys are "<prefix>{cb}:…".
	tokenKey := strings.Contains(rest, `"`+keyPrefix+`{`) && !strings.Contains(rest, `"`+keyPrefix+`{cb}`)
	switch lua := strings.HasSuffix(src, " lua"); {
	case lua && tokenKey:
		class = "lua"
	case lua:
		class = "lua-other"
	case tokenKey:
		class = "token"
	default:
		class = "other"
	}
	return class, cmd, true
}

// snapshot returns the counts so far, after giving the stream a moment to catch up.
func (m *monitor) snapshot() map[string]int64 {
	// MONITOR lags the commands a little: wait until no line arrived for 200 ms.
	last := int64(-1)
	for range 50 {
		m.mu.Lock()
		n := m.lines
		m.mu.Unlock()
		if n == last {
			break
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.counts)
}

func (m *monitor) close() {
	m.conn.Close()
	<-m.done
}

// delta returns after - before for every key that changed.
func delta(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
