package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credflow/credflow/internal/cli"
	"github.com/credflow/credflow/internal/ledger"
	"github.com/credflow/credflow/internal/store"
	"github.com/credflow/credflow/pkg/adminapi"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zalando/go-keyring"
	bolt "go.etcd.io/bbolt"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"credflow": func() { os.Exit(cli.Main()) },
		// credflow-hold keeps the data file locked for a while, standing in
		// for a second credflow process that writes.
		"credflow-hold": func() { os.Exit(holdMain()) },
	})
}

// TestScripts runs every testdata/script/*.txtar against the encrypted
// file backend, the way a user on a headless machine runs credflow.
func TestScripts(t *testing.T) {
	runScripts(t, "file")
}

// TestScriptsKeychain runs the same scripts against the OS keychain. On
// Linux that needs a Secret Service (scripts/with-secret-service.sh starts
// a private one). With CREDFLOW_TEST_KEYCHAIN=1 a missing Secret Service
// fails the test instead of skipping it.
func TestScriptsKeychain(t *testing.T) {
	if err := keychainAnswers(); err != nil {
		if os.Getenv("CREDFLOW_TEST_KEYCHAIN") == "1" {
			t.Fatalf("CREDFLOW_TEST_KEYCHAIN=1 but the OS keychain does not answer: %v\nRun the tests under scripts/with-secret-service.sh", err)
		}
		t.Skipf("no OS keychain answers (%v); set CREDFLOW_TEST_KEYCHAIN=1 under scripts/with-secret-service.sh to run these", err)
	}
	runScripts(t, "keychain")
}

func keychainAnswers() error {
	// Without a session bus, godbus would autolaunch one (and D-Bus would
	// activate a keyring daemon) that outlives the test run.
	if runtime.GOOS == "linux" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return errors.New("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is empty)")
	}
	done := make(chan error, 1)
	go func() {
		_, err := keyring.Get("credflow-test-probe", "probe")
		if err == keyring.ErrNotFound {
			err = nil
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return fmt.Errorf("timed out")
	}
}

func runScripts(t *testing.T, backend string) {
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, "home")
			env.Setenv("HOME", home)
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
			env.Setenv("XDG_DATA_HOME", filepath.Join(home, ".local", "share"))
			env.Setenv("CREDFLOW_VAULT_BACKEND", backend)
			env.Setenv("BACKEND", backend)
			env.Setenv("CREDFLOW_VAULT_PASSPHRASE", "correct horse battery staple")
			// age's default scrypt cost takes ~1s per unlock; tests use less.
			env.Setenv("CREDFLOW_VAULT_SCRYPT_WORK_FACTOR", "10")
			// A private keychain namespace per script, removed at the end.
			svc := "credflow-test-" + randHex(6)
			env.Setenv("CREDFLOW_KEYCHAIN_SERVICE", svc)
			if backend == "keychain" {
				env.Defer(func() { keyring.DeleteAll(svc) })
			}
			// Variables the host may set must not leak into scripts.
			for _, k := range []string{"CREDFLOW_CONFIG", "CREDFLOW_DATA_DIR", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"} {
				env.Setenv(k, "")
			}
			for _, kv := range os.Environ() {
				if strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") {
					k, v, _ := strings.Cut(kv, "=")
					env.Setenv(k, v)
				}
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "keychain":
				return backend == "keychain", nil
			case "file":
				return backend == "file", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"nosecret":            cmdNoSecret,
			"waitfile":            cmdWaitFile,
			"perm":                cmdPerm,
			"waitdaemon":          cmdWaitDaemon,
			"chat":                cmdChat,
			"sighup":              cmdSighup,
			"chatload":            cmdChatLoad,
			"ledgercheck":         cmdLedgerCheck,
			"truncate":            cmdTruncate,
			"fillusage":           cmdFillUsage,
			"corruptledger":       cmdCorruptLedger,
			"exitcode":            cmdExitCode,
			"killdaemon":          cmdKillDaemon,
			"corruptconversation": cmdCorruptConversation,
		},
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// cmdNoSecret fails if any of the given values appears in stdout, stderr,
// or any file under the given directories: nosecret VALUE... -- DIR...
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("nosecret does not support !")
	}
	var values, dirs []string
	seen := false
	for _, a := range args {
		switch {
		case a == "--":
			seen = true
		case seen:
			dirs = append(dirs, ts.MkAbs(a))
		default:
			values = append(values, a)
		}
	}
	if len(values) == 0 {
		ts.Fatalf("usage: nosecret VALUE... [-- DIR...]")
	}
	check := func(where string, data []byte) {
		for _, v := range values {
			if bytes.Contains(data, []byte(v)) {
				ts.Fatalf("secret value found in %s", where)
			}
		}
	}
	check("stdout", []byte(ts.ReadFile("stdout")))
	check("stderr", []byte(ts.ReadFile("stderr")))
	for _, d := range dirs {
		filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			ts.Check(err)
			check(p, data)
			return nil
		})
	}
}

