package gateway

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/credflow/credflow/internal/limits"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus series served on GET /metrics. Labels are
// names only (key, model, provider): never key values or prompt text.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	// guard counts guardrail hits by rule, action, side and detector:
	// bounded by the config, never by the traffic.
	guard    *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	cost     *prometheus.CounterVec
	unpriced *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	ttfb     *prometheus.HistogramVec

	// series caches each key/model/provider's handles: a Vec lookup
	// hashes and validates every label on every call.
	mu     sync.RWMutex
	series map[seriesKey]*series
}

type seriesKey struct{ key, model, provider string }

// series holds one key/model/provider's metrics, each made on first use
// so /metrics lists only series that happened.
type series struct {
	ok                                func() prometheus.Counter // requests with status 200
	input, output, cached, cacheWrite func() prometheus.Counter
	cost, unpriced                    func() prometheus.Counter
	latency, ttfb                     func() prometheus.Observer
}

func (m *metrics) lookup(k, mo, p string) *series {
	sk := seriesKey{k, mo, p}
	m.mu.RLock()
	s := m.series[sk]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	counter := func(v *prometheus.CounterVec, extra ...string) func() prometheus.Counter {
		return sync.OnceValue(func() prometheus.Counter { return v.WithLabelValues(append([]string{k, mo, p}, extra...)...) })
	}
	observer := func(v *prometheus.HistogramVec) func() prometheus.Observer {
		return sync.OnceValue(func() prometheus.Observer { return v.WithLabelValues(k, mo, p) })
	}
	s = &series{
		ok:         counter(m.requests, "200"),
		input:      counter(m.tokens, "input"),
		output:     counter(m.tokens, "output"),
		cached:     counter(m.tokens, "cached"),
		cacheWrite: counter(m.tokens, "cache_write"),
		cost:       counter(m.cost),
		unpriced:   counter(m.unpriced),
		latency:    observer(m.latency),
		ttfb:       observer(m.ttfb),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.series[sk]; old != nil {
		return old
	}
	if m.series == nil {
		m.series = map[seriesKey]*series{}
	}
	m.series[sk] = s
	return s
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	lbl := []string{"key", "model", "provider"}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credflow_requests_total",
		Help: "Requests served, by virtual key, requested model, provider and HTTP status."}, append(lbl, "status"))
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credflow_tokens_total",
		Help: "Tokens reported by providers, by kind (input includes cached; cached; cache_write; output)."}, append(lbl, "kind"))
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credflow_cost_usd_total",
		Help: "Cost of requests with a known price, in US dollars."}, lbl)
	m.unpriced = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credflow_unpriced_requests_total",
		Help: "Requests that used tokens of a model with no known price (their cost is unknown, not zero)."}, lbl)
	buckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "credflow_request_duration_seconds",
		Help: "Time from request to the end of the response (whole stream).", Buckets: buckets}, lbl)
	m.ttfb = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "credflow_time_to_first_byte_seconds",
		Help: "Time from request to the first byte of the response body.", Buckets: buckets}, lbl)
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "credflow_requests_in_flight",
		Help: "Requests being served now."}, func() float64 { return float64(s.inflight.Load()) })
	m.guard = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credflow_guardrail_hits_total",
		Help: "Guardrail findings, by rule, action, side (request or reply) and detector."}, []string{"rule", "action", "side", "detector"})
	m.reg.MustRegister(m.guard)
	m.reg.MustRegister(m.requests, m.tokens, m.cost, m.unpriced, m.latency, m.ttfb, inflight, budgetCollector{s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(ev *adminapi.Event) {
	k, mo, p := ev.Key, ev.Model, ev.Provider
	for _, h := range ev.Guard {
		m.guard.WithLabelValues(h.Rule, h.Action, h.Side, h.Detector).Add(float64(h.Count))
	}
	s := m.lookup(k, mo, p)
	if ev.Status == http.StatusOK {
		s.ok().Inc()
	} else {
		m.requests.WithLabelValues(k, mo, p, strconv.Itoa(ev.Status)).Inc()
	}
	if ev.InputTokens == 0 && ev.OutputTokens == 0 {
		if ev.LatencyMS > 0 && p != "" {
			s.latency().Observe(ev.LatencyMS / 1000)
		}
		return
	}
	s.input().Add(float64(ev.InputTokens))
	s.output().Add(float64(ev.OutputTokens))
	if ev.CachedTokens > 0 {
		s.cached().Add(float64(ev.CachedTokens))
	}
	if ev.CacheWriteTokens > 0 {
		s.cacheWrite().Add(float64(ev.CacheWriteTokens))
	}
	if ev.CostKnown {
		s.cost().Add(float64(ev.CostMicros) / 1e6)
	} else {
		s.unpriced().Inc()
	}
	s.latency().Observe(ev.LatencyMS / 1000)
	if ev.TTFBMS > 0 {
		s.ttfb().Observe(ev.TTFBMS / 1000)
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var budgetDesc = prometheus.NewDesc("credflow_budget_remaining",
	"What is left of each virtual key's budget in its current period: US dollars for unit usd, tokens for unit tokens (negative when overspent).",
	[]string{"key", "budget", "unit", "period", "soft"}, nil)

// budgetCollector reports every key's budgets at scrape time.
type budgetCollector struct{ s *Server }

func (budgetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- budgetDesc }

func (b budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, k := range b.s.auth.Keys() {
		if len(k.Policy.Budgets) == 0 {
			continue
		}
		left := b.s.limits.Remaining(k.Name, k.Policy)
		for i, bd := range k.Policy.Budgets {
			v := float64(left[i])
			if bd.Unit == adminapi.UnitUSD {
				v /= 1e6
			}
			ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, v,
				k.Name, limits.FormatBudget(bd), bd.Unit, bd.Period, strconv.FormatBool(bd.Soft))
		}
	}
}
