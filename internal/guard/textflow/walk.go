package textflow

// Lenient readers for SSE event bodies. Unlike Strings they do not decode
// or validate what they skip: an event body only needs to be read as far as
// its text fields, and one that turns out malformed is passed on untouched.

// iter reads the members of an object or the elements of an array. A value
// that member or elem returned and the caller did not consume (took) is
// skipped by the next call.
type iter struct {
	b    []byte
	i    int
	n    int
	pend bool // b[i] starts a value nobody consumed yet
	done bool // the closing byte was read
	bad  bool
}

// newIter starts reading the object or array whose opening byte is at i.
func newIter(b []byte, i int) iter {
	if i >= len(b) || b[i] != '{' && b[i] != '[' {
		return iter{bad: true, done: true}
	}
	return iter{b: b, i: i + 1}
}

func (it *iter) fail() bool {
	it.bad, it.done = true, true
	return false
}

func (it *iter) settle() bool {
	if it.pend {
		ve, ok := skipValue(it.b, it.i)
		if !ok {
			return it.fail()
		}
		it.i, it.pend = ve, false
	}
	return true
}

// sep reads up to the next item: false at the closing byte or on error.
func (it *iter) sep(closing byte) bool {
	if it.done || !it.settle() {
		return false
	}
	b := it.b
	i := skipWS(b, it.i)
	if i >= len(b) {
		return it.fail()
	}
	if b[i] == closing {
		it.i, it.done = i+1, true
		return false
	}
	if it.n > 0 {
		if b[i] != ',' {
			return it.fail()
		}
		if i = skipWS(b, i+1); i >= len(b) {
			return it.fail()
		}
	}
	it.i = i
	it.n++
	return true
}

// member returns the next member's name (raw, escapes not decoded), the
// offset of the name's opening quote, and the offset of its value.
func (it *iter) member() (key []byte, kq, vs int, ok bool) {
	if !it.sep('}') {
		return nil, 0, 0, false
	}
	b, i := it.b, it.i
	if b[i] != '"' {
		return nil, 0, 0, it.fail()
	}
	ke, _, err := scanString(b, i+1)
	if err != nil {
		return nil, 0, 0, it.fail()
	}
	kq, key = i, b[i+1:ke]
	if i = skipWS(b, ke+1); i >= len(b) || b[i] != ':' {
		return nil, 0, 0, it.fail()
	}
	if i = skipWS(b, i+1); i >= len(b) {
		return nil, 0, 0, it.fail()
	}
	it.i, it.pend = i, true
	return key, kq, i, true
}

// elem returns the offset of the next element.
func (it *iter) elem() (vs int, ok bool) {
	if !it.sep(']') {
		return 0, false
	}
	it.pend = true
	return it.i, true
}

// took tells the iterator that the caller read the current value up to end.
func (it *iter) took(end int) { it.i, it.pend = end, false }

// valueEnd skips the current value and returns where it ends, or -1.
func (it *iter) valueEnd() int {
	if !it.settle() {
		return -1
	}
	return it.i
}

// int reads the current value as a non-negative integer.
func (it *iter) int(vs int) (int, bool) {
	ve := it.valueEnd()
	if ve < 0 {
		return 0, false
	}
	return parseInt(it.b[vs:ve])
}

// str reads the current value as a string: its span, quotes included.
func (it *iter) str(vs int) (end int, esc, ok bool) {
	if it.b[vs] != '"' {
		return 0, false, false
	}
	e, esc, err := scanString(it.b, vs+1)
	if err != nil {
		it.fail()
		return 0, false, false
	}
	it.took(e + 1)
	return e + 1, esc, true
}

func isNull(b []byte, i int) bool {
	return len(b)-i >= 4 && string(b[i:i+4]) == "null"
}

// isEmpty reports a null or an empty array at i.
func isEmpty(b []byte, i int) bool {
	if isNull(b, i) {
		return true
	}
	if b[i] != '[' {
		return false
	}
	j := skipWS(b, i+1)
	return j < len(b) && b[j] == ']'
}

func parseInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// skipValue returns where the value at i ends.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		e, _, err := scanString(b, i+1)
		return e + 1, err == nil
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				e, _, err := scanString(b, i+1)
				if err != nil {
					return 0, false
				}
				i = e
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, j > i
		}
		j++
	}
	return j, j > i
}