// cmdExitCode runs a program, as exec does (its output is then stdout and
// stderr), and checks its exit code: exitcode N PROG [ARGS...].
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// cmdWaitFile waits up to 10s for a file to exist: waitfile PATH.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	p := ts.MkAbs(args[0])
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(p); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("timed out waiting for %s", p)
}

// cmdPerm checks a file's permission bits: perm PATH 0600.
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm PATH MODE")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	got := fi.Mode().Perm()
	if (got == os.FileMode(want)) == neg {
		ts.Fatalf("%s has mode %#o; want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// daemonStatus asks the script's daemon (via its data dir) for its status.
func daemonStatus(ts *testscript.TestScript) (*adminapi.Status, error) {
	dir := ts.Getenv("CREDFLOW_DATA_DIR")
	if dir == "" {
		dir = filepath.Join(ts.Getenv("XDG_DATA_HOME"), "credflow")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return adminapi.NewClient(adminapi.SocketPath(dir)).Status(ctx)
}

// cmdWaitDaemon waits up to 10s for the daemon's admin API to answer.
func cmdWaitDaemon(ts *testscript.TestScript, neg bool, args []string) {
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if _, err = daemonStatus(ts); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	ts.Fatalf("daemon did not come up: %v", err)
}

// cmdChat posts an OpenAI chat request to the daemon with the key in
// KEYFILE and writes the response body to stdout: chat [-session NAME]
// [-stream] KEYFILE MODEL TEXT. -session sends X-Credflow-Session; -stream
// asks for a stream and reads it to its end. It fails (for use with !) on
// a non-200 answer.
func cmdChat(ts *testscript.TestScript, neg bool, args []string) {
	var session string
	stream := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "-stream":
			stream, args = true, args[1:]
		case args[0] == "-session" && len(args) > 1:
			session, args = args[1], args[2:]
		default:
			ts.Fatalf("chat: unknown option %s", args[0])
		}
	}
	if len(args) != 3 {
		ts.Fatalf("usage: chat [-session NAME] [-stream] KEYFILE MODEL TEXT")
	}
	st, err := daemonStatus(ts)
	ts.Check(err)
	key := strings.TrimSpace(ts.ReadFile(args[0]))
	body, _ := json.Marshal(map[string]any{"model": args[1], "stream": stream, "messages": []any{map[string]string{"role": "user", "content": args[2]}}})
	req, _ := http.NewRequest("POST", "http://"+st.Listen+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set("X-Credflow-Session", session)
	}
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Stdout().Write(out)
	ts.Stdout().Write([]byte("\n"))
	if (resp.StatusCode == 200) == neg {
		ts.Fatalf("status %d", resp.StatusCode)
	}
}

// cmdKillDaemon SIGKILLs the script's daemon and waits for its admin
// socket to stop answering: killdaemon.
func cmdKillDaemon(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: killdaemon")
	}
	st, err := daemonStatus(ts)
	ts.Check(err)
	p, err := os.FindProcess(st.PID)
	ts.Check(err)
	ts.Check(p.Signal(syscall.SIGKILL))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := daemonStatus(ts); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("the daemon (pid %d) still answers after SIGKILL", st.PID)
}

