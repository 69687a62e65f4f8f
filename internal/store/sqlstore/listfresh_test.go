package sqlstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGenCheckNeverStale has writers bump a counter while many readers ask
// for it through one genCheck: every answer must include every write that
// completed before its call began, and concurrent calls must share reads.
func TestGenCheckNeverStale(t *testing.T) {
	var g genCheck
	var db atomic.Int64
	var reads atomic.Int64
	read := func() (listStamp, error) {
		reads.Add(1)
		v := db.Load()
		time.Sleep(200 * time.Microsecond) // a read takes a while; writes go on meanwhile
		return listStamp{gen: v, found: true}, nil
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	writers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				db.Add(1)
				time.Sleep(50 * time.Microsecond)
			}
		}
	})
	var readers sync.WaitGroup
	var calls atomic.Int64
	for range 32 {
		readers.Go(func() {
			for range 200 {
				before := db.Load() // every write up to here has completed
				calls.Add(1)
				got, err := g.get(read)
				if err != nil || !got.found {
					t.Errorf("get: %+v %v", got, err)
					return
				}
				if got.gen < before {
					t.Errorf("stale: got generation %d, but %d was written before the call", got.gen, before)
					return
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	writers.Wait()
	if r, c := reads.Load(), calls.Load(); r >= c {
		t.Fatalf("%d reads for %d concurrent calls: none shared", r, c)
	} else {
		t.Logf("%d reads served %d calls", r, c)
	}
}

// TestGenCheckError gives a failed read's error to the calls that waited
// for it, and tries again on the next call.
func TestGenCheckError(t *testing.T) {
	var g genCheck
	boom := errors.New("boom")
	if _, err := g.get(func() (listStamp, error) { return listStamp{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	got, err := g.get(func() (listStamp, error) { return listStamp{gen: 7, found: true}, nil })
	if got.gen != 7 || !got.found || err != nil {
		t.Fatalf("after an error: %+v %v", got, err)
	}
}
