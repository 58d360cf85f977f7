package ledger

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkWriterAdd is the cost the gateway pays per request: Add, with
// the background flusher swapping batches out at the default interval.
// The flusher's disk write is replaced by a discard here: Add never waits
// for it (the swap is O(1) under the mutex), and a benchmark adding tens
// of millions of records would otherwise measure the backlog it builds.
func BenchmarkWriterAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	recs := make([]Record, 1024)
	base := time.Now()
	for i := range recs {
		recs[i] = randomRecord(rng, base, time.Hour, i)
	}
	for _, tc := range []struct {
		name     string
		parallel bool
		every    time.Duration
	}{
		// The default interval: at benchmark speed a window holds millions
		// of records, so this includes regrowing the batch every window.
		{"serial/250ms", false, 0},
		{"parallel/250ms", true, 0},
		// Windows of realistic size (thousands), where batches are reused.
		{"serial/1ms", false, time.Millisecond},
		{"parallel/1ms", true, time.Millisecond},
	} {
		parallel := tc.parallel
		b.Run(tc.name, func(b *testing.B) {
			w := newWriter(opener(tempPath(b)), Options{FlushInterval: tc.every, Logger: discardLogger()},
				func([]Record) error { return nil })
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						w.Add(recs[i&1023])
						i++
					}
				})
			} else {
				for i := 0; b.Loop(); i++ {
					w.Add(recs[i&1023])
				}
			}
			b.StopTimer()
			closeWriter(b, w)
		})
	}
}

// BenchmarkFlush measures the write side: one flush of 1000 records (a
// 250ms window at 4000 requests/s) into a file that grows as it runs,
// opening and closing the file each time as the Writer does.
func BenchmarkFlush(b *testing.B) {
	const batch = 1000
	rng := rand.New(rand.NewPCG(2, 2))
	path := tempPath(b)
	w := NewWriter(opener(path), Options{FlushInterval: time.Hour, Logger: discardLogger()})
	base := time.Now()
	recs := make([]Record, batch)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := range recs {
			recs[i] = randomRecord(rng, base.Add(time.Duration(n)*time.Millisecond), time.Minute, n)
			n++
		}
		for _, r := range recs {
			w.Add(r)
		}
		b.StartTimer()
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	closeWriter(b, w)
}