// cmdSighup sends SIGHUP to the daemon and waits for it to reload (or, if
// the reload fails, a moment for it to log that).
func cmdSighup(ts *testscript.TestScript, neg bool, args []string) {
	st, err := daemonStatus(ts)
	ts.Check(err)
	p, err := os.FindProcess(st.PID)
	ts.Check(err)
	ts.Check(p.Signal(syscall.SIGHUP))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if now, err := daemonStatus(ts); err == nil && now.ReloadedAt.After(st.ReloadedAt) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// cmdChatLoad runs chat requests against the daemon from 4 clients and
// SIGKILLs the daemon after KILLAFTER and 20 answers, under load: chatload KEYFILE
// KILLAFTER OUTFILE. OUTFILE gets one line per answered request: the unix
// nanosecond it finished.
func cmdChatLoad(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: chatload KEYFILE KILLAFTER OUTFILE")
	}
	st, err := daemonStatus(ts)
	ts.Check(err)
	killAfter, err := time.ParseDuration(args[1])
	ts.Check(err)
	key := strings.TrimSpace(ts.ReadFile(args[0]))
	var mu sync.Mutex
	var done []int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", "http://"+st.Listen+"/v1/chat/completions",
					strings.NewReader(`{"model":"mock","messages":[{"role":"user","content":"crash test load"}]}`))
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					continue // the daemon is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					done = append(done, time.Now().UnixNano())
					mu.Unlock()
				}
			}
		}()
	}
	// Under load (the race detector, busy CPUs) the first answers can take
	// seconds: the kill waits for KILLAFTER and for some answers (up to a
	// minute), so it always lands mid-load.
	time.Sleep(killAfter)
	for wait := time.Now().Add(time.Minute); time.Now().Before(wait); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(done)
		mu.Unlock()
		if n >= 20 {
			break
		}
	}
	p, err := os.FindProcess(st.PID)
	ts.Check(err)
	ts.Check(p.Signal(syscall.SIGKILL))
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	var b strings.Builder
	for _, t := range done {
		fmt.Fprintln(&b, t)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(b.String()), 0o600))
	if len(done) == 0 {
		ts.Fatalf("no request succeeded before the kill")
	}
}

// cmdLedgerCheck reopens the data file after a crash and checks that the
// rollups agree with the records and that the records lost are within the
// bound: the last flush interval plus the flush in progress. From outside,
// that is checked as: at most the requests answered in the last two flush
// intervals plus one second (a flush's fsync can take that long on a busy
// CI disk) before the kill: ledgercheck DONEFILE FLUSHINTERVAL.
func cmdLedgerCheck(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: ledgercheck DONEFILE FLUSHINTERVAL")
	}
	interval, err := time.ParseDuration(args[1])
	ts.Check(err)
	var done []int64
	for _, l := range strings.Fields(ts.ReadFile(args[0])) {
		n, err := strconv.ParseInt(l, 10, 64)
		ts.Check(err)
		done = append(done, n)
	}
	db, err := store.Open(filepath.Join(ts.Getenv("XDG_DATA_HOME"), "credflow", store.FileName), store.Options{})
	ts.Check(err)
	defer db.Close()
	if err := ledger.Check(db); err != nil {
		ts.Fatalf("after the crash the rollups disagree with the records: %v", err)
	}
	rows, err := ledger.Usage(db, ledger.Query{})
	ts.Check(err)
	var recorded int64
	for _, r := range rows {
		recorded += r.Requests
	}
	last := done[len(done)-1]
	window := int64(0)
	for _, t := range done {
		if t >= last-int64(2*interval+time.Second) {
			window++
		}
	}
	answered := int64(len(done))
	lost := answered - recorded
	ts.Logf("answered %d, recorded %d, lost %d, bound %d", answered, recorded, lost, window)
	if lost > window {
		ts.Fatalf("lost %d records, more than the %d answered in the last two flush intervals", lost, window)
	}
	if recorded > answered+4 {
		ts.Fatalf("recorded %d requests but only %d were answered (+4 in flight)", recorded, answered)
	}
}

