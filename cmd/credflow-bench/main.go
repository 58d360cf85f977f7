// Command credflow-bench measures the gateway's overhead: it starts a fast
// fake OpenAI-compatible upstream and a real `credflow serve` process on
// loopback, drives both with the same load, and reports, in one run,
// direct vs through credflow: closed-loop throughput and latency, added
// latency under a fixed open-loop rate, credflow's CPU time per request
// (from its own rusage), streaming time to first byte and chunk pacing,
// and peak RSS. It compares, under the same loads, credflow with its lean
// HTTP/1.1 server and with net/http's (server.http_server). For scale it
// also measures a TCP relay process that only copies bytes (no HTTP at
// all): what any proxy process costs on this machine before doing anything.
//
// Run it through scripts/bench.sh.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	bin         = flag.String("bin", "", "credflow binary to measure (required)")
	duration    = flag.Duration("duration", 5*time.Second, "length of each measured phase")
	concurrency = flag.Int("c", 32, "closed-loop concurrency")
	rate        = flag.Int("rate", 2000, "open-loop request rate per second")
	chunks      = flag.Int("chunks", 20, "chunks per streamed reply")
	chunkDelay  = flag.Duration("chunk-delay", 5*time.Millisecond, "pause between upstream stream chunks")
	extraEnv    = flag.String("credflow-env", "", "extra VAR=VALUE settings for the credflow processes only (e.g. GOGC=200), comma-separated")
	phases      = flag.String("phases", "closed,open,stream,accounting,server,floor", "phases to run, comma-separated")
	relay       = flag.String("relay", "", "internal: run as the byte relay, LISTEN=UPSTREAM")
	repeat      = flag.Int("repeat", 0, "also run the closed loop through credflow this many more times against the same daemon, printing each CPU per request (to see drift over a daemon's life)")
	configExtra = flag.String("config-extra", "", "YAML appended to the measured daemon's config, e.g. 'guardrails: []' (turns the default credentials guardrail off)")
	cpuprofile  = flag.String("cpuprofile", "", "write a CPU profile of the measured (accounting on) credflow process to this file")
)

func want(phase string) bool {
	for _, p := range strings.Split(*phases, ",") {
		if strings.TrimSpace(p) == phase {
			return true
		}
	}
	return false
}

const completion = `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_bench"}`

const request = `{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello there, how are you doing today? Tell me something interesting."}],"temperature":0.2}`

func main() {
	flag.Parse()
	if *relay != "" {
		listen, up, _ := strings.Cut(*relay, "=")
		if err := runRelay(listen, up); err != nil {
			fmt.Fprintln(os.Stderr, "credflow-bench relay:", err)
			os.Exit(1)
		}
		return
	}
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "credflow-bench: -bin is required (scripts/bench.sh builds it)")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "credflow-bench:", err)
		os.Exit(1)
	}
}

// upstream is the fake provider: a fixed completion, or a stream of chunks.
func upstream() (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	body := []byte(completion)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		if bytes.Contains(data, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			for i := 0; i < *chunks; i++ {
				fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}]}\n\n", i)
				fl.Flush()
				time.Sleep(*chunkDelay)
			}
			io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

type daemon struct {
	cmd  *exec.Cmd
	addr string
	key  string
}

