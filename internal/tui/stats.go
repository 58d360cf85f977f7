package tui

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/credflow/credflow/pkg/adminapi"
)

// Dim is a dimension the aggregates are grouped by.
type Dim int

// The dimensions, in tab order.
const (
	DimKey Dim = iota
	DimModel
	DimProvider
	numDims
)

func (d Dim) String() string {
	return [...]string{"key", "model", "provider"}[d]
}

// Sizes of the bounded buffers.
const (
	LatencySamples = 500  // latency samples kept per row
	RecentEvents   = 1000 // events kept for the live feed
	SparkSeconds   = 300  // seconds of per-second request counts kept
	RateWindow     = 10   // seconds the req/s and tok/s rates average over
)

// Row is the aggregate of one key, model or provider.
type Row struct {
	Name     string
	Requests int64
	Errors   int64 // status >= 400
	In, Out  int64 // tokens
	Cost     int64 // micro-dollars, sum of the priced requests
	Unpriced int64 // requests without a known price
	// Guarded counts requests a guardrail found something in, Blocked
	// those it refused.
	Guarded, Blocked int64
	LastSeen         time.Time
	LastError        string
	lat              ring[float64]
}

// Latencies returns the kept latency samples (ms), oldest first.
func (r *Row) Latencies() []float64 { return r.lat.items() }

// Percentile returns the p-th percentile (0 < p <= 100) of the kept latency
// samples by the nearest-rank method; 0 without samples.
func (r *Row) Percentile(p float64) float64 { return percentile(r.lat.items(), p) }

func percentile(samples []float64, p float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999999)
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

func (r *Row) add(e *adminapi.Event) {
	r.Requests++
	if len(e.Guard) > 0 {
		r.Guarded++
		for _, h := range e.Guard {
			if h.Action == "block" {
				r.Blocked++
				break
			}
		}
	}
	if isError(e) {
		r.Errors++
		if e.Error != "" {
			r.LastError = e.Error
		}
	}
	r.In += e.InputTokens
	r.Out += e.OutputTokens
	if e.CostKnown {
		r.Cost += e.CostMicros
	} else {
		r.Unpriced++
	}
	if e.Time.After(r.LastSeen) {
		r.LastSeen = e.Time
	}
	r.lat.push(e.LatencyMS)
}

func isError(e *adminapi.Event) bool { return e.Status >= 400 }

// ring is a bounded FIFO.
type ring[T any] struct {
	buf  []T
	next int
	full bool
	cap  int
}

func newRing[T any](n int) ring[T] { return ring[T]{cap: n} }

