package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// loop is what the Reconciler and the JobRunner share: workers that make
// passes over the keys of a queue, one pass per key at a time, retried
// with backoff when they fail, and a resync that queues every key
// periodically.
type loop struct {
	queue   *queue
	retries backoffs
	// what names a pass in logs ("reconcile", "jobs of a cluster").
	what string
}

func newLoop(what string) *loop { return &loop{queue: newQueue(), what: what} }

// run works until ctx ends: it queues what list returns at start and every
// resync, and runs workers passes at once. It returns when every worker is
// done.
func (l *loop) run(ctx context.Context, workers int, resync time.Duration, logger *slog.Logger,
	list func(context.Context) ([]Ref, error), pass func(context.Context, Ref) (time.Duration, error),
) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.work(ctx, logger, pass)
		}()
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		refs, err := list(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error(l.what+": resync: list clusters", "err", err.Error())
		}
		for _, ref := range refs {
			l.queue.add(ref)
		}
		select {
		case <-ctx.Done():
			l.queue.close()
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

func (l *loop) work(ctx context.Context, logger *slog.Logger, pass func(context.Context, Ref) (time.Duration, error)) {
	for {
		ref, ok := l.queue.get()
		if !ok {
			return
		}
		after, err := pass(ctx, ref)
		switch {
		case err != nil && ctx.Err() == nil:
			after = l.retries.failed(ref)
			logger.Warn(l.what+" failed; retrying", "clusterId", ref.ID, "workspaceId", ref.WorkspaceID, "err", err.Error(), "in", after.Round(time.Millisecond).String())
		case err == nil:
			l.retries.succeeded(ref)
		}
		l.queue.done(ref)
		if after > 0 {
			l.queue.addAfter(ref, after)
		}
	}
}
