package callback

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Run delivers events until ctx is done. Then it stops taking new work, lets in-flight
// attempts finish and (in memory) drains the queue, for at most DrainTimeout, and returns once
// every goroutine it started has exited. Run may be called once.
func (p *Pool) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errRunTwice
	}
	defer p.transport.CloseIdleConnections()
	// hard is cancelled when the drain time is up: it cuts attempts still running.
	hard, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()

	var producers, workers sync.WaitGroup
	producersDone := make(chan struct{})
	p.q.start(ctx, &producers)
	for range p.workers {
		workers.Go(func() { p.worker(ctx, hard, producersDone) })
	}

	p.log.Info("callback delivery started", "workers", p.workers, "durable", p.due == nil)
	<-ctx.Done()
	drainTimer := time.AfterFunc(max(p.drain, 0), hardCancel) // negative DrainTimeout: at once
	defer drainTimer.Stop()
	producers.Wait()
	close(producersDone)
	workers.Wait()

	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	p.q.stop(stopCtx)
	st := p.Stats()
	p.log.Info("callback delivery stopped", "delivered", st.Delivered, "dead_lettered", st.DeadLettered,
		"abandoned", st.Abandoned)
	return nil
}

// worker takes deliveries until ctx is done, then drains what the producers left in p.work.
func (p *Pool) worker(ctx, hard context.Context, producersDone <-chan struct{}) {
	for {
		select {
		case d := <-p.work:
			p.handle(hard, d)
		case d := <-p.due:
			p.handle(hard, d)
		case <-ctx.Done():
			select {
			case <-producersDone:
			case <-hard.Done():
			}
			for {
				select {
				case d := <-p.work:
					p.handle(hard, d)
				default:
					return
				}
			}
		}
	}
}

// handle makes one attempt at d, or puts it back when its host is saturated.
func (p *Pool) handle(hard context.Context, d *delivery) {
	defer p.q.release(d)
	if hard.Err() != nil {
		p.abandon()
		return
	}
	if !p.hosts.acquire(d.host) {
		p.stats.deferred.Add(1)
		next := p.jitter(p.busyDelay)
		p.reschedule(d, next, "deferred")
		return
	}
	res := p.attempt(hard, d)
	p.hosts.release(d.host)
	if !res.delivered() && hard.Err() != nil {
		// Cut by shutdown, not the receiver's fault: not counted as an attempt.
		p.abandon()
		return
	}
	p.settle(d, res)
}

func (p *Pool) abandon() { p.stats.abandoned.Add(1) }

// settle records the outcome of an attempt: delivered, scheduled for another attempt, or dead.
func (p *Pool) settle(d *delivery, res result) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p.stats.attempts.Add(1)
	d.Attempts++
	if res.delivered() {
		p.stats.delivered.Add(1)
		if err := p.q.ack(ctx, d); err != nil && !errors.Is(err, errNotOwned) {
			p.log.Error("callback ack failed; the event will be delivered again", "webhook_id", d.ID, "error", err)
		}
		p.log.Debug("callback delivered", "webhook_id", d.ID, "host", d.host, "status", res.status, "attempts", d.Attempts)
		p.notify(report{ID: d.ID, Attempt: d.Attempt + 1, Status: res.status, Outcome: "delivered"})
		return
	}
	p.stats.failed.Add(1)
	d.Attempt++
	d.LastStatus, d.LastError = res.status, res.describe(p.timeout)
	next, again := p.nextDelay(d, res)
	if !again {
		p.bury(ctx, d)
		return
	}
	p.log.Info("callback attempt failed", "webhook_id", d.ID, "host", d.host, "attempt", d.Attempt,
		"status", res.status, "error", d.LastError, "retry_in", next)
	p.reschedule(d, next, "retry")
}

// nextDelay returns the delay before the next attempt, or false when d must be dead-lettered.
func (p *Pool) nextDelay(d *delivery, res result) (time.Duration, bool) {
	if res.status == http.StatusGone || d.Attempt > len(p.retries) {
		return 0, false
	}
	next := p.jitter(p.retries[d.Attempt-1])
	if res.hasRetryAfter {
		next = min(res.retryAfter, p.maxDelay)
	}
	return next, true
}

// reschedule puts d back in the queue after delay; outcome is "retry" or "deferred".
func (p *Pool) reschedule(d *delivery, delay time.Duration, outcome string) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	// Once queued again d may be taken by another worker at once: read it before.
	rep := report{ID: d.ID, Attempt: d.Attempt, Status: d.LastStatus, Err: d.LastError, Outcome: outcome, Next: delay}
	err := p.q.retry(ctx, d, p.clock.Now().Add(delay))
	switch {
	case errors.Is(err, errScheduleFull):
		d.LastError = strings.TrimSuffix(errScheduleFull.Error()+"; "+d.LastError, "; ")
		p.bury(ctx, d)
		return
	case errors.Is(err, errNotOwned):
	case err != nil:
		p.log.Error("callback reschedule failed; the event stays pending and will be claimed again",
			"webhook_id", rep.ID, "error", err)
	}
	p.notify(rep)
}

// bury moves d to the dead letters.
func (p *Pool) bury(ctx context.Context, d *delivery) {
	d.FailedAt = p.clock.Now().UnixMilli()
	err := p.q.bury(ctx, d)
	switch {
	case err == nil:
		p.stats.dead.Add(1)
		p.log.Warn("callback dead-lettered", "webhook_id", d.ID, "host", d.host, "attempts", d.Attempts,
			"status", d.LastStatus, "error", d.LastError)
	case errors.Is(err, errNotOwned):
	default:
		p.log.Error("callback dead-letter failed; the event stays pending and will be claimed again",
			"webhook_id", d.ID, "error", err)
	}
	p.notify(report{ID: d.ID, Attempt: d.Attempt, Status: d.LastStatus, Err: d.LastError, Outcome: "dead"})
}

// notify logs an outcome (debug).
func (p *Pool) notify(r report) {
	p.log.Debug("callback_outcome", "webhook_id", r.ID, "attempt", r.Attempt, "status", r.Status,
		"error", r.Err, "outcome", r.Outcome, "next", r.Next)
}
