package detect

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type tpLine struct {
	line     int
	detector string
	value    string
}

// readTruePositives reads testdata/true-positives.txt: detector<TAB>value,
// the value a Go string-literal body, '#' comments and blank lines skipped.
func readTruePositives(t testing.TB) []tpLine {
	t.Helper()
	f, err := os.Open("testdata/true-positives.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tpLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		det, raw, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("true-positives.txt:%d: no tab", n)
		}
		v, err := strconv.Unquote(`"` + raw + `"`)
		if err != nil {
			t.Fatalf("true-positives.txt:%d: %v", n, err)
		}
		out = append(out, tpLine{n, det, v})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTruePositiveCorpus: every value is found, whole, by its detector and
// by nothing else, alone and inside prose.
func TestTruePositiveCorpus(t *testing.T) {
	all := Join(allBuiltins(t), NewVirtualKeys(nil))
	lines := readTruePositives(t)
	perDetector := map[string]int{}
	for _, tp := range lines {
		perDetector[tp.detector]++
		for _, wrap := range [][2]string{{"", ""}, {"Here it is: ", " ; thanks.\n"}, {`{"content":"`, `"}`}} {
			if wrap[0] == "" && strings.HasPrefix(tp.value, "\ufeff") {
				continue // a byte-order mark at the start of a text is not a finding
			}
			text := wrap[0] + tp.value + wrap[1]
			got := collect(all, []byte(text))
			want := Hit{tp.detector, len(wrap[0]), len(wrap[0]) + len(tp.value)}
			if tp.detector == "private_key" && !strings.Contains(tp.value, "-----END") {
				want.End = len(text) // a cut key runs to the end of the text
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("true-positives.txt:%d %s %q in %q: got %v, want [%v]", tp.line, tp.detector, tp.value, text, got, want)
			}
		}
	}
	// Every built-in and virtual_key is represented.
	for _, info := range Builtins() {
		if perDetector[info.Name] == 0 {
			t.Errorf("no true positive for %s", info.Name)
		}
	}
	if perDetector[VirtualKeyDetector] == 0 {
		t.Errorf("no true positive for %s", VirtualKeyDetector)
	}
}

// TestFalsePositiveCorpus: no built-in fires on ordinary prose and source
// code (testdata/fp, sources in testdata/README.md).
func TestFalsePositiveCorpus(t *testing.T) {
	all := Join(allBuiltins(t), NewVirtualKeys(nil))
	files, err := filepath.Glob("testdata/fp/*")
	if err != nil || len(files) < 5 {
		t.Fatalf("fp corpus: %v, %d files", err, len(files))
	}
	total := 0
	for _, name := range files {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		total += len(text)
		for _, h := range collect(all, text) {
			lo, hi := max(0, h.Start-40), min(len(text), h.End+40)
			t.Errorf("%s: %s at %d: %q in %q", filepath.Base(name), h.Detector, h.Start, text[h.Start:h.End], text[lo:hi])
		}
	}
	if total < 300_000 {
		t.Errorf("fp corpus is %d bytes, want a few hundred KB", total)
	}
}