func (r *ring[T]) push(v T) {
	if r.cap == 0 {
		r.cap = LatencySamples
	}
	if len(r.buf) < r.cap {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % r.cap
	r.full = true
}

// items returns the elements, oldest first.
func (r *ring[T]) items() []T {
	if !r.full {
		return r.buf
	}
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

func (r *ring[T]) len() int { return len(r.buf) }

type bucket struct {
	sec     int64 // unix second the counts are for
	reqs    int64
	in, out int64   // tokens
	latency float64 // sum of the requests' latencies (ms)
}

// Stats aggregates the events top has seen since it started, and, once
// the daemon reported them (SetToday), the day's figures per key, model
// and provider that the tables show.
type Stats struct {
	Total    Row
	rows     [numDims]map[string]*Row
	recent   ring[adminapi.Event]
	spark    [SparkSeconds]bucket
	sessions map[sessionID]*SessionRow
	today    todayRows
}

// NewStats returns empty aggregates.
func NewStats() *Stats {
	s := &Stats{recent: newRing[adminapi.Event](RecentEvents), sessions: map[sessionID]*SessionRow{}}
	for d := range s.rows {
		s.rows[d] = map[string]*Row{}
	}
	return s
}

// nameOf returns the row name of e in dimension d ("-" when empty).
func nameOf(e *adminapi.Event, d Dim) string {
	var s string
	switch d {
	case DimKey:
		s = e.Key
	case DimModel:
		s = e.Model
	case DimProvider:
		s = e.Provider
	}
	if s == "" {
		return "-"
	}
	return s
}

// Add counts one finished request.
func (s *Stats) Add(e adminapi.Event) {
	s.Total.add(&e)
	s.addSession(&e)
	s.today.add(&e)
	for d := range numDims {
		n := nameOf(&e, d)
		r := s.rows[d][n]
		if r == nil {
			r = &Row{Name: n}
			s.rows[d][n] = r
		}
		r.add(&e)
	}
	s.recent.push(e)
	sec := e.Time.Unix()
	b := &s.spark[uint64(sec)%SparkSeconds]
	if b.sec > sec {
		return // older than the seconds kept
	}
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	b.reqs++
	b.in += e.InputTokens
	b.out += e.OutputTokens
	b.latency += e.LatencyMS
}

// Row returns the aggregate of name in d, or nil: the day's figures once
// the daemon reported them (see Rows).
func (s *Stats) Row(d Dim, name string) *Row {
	if !s.today.known {
		return s.rows[d][name]
	}
	if _, ok := s.today.names(d)[name]; !ok {
		return nil
	}
	return s.todayRow(d, name)
}

// Rows returns the rows of d whose name contains filter (case-insensitive),
// in name order. Once the daemon reported the day's figures per key, model
// and provider (SetToday), the rows are the day's: the daemon's figures
// plus the requests seen finish after them, with the latencies and last
// error of the requests top saw itself; before that, what top saw.
func (s *Stats) Rows(d Dim, filter string) []*Row {
	f := strings.ToLower(filter)
	var out []*Row
	match := func(name string) bool { return f == "" || strings.Contains(strings.ToLower(name), f) }
	if s.today.known {
		for name := range s.today.names(d) {
			if match(name) {
				out = append(out, s.todayRow(d, name))
			}
		}
	} else {
		for _, r := range s.rows[d] {
			if match(r.Name) {
				out = append(out, r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// todayRow is a row of the day: the counts from the daemon's figure and
// what followed it, the rest from the requests top saw.
func (s *Stats) todayRow(d Dim, name string) *Row {
	r := &Row{Name: name}
	if seen := s.rows[d][name]; seen != nil {
		r.LastSeen, r.LastError, r.lat = seen.LastSeen, seen.LastError, seen.lat
	}
	n := s.today.total(d, name)
	r.Requests, r.Errors, r.In, r.Out = n.Requests, n.Errors, n.InputTokens, n.OutputTokens
	r.Cost, r.Unpriced = n.CostMicros, n.CostUnknown
	return r
}

// SetToday takes the day's figures per key, model and provider from a
// daemon's status; a status without them leaves the tables counting what
// top saw.
func (s *Stats) SetToday(st *adminapi.Status) {
	s.today.set(st, s.Recent())
}

// Recent returns the kept events, newest first.
func (s *Stats) Recent() []adminapi.Event {
	it := s.recent.items()
	out := make([]adminapi.Event, len(it))
	for i, e := range it {
		out[len(it)-1-i] = e
	}
	return out
}

// Rates are per-second averages.
type Rates struct {
	Reqs, In, Out float64 // requests, input and output tokens per second
}

// Rates returns the rates over the RateWindow seconds up to now.
func (s *Stats) Rates(now time.Time) Rates {
	var r Rates
	end := now.Unix()
	for sec := end - RateWindow + 1; sec <= end; sec++ {
		if b := s.spark[uint64(sec)%SparkSeconds]; b.sec == sec {
			r.Reqs += float64(b.reqs)
			r.In += float64(b.in)
			r.Out += float64(b.out)
		}
	}
	return Rates{Reqs: r.Reqs / RateWindow, In: r.In / RateWindow, Out: r.Out / RateWindow}
}

// Series returns, for n columns of step seconds each ending with the one
// that holds now (columns start at multiples of step, so they stay put
// between redraws), the requests per second and the mean latency (ms) of
// each column, oldest first. Only the last SparkSeconds are kept; the
// current column is averaged over the seconds it has had so far.
func (s *Stats) Series(now time.Time, n int, step int64) (reqs, lat []float64) {
	step = max(step, 1)
	n = max(0, min(n, int(SparkSeconds/step)))
	reqs, lat = make([]float64, n), make([]float64, n)
	end := now.Unix()
	last := end - end%step
	for i := range n {
		from := last - int64(n-1-i)*step
		var count int64
		var sum float64
		for sec := from; sec < from+step && sec <= end; sec++ {
			if b := s.spark[uint64(sec)%SparkSeconds]; b.sec == sec {
				count += b.reqs
				sum += b.latency
			}
		}
		secs := min(step, end-from+1)
		reqs[i] = float64(count) / float64(secs)
		if count > 0 {
			lat[i] = sum / float64(count)
		}
	}
	return reqs, lat
}