func startCredflow(up string, accounting bool, httpServer string) (*daemon, func(), error) {
	dir, err := os.MkdirTemp("", "credflow-bench-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, cleanup, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`server:
  listen: %s
  log_level: warn
  http_server: %s
ledger:
  disable: %v
vault:
  backend: file
providers:
  up:
    type: openai-compatible
    base_url: %s/v1
routes:
  - model: bench
    targets: [up]
`, addr, httpServer, !accounting, up) + *configExtra + "\n"
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, cleanup, err
	}
	env := append(os.Environ(), "CREDFLOW_CONFIG="+cfgPath, "CREDFLOW_DATA_DIR="+filepath.Join(dir, "data"),
		"CREDFLOW_VAULT_PASSPHRASE=bench", "CREDFLOW_VAULT_SCRYPT_WORK_FACTOR=10")
	if *extraEnv != "" {
		env = append(env, strings.Split(*extraEnv, ",")...)
	}
	if *cpuprofile != "" && accounting && httpServer == "lean" {
		env = append(env, "CREDFLOW_CPUPROFILE="+*cpuprofile)
	}
	keyCmd := exec.Command(*bin, "keys", "create", "bench")
	keyCmd.Env = env
	out, err := keyCmd.Output()
	if err != nil {
		return nil, cleanup, fmt.Errorf("keys create: %w", err)
	}
	d := &daemon{addr: addr, key: strings.TrimSpace(string(out))}
	d.cmd = exec.Command(*bin, "serve")
	d.cmd.Env = env
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		return nil, cleanup, err
	}
	stop := func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
		cleanup()
	}
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return d, stop, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return nil, nil, fmt.Errorf("credflow serve did not start listening on %s", addr)
}

// cpu is a process's CPU time so far.
type cpu struct{ user, sys time.Duration }

// cpuTime reads a process's user and system CPU time from /proc (Linux).
func cpuTime(pid int) cpu {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpu{}
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return cpu{time.Duration(ut) * time.Second / hz, time.Duration(st) * time.Second / hz}
}

// measure runs fn and returns the CPU the process pid used meanwhile.
func measure(pid int, fn func()) cpu {
	a := cpuTime(pid)
	fn()
	b := cpuTime(pid)
	return cpu{b.user - a.user, b.sys - a.sys}
}

func (c cpu) perReq(n int) time.Duration {
	if n == 0 {
		return 0
	}
	return (c.user + c.sys) / time.Duration(n)
}

// split formats CPU per request with its user/system parts.
func (c cpu) split(n int) string {
	if n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s (user %s, sys %s)", round(c.perReq(n)), round(c.user/time.Duration(n)), round(c.sys/time.Duration(n)))
}

func round(d time.Duration) time.Duration {
	switch a := d.Abs(); {
	case a > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case a > 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	}
	return d.Round(10 * time.Nanosecond)
}

// runRelay copies bytes between each client connection and its own
// upstream connection, with plain reads and writes: the floor of a proxy.
func runRelay(listen, up string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	type onlyReader struct{ io.Reader } // no ReadFrom/WriteTo: read and write, as a proxy does
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", up)
			if err != nil {
				return
			}
			defer u.Close()
			go func() {
				io.CopyBuffer(u, onlyReader{c}, make([]byte, 32<<10))
				u.(*net.TCPConn).CloseWrite()
			}()
			io.CopyBuffer(c, onlyReader{u}, make([]byte, 32<<10))
		}()
	}
}

// startRelay starts this program as a byte relay in front of up.
func startRelay(up string) (*exec.Cmd, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, "-relay", addr+"="+strings.TrimPrefix(up, "http://"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, "http://" + addr, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, "", fmt.Errorf("the relay did not start on %s", addr)
}

func peakRSS(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "n/a"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "n/a"
}

type result struct {
	n       int
	errs    int
	elapsed time.Duration
	lat     []time.Duration
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r.lat[int(float64(len(r.lat)-1)*p)]
}

func client() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}}
}

// do sends one request and reads the whole answer. It returns the
// latency, the time to the first body byte, and the times at which each
// read returned data (for a stream, one read per flushed event).
func do(c *http.Client, url, key, body string, reads *[]time.Duration) (time.Duration, time.Duration, error) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	var ttfb time.Duration
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			at := time.Since(start)
			if ttfb == 0 {
				ttfb = at
			}
			if reads != nil {
				*reads = append(*reads, at)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), ttfb, nil
}

func closedLoop(url, key string) *result {
	c := client()
	r := &result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(*duration)
	start := time.Now()
	for i := 0; i < *concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			errs := 0
			for time.Now().Before(deadline) {
				d, _, err := do(c, url, key, request, nil)
				if err != nil {
					errs++
					continue
				}
				local = append(local, d)
			}
			mu.Lock()
			r.lat = append(r.lat, local...)
			r.errs += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.n = len(r.lat)
	return r
}

func openLoop(url, key string) *result {
	c := client()
	r := &result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(*rate)
	total := int(duration.Seconds() * float64(*rate))
	start := time.Now()
	var errs atomic.Int64
	for i := 0; i < total; i++ {
		// Schedule by the clock, not by the last send, so a slow response
		// does not slow the offered load (no coordinated omission).
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := do(c, url, key, request, nil)
			if err != nil {
				errs.Add(1)
				return
			}
			mu.Lock()
			r.lat = append(r.lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.n = len(r.lat)
	r.errs = int(errs.Load())
	return r
}

// stream reads streamed replies one after another: time to first byte,
// time to the last byte, and the gaps between the reads that returned data.
type streamResult struct{ ttfb, total, gaps result }

func streams(url, key string) (*streamResult, error) {
	c := client()
	r := &streamResult{}
	body := strings.Replace(request, `"temperature":0.2`, `"temperature":0.2,"stream":true`, 1)
	for i := 0; i < 50; i++ {
		var reads []time.Duration
		total, ttfb, err := do(c, url, key, body, &reads)
		if err != nil {
			return nil, err
		}
		r.ttfb.lat = append(r.ttfb.lat, ttfb)
		r.total.lat = append(r.total.lat, total)
		for j := 1; j < len(reads); j++ {
			r.gaps.lat = append(r.gaps.lat, reads[j]-reads[j-1])
		}
	}
	return r, nil
}

func run() error {
	srv, up, err := upstream()
	if err != nil {
		return err
	}
	defer srv.Close()
	d, stop, err := startCredflow(up, true, "lean")
	if err != nil {
		return err
	}
	defer stop()
	direct := up + "/v1/chat/completions"
	through := "http://" + d.addr + "/v1/chat/completions"
	pid := d.cmd.Process.Pid
	warm := []struct{ url, key string }{{direct, ""}, {through, d.key}}
	var throughOff, offKey string
	if want("accounting") {
		off, stopOff, err := startCredflow(up, false, "lean")
		if err != nil {
			return err
		}
		defer stopOff()
		throughOff, offKey = "http://"+off.addr+"/v1/chat/completions", off.key
		warm = append(warm, struct{ url, key string }{throughOff, offKey})
	}
	var viaNetHTTP, netHTTPKey string
	var netHTTPPid int
	if want("server") {
		nh, stopNH, err := startCredflow(up, true, "net/http")
		if err != nil {
			return err
		}
		defer stopNH()
		viaNetHTTP, netHTTPKey, netHTTPPid = "http://"+nh.addr+"/v1/chat/completions", nh.key, nh.cmd.Process.Pid
		warm = append(warm, struct{ url, key string }{viaNetHTTP, netHTTPKey})
	}
	var relayCmd *exec.Cmd
	var viaRelay string
	if want("floor") {
		var base string
		relayCmd, base, err = startRelay(up)
		if err != nil {
			return err
		}
		defer func() { relayCmd.Process.Kill(); relayCmd.Wait() }()
		viaRelay = base + "/v1/chat/completions"
		warm = append(warm, struct{ url, key string }{viaRelay, ""})
	}

	// Warm every path (connection pools, first-request costs).
	for _, u := range warm {
		for i := 0; i < 200; i++ {
			if _, _, err := do(client(), u.url, u.key, request, nil); err != nil {
				return fmt.Errorf("warm-up %s: %w", u.url, err)
			}
		}
	}
	fmt.Printf("credflow-bench: %d-core machine, phases of %s, upstream replies in-process\n\n", runtimeCPUs(), *duration)

	var ct, ot *result
	var ctCPU, otCPU cpu
	var od *result
	if want("closed") {
		cd := closedLoop(direct, "")
		ctCPU = measure(pid, func() { ct = closedLoop(through, d.key) })
		fmt.Printf("closed loop, concurrency %d        direct        through credflow   ratio\n", *concurrency)
		fmt.Printf("  throughput (req/s)          %10.0f    %14.0f     %.2f\n", rps(cd), rps(ct), rps(ct)/rps(cd))
		fmt.Printf("  p50 latency                 %10s    %14s     %.2f\n", round(cd.pct(.5)), round(ct.pct(.5)), ratio(ct.pct(.5), cd.pct(.5)))
		fmt.Printf("  p99 latency                 %10s    %14s     %.2f\n", round(cd.pct(.99)), round(ct.pct(.99)), ratio(ct.pct(.99), cd.pct(.99)))
		fmt.Printf("  errors                      %10d    %14d\n", cd.errs, ct.errs)
		fmt.Printf("  credflow CPU per request    %s\n\n", ctCPU.split(ct.n))
	}

	for i := 1; i <= *repeat; i++ {
		var r *result
		c := measure(pid, func() { r = closedLoop(through, d.key) })
		fmt.Printf("closed loop again (%d of %d): %.0f req/s, credflow CPU per request %s\n", i, *repeat, rps(r), c.split(r.n))
	}
	if *repeat > 0 {
		fmt.Println()
	}

	if want("open") {
		od = openLoop(direct, "")
		otCPU = measure(pid, func() { ot = openLoop(through, d.key) })
		fmt.Printf("open loop, %d req/s                direct        through credflow   added\n", *rate)
		fmt.Printf("  achieved (req/s)            %10.0f    %14.0f\n", rps(od), rps(ot))
		fmt.Printf("  p50 latency                 %10s    %14s     %s\n", round(od.pct(.5)), round(ot.pct(.5)), round(ot.pct(.5)-od.pct(.5)))
		fmt.Printf("  p99 latency                 %10s    %14s     %s\n", round(od.pct(.99)), round(ot.pct(.99)), round(ot.pct(.99)-od.pct(.99)))
		fmt.Printf("  errors                      %10d    %14d\n", od.errs, ot.errs)
		fmt.Printf("  credflow CPU per request    %s\n\n", otCPU.split(ot.n))
	}

	var sd, st *streamResult
	if want("stream") {
		if sd, err = streams(direct, ""); err != nil {
			return err
		}
		if st, err = streams(through, d.key); err != nil {
			return err
		}
		fmt.Printf("streaming (%d chunks, %s apart)   direct        through credflow   added\n", *chunks, *chunkDelay)
		fmt.Printf("  time to first byte p50      %10s    %14s     %s\n", round(sd.ttfb.pct(.5)), round(st.ttfb.pct(.5)), round(st.ttfb.pct(.5)-sd.ttfb.pct(.5)))
		fmt.Printf("  time to first byte p99      %10s    %14s     %s\n", round(sd.ttfb.pct(.99)), round(st.ttfb.pct(.99)), round(st.ttfb.pct(.99)-sd.ttfb.pct(.99)))
		fmt.Printf("  time to last byte p50       %10s    %14s     %s\n", round(sd.total.pct(.5)), round(st.total.pct(.5)), round(st.total.pct(.5)-sd.total.pct(.5)))
		fmt.Printf("  reads with data per stream  %10.1f    %14.1f\n", float64(len(sd.gaps.lat))/50+1, float64(len(st.gaps.lat))/50+1)
		fmt.Printf("  gap between reads p1/p50    %4s/%-5s    %7s/%-6s\n\n", round(sd.gaps.pct(.01)), round(sd.gaps.pct(.5)), round(st.gaps.pct(.01)), round(st.gaps.pct(.5)))
	}
	if want("accounting") {
		ca := closedLoop(throughOff, offKey)
		cb := closedLoop(through, d.key)
		fmt.Printf("accounting, closed loop c=%d          off            on             on/off\n", *concurrency)
		fmt.Printf("  throughput (req/s)          %10.0f    %14.0f     %.2f\n", rps(ca), rps(cb), rps(cb)/rps(ca))
		fmt.Printf("  p50 latency                 %10s    %14s     %.2f\n\n", round(ca.pct(.5)), round(cb.pct(.5)), ratio(cb.pct(.5), ca.pct(.5)))
	}
	if want("server") {
		// Each server is measured right after the other (net/http first,
		// then the lean daemon again), so drift in the machine's speed
		// over the run does not favour either.
		fmt.Printf("HTTP server: server.http_server lean vs net/http, measured back to back, same loads\n")
		var nc, lc *result
		ncCPU := measure(netHTTPPid, func() { nc = closedLoop(viaNetHTTP, netHTTPKey) })
		lcCPU := measure(pid, func() { lc = closedLoop(through, d.key) })
		fmt.Printf("  closed loop c=%d: CPU per request lean %s, net/http %s; lean/net/http %.2f; req/s %.0f vs %.0f\n", *concurrency,
			round(lcCPU.perReq(lc.n)), round(ncCPU.perReq(nc.n)), ratio(lcCPU.perReq(lc.n), ncCPU.perReq(nc.n)), rps(lc), rps(nc))
		if od != nil {
			var no, lo *result
			noCPU := measure(netHTTPPid, func() { no = openLoop(viaNetHTTP, netHTTPKey) })
			loCPU := measure(pid, func() { lo = openLoop(through, d.key) })
			fmt.Printf("  open loop %d/s: CPU per request lean %s, net/http %s; lean/net/http %.2f\n", *rate,
				round(loCPU.perReq(lo.n)), round(noCPU.perReq(no.n)), ratio(loCPU.perReq(lo.n), noCPU.perReq(no.n)))
			fmt.Printf("  open loop %d/s: latency added p50 lean %s, net/http %s; p99 lean %s, net/http %s\n", *rate,
				round(lo.pct(.5)-od.pct(.5)), round(no.pct(.5)-od.pct(.5)), round(lo.pct(.99)-od.pct(.99)), round(no.pct(.99)-od.pct(.99)))
		}
		fmt.Println()
	}
	if want("floor") {
		rpid := relayCmd.Process.Pid
		fmt.Printf("floor: a TCP relay process that only copies bytes (no HTTP), same loads\n")
		if ct != nil {
			var rc *result
			rcCPU := measure(rpid, func() { rc = closedLoop(viaRelay, "") })
			fmt.Printf("  closed loop c=%d: relay CPU per request %s; credflow/relay %.2f\n", *concurrency, rcCPU.split(rc.n),
				ratio(ctCPU.perReq(ct.n), rcCPU.perReq(rc.n)))
		}
		if ot != nil {
			var ro *result
			roCPU := measure(rpid, func() { ro = openLoop(viaRelay, "") })
			fmt.Printf("  open loop %d/s: relay CPU per request %s; credflow/relay %.2f\n", *rate, roCPU.split(ro.n),
				ratio(otCPU.perReq(ot.n), roCPU.perReq(ro.n)))
			fmt.Printf("  open loop %d/s: latency added by the relay p50 %s, p99 %s (credflow: %s, %s)\n", *rate,
				round(ro.pct(.5)-od.pct(.5)), round(ro.pct(.99)-od.pct(.99)), round(ot.pct(.5)-od.pct(.5)), round(ot.pct(.99)-od.pct(.99)))
		}
		if sd != nil {
			sr, err := streams(viaRelay, "")
			if err != nil {
				return err
			}
			fmt.Printf("  streaming: added by the relay: time to first byte p50 %s, to last byte p50 %s (credflow: %s, %s)\n",
				round(sr.ttfb.pct(.5)-sd.ttfb.pct(.5)), round(sr.total.pct(.5)-sd.total.pct(.5)),
				round(st.ttfb.pct(.5)-sd.ttfb.pct(.5)), round(st.total.pct(.5)-sd.total.pct(.5)))
		}
		fmt.Println()
	}
	fmt.Printf("credflow peak RSS (VmHWM): %s\n", peakRSS(pid))
	return nil
}

func rps(r *result) float64 { return float64(r.n) / r.elapsed.Seconds() }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func runtimeCPUs() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "processor\t:")
}