// dataFile is the script's data file (the default data directory).
func dataFile(ts *testscript.TestScript) string {
	return filepath.Join(ts.Getenv("XDG_DATA_HOME"), "credflow", store.FileName)
}

// cmdTruncate cuts a file short, as a full disk or a bad copy would:
// truncate FILE SIZE, SIZE in bytes or as a percentage of the file (50%).
func cmdTruncate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: truncate FILE SIZE")
	}
	path := ts.MkAbs(args[0])
	fi, err := os.Stat(path)
	ts.Check(err)
	var size int64
	if pct, ok := strings.CutSuffix(args[1], "%"); ok {
		n, err := strconv.ParseInt(pct, 10, 64)
		ts.Check(err)
		size = fi.Size() * n / 100
	} else {
		size, err = strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
	}
	ts.Check(os.Truncate(path, size))
}

// cmdFillUsage writes N usage records of virtual key KEY (over the last
// hour) into the data file, as a gateway that served them would:
// fillusage KEY N.
func cmdFillUsage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: fillusage KEY N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	open := func() (*store.DB, error) { return store.Open(dataFile(ts), store.Options{}) }
	w := ledger.NewWriter(open, ledger.Options{FlushInterval: time.Hour})
	now := time.Now()
	for i := range n {
		w.Add(ledger.Record{
			Time: now.Add(-time.Duration(n-i) * time.Second / 2), ID: strconv.Itoa(i), Key: args[0],
			Provider: "mock", Model: "mock", Endpoint: "chat/completions", Status: 200,
			Input: 10, Output: 20, CostKnown: true, LatencyUS: 1000,
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts.Check(w.Close(ctx))
}

// cmdCorruptLedger damages the usage ledger in place: "record N" makes the
// Nth oldest usage record's JSON unreadable; "rollup KEY" cuts the daily
// cmdCorruptConversation flips a byte of the first item of a stored
// conversation in context.db (whose record key is "c" and its id):
// corruptconversation ID.
func cmdCorruptConversation(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: corruptconversation ID")
	}
	db, err := bolt.Open(filepath.Join(filepath.Dir(dataFile(ts)), "context.db"), 0o600, &bolt.Options{Timeout: time.Second})
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("items"))
		prefix := []byte("c" + args[0] + "/")
		k, v := b.Cursor().Seek(prefix)
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return fmt.Errorf("conversation %s has no items in context.db", args[0])
		}
		bad := bytes.Clone(v)
		bad[len(bad)-1] ^= 0xff
		return b.Put(bytes.Clone(k), bad)
	}))
}

// rollups of virtual key KEY to 5 bytes: corruptledger record N | rollup KEY.
func cmdCorruptLedger(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: corruptledger record N | rollup KEY")
	}
	db, err := store.Open(dataFile(ts), store.Options{})
	ts.Check(err)
	defer db.Close()
	ts.Check(db.Update(func(tx *bolt.Tx) error {
		switch args[0] {
		case "record":
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return err
			}
			c := tx.Bucket(store.BucketUsage).Cursor()
			k, v := c.First()
			for i := 1; i < n && k != nil; i++ {
				k, v = c.Next()
			}
			if k == nil {
				return fmt.Errorf("no usage record %d", n)
			}
			bad := append([]byte(nil), v[:len(v)/2]...)
			return tx.Bucket(store.BucketUsage).Put(bytes.Clone(k), bad)
		case "rollup":
			b := tx.Bucket(store.BucketRollupsDay)
			var keys [][]byte
			b.ForEach(func(k, v []byte) error {
				if len(k) > 9 && k[8] == 'k' && string(k[9:]) == args[1] {
					keys = append(keys, bytes.Clone(k))
				}
				return nil
			})
			if len(keys) == 0 {
				return fmt.Errorf("no daily rollup of key %q", args[1])
			}
			for _, k := range keys {
				if err := b.Put(k, []byte{1, 2, 3, 4, 5}); err != nil {
					return err
				}
			}
			return nil
		}
		return fmt.Errorf("corruptledger: unknown %q", args[0])
	}))
}
