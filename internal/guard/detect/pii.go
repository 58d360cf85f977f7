package detect

import (
	"bytes"
	"net/netip"
)

// Personal data: email, phone, card, iban, ssn, ip. Numbers start at a word
// start (scanner.words); emails are found from their '@'.

// emails finds addresses around every '@' (bytes.IndexByte is vectorized,
// so text without '@' costs next to nothing).
func (sc *scanner) emails() {
	t := sc.text
	for off := 0; off < len(t); {
		k := bytes.IndexByte(t[off:], '@')
		if k < 0 {
			return
		}
		at := off + k
		off = at + 1
		if s, e := matchEmail(t, at); e > 0 {
			sc.add(idEmail, s, e)
			off = e
		}
	}
}

// matchEmail matches local@domain.tld around the '@' at t[at]. The domain
// needs a dot and an alphabetic TLD of two or more letters in one case, so
// user@localhost, module@v1.2.3 and decorators are not addresses; neither
// are image variants like icon@2x.png.
func matchEmail(t []byte, at int) (int, int) {
	n := len(t)
	s := at
	for s > 0 && at-s <= 64 && class[t[s-1]]&cLocal != 0 {
		s--
	}
	if at-s > 64 {
		return 0, 0
	}
	// A local part starts and ends with a letter or digit here; leading
	// punctuation belongs to the surrounding text ("--user@x.org").
	for s < at && class[t[s]]&cAlnum == 0 {
		s++
	}
	if s == at || class[t[at-1]]&cAlnum == 0 && t[at-1] != '_' {
		return 0, 0
	}
	j := at + 1
	labels, lastStart, firstEnd := 0, j, 0
	for {
		ls := j
		for j < n && j-ls < 63 && (class[t[j]]&cAlnum != 0 || t[j] == '-') {
			j++
		}
		if j == ls || t[ls] == '-' || t[j-1] == '-' {
			return 0, 0
		}
		if labels == 0 {
			firstEnd = j
		}
		labels++
		lastStart = ls
		if j+1 < n && t[j] == '.' && class[t[j+1]]&cAlnum != 0 {
			j++
			continue
		}
		break
	}
	if labels < 2 || j-lastStart < 2 || (j < n && isWord(t[j])) {
		return 0, 0
	}
	// The TLD is letters, written in one case: "m.Path@m.Version" in code
	// is a method, not an address.
	var cases uint8
	for _, c := range t[lastStart:j] {
		cases |= class[c]
	}
	if cases&^(cUpper|cLower|cWord|cB64URL|cLocal|cAlnum|cHex) != 0 || cases&cDigit != 0 || cases&(cUpper|cLower) == cUpper|cLower {
		return 0, 0
	}
	// "icon@2x.png": a scale suffix, not a mailbox.
	if first := t[at+1 : firstEnd]; len(first) >= 2 && (first[len(first)-1] == 'x' || first[len(first)-1] == 'X') && digitRun(first, 0) == len(first)-1 {
		return 0, 0
	}
	return s, j
}

// numLeftOK reports whether a number starting at t[i] is not the tail of a
// longer number or identifier: "v1.2.3.4", "12,345-67-8901".
func numLeftOK(t []byte, i int) bool {
	if i == 0 {
		return true
	}
	p := t[i-1]
	if isWord(p) {
		return false
	}
	if i >= 2 {
		q := t[i-2]
		switch p {
		case '.':
			return class[q]&cAlnum == 0
		case ',', '-':
			return !isDigit(q)
		}
	}
	return true
}

// numRightOK reports whether a number ending before t[e] is not followed by
// more of it: a word character, or a separator and a digit ("1.2.3.4.5").
func numRightOK(t []byte, e int) bool {
	if e >= len(t) {
		return true
	}
	c := t[e]
	if isWord(c) {
		return false
	}
	if (c == '.' || c == ',' || c == '-') && e+1 < len(t) && isDigit(t[e+1]) {
		return false
	}
	return true
}

// matchSSN matches ddd-dd-dddd with the SSA's rules: area not 000, 666 or
// 9xx, group not 00, serial not 0000.
func matchSSN(t []byte, i int) int {
	if len(t)-i < 11 || t[i+3] != '-' || t[i+6] != '-' {
		return 0
	}
	for _, k := range [...]int{0, 1, 2, 4, 5, 7, 8, 9, 10} {
		if !isDigit(t[i+k]) {
			return 0
		}
	}
	if !numLeftOK(t, i) || !numRightOK(t, i+11) {
		return 0
	}
	area := string(t[i : i+3])
	if area == "000" || area == "666" || t[i] == '9' || string(t[i+4:i+6]) == "00" || string(t[i+7:i+11]) == "0000" {
		return 0
	}
	return i + 11
}

// matchCard matches 13-19 digits, either one run or groups split by one
// kind of separator (space or dash; first group of 4, then groups of 3-6),
// Luhn-valid with an issuer prefix of the right length. Trailing groups
// may be dropped, so "4111 1111 1111 1111 123" (a CVV after it) still
// matches its first 16 digits.
func matchCard(t []byte, i int) int {
	if !numLeftOK(t, i) || signed(t, i) {
		return 0
	}
	g := digitRun(t, i)
	if g >= 13 {
		e := i + g
		if g > 19 || !numRightOK(t, e) || !validCard(t[i:e]) {
			return 0
		}
		return e
	}
	if g != 4 {
		return 0
	}
	var ends [8]int // end offset after each group
	var totals [8]int
	ends[0], totals[0] = i+4, 4
	ng := 1
	var sep byte
	for pos := i + 4; ng < len(ends) && pos+1 < len(t); {
		c := t[pos]
		if c != ' ' && c != '-' || (sep != 0 && c != sep) {
			break
		}
		gl := digitRun(t, pos+1)
		if gl < 3 || gl > 6 {
			break
		}
		sep = c
		pos += 1 + gl
		ends[ng], totals[ng] = pos, totals[ng-1]+gl
		ng++
	}
	var digits [19]byte
	for k := ng - 1; k >= 1; k-- {
		if totals[k] < 13 {
			break
		}
		if totals[k] > 19 {
			continue
		}
		e := ends[k]
		if !numRightOK(t, e) && !(k < ng-1 && t[e] == sep) {
			continue
		}
		nd := 0
		for _, c := range t[i:e] {
			if isDigit(c) {
				digits[nd] = c
				nd++
			}
		}
		if validCard(digits[:nd]) {
			return e
		}
	}
	return 0
}

// signed reports whether the number at t[i] has a sign: "-4181792142133755926"
// in a table of constants is a number, not a card.
func signed(t []byte, i int) bool {
	return i > 0 && (t[i-1] == '-' || t[i-1] == '+') && (i == 1 || class[t[i-2]]&cAlnum == 0)
}

// validCard checks the Luhn sum and that the issuer prefix (IIN) issues
// numbers of this length.
func validCard(d []byte) bool {
	n := len(d)
	if n < 13 || n > 19 {
		return false
	}
	sum, dbl := 0, false
	for k := n - 1; k >= 0; k-- {
		v := int(d[k] - '0')
		if dbl {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
		dbl = !dbl
	}
	if sum%10 != 0 {
		return false
	}
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p3 := p2*10 + int(d[2]-'0')
	p4 := p3*10 + int(d[3]-'0')
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 34, p2 == 37: // American Express
		return n == 15
	case p4 == 6011, p3 >= 644 && p3 <= 649, p2 == 65, p2 == 62: // Discover, UnionPay
		return n >= 16
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16
	case p3 >= 300 && p3 <= 305, p4 == 3095, p2 == 36, p2 == 38, p2 == 39: // Diners Club
		return n >= 14
	case p2 == 50, p2 >= 56 && p2 <= 58, p2 == 63, p2 == 67: // Maestro
		return true
	}
	return false
}

func isPhoneSep(c byte) bool { return c == '-' || c == '.' || c == ' ' }

// matchPhone matches a phone number whose digits start at t[i]: "+CC ..."
// international numbers and North American ones, "(212) 555-0147",
// "212-555-0147", "1 212 555 0147". Separators are required (except in
// the +E.164 form), so digit runs, dates, versions and numbers in prose are
// not phone numbers.
func matchPhone(t []byte, i int) (int, int) {
	n := len(t)
	if i > 0 && t[i-1] == '+' {
		s := i - 1
		if s > 0 && (isWord(t[s-1]) || t[s-1] == ')' || t[s-1] == '+') {
			return 0, 0
		}
		if t[i] == '1' {
			if digitRun(t, i) == 11 { // +12125550147
				e := i + 11
				if t[i+1] >= '2' && t[i+4] >= '2' && numRightOK(t, e) {
					return s, e
				}
				return 0, 0
			}
			j := i + 1
			if j < n && isPhoneSep(t[j]) {
				j++
			}
			if e := nanp(t, j); e > 0 {
				return s, e
			}
			return 0, 0
		}
		if e := intlPhone(t, i); e > 0 {
			return s, e
		}
		return 0, 0
	}
	if i > 0 && t[i-1] == '(' {
		s := i - 1
		if s > 0 && isWord(t[s-1]) { // f(555) is a call, not an area code
			return 0, 0
		}
		if e := nanp(t, s); e > 0 {
			return s, e
		}
		return 0, 0
	}
	if !numLeftOK(t, i) {
		return 0, 0
	}
	// A leading trunk "1": "1-212-555-0147", "1 (212) 555-0147".
	if t[i] == '1' && i+2 < n && isPhoneSep(t[i+1]) && (isDigit(t[i+2]) || t[i+2] == '(') {
		if e := nanp(t, i+2); e > 0 {
			return i, e
		}
	}
	if e := nanp(t, i); e > 0 {
		return i, e
	}
	return 0, 0
}

// nanp matches a North American number from its area code at t[j]:
// "(NXX) NXX-XXXX" or NXX s NXX s XXXX with one separator s of "-. ".
// N is 2-9.
func nanp(t []byte, j int) int {
	n := len(t)
	d3 := func(k int) bool {
		return k+3 <= n && isDigit(t[k]) && isDigit(t[k+1]) && isDigit(t[k+2]) && t[k] >= '2'
	}
	if j < n && t[j] == '(' {
		if !d3(j+1) || j+4 >= n || t[j+4] != ')' {
			return 0
		}
		j += 5
		if j < n && isPhoneSep(t[j]) {
			j++
		}
		if !d3(j) {
			return 0
		}
		j += 3
		if j >= n || !isPhoneSep(t[j]) {
			return 0
		}
		j++
	} else {
		if !d3(j) {
			return 0
		}
		j += 3
		if j >= n || !isPhoneSep(t[j]) {
			return 0
		}
		sep := t[j]
		j++
		if !d3(j) {
			return 0
		}
		j += 3
		if j >= n || t[j] != sep {
			return 0
		}
		j++
	}
	if j+4 > n || digitRun(t, j) < 4 {
		return 0
	}
	e := j + 4
	if !numRightOK(t, e) {
		return 0
	}
	return e
}

// intlPhone matches the digits after '+' of an international number: a
// country code of 1-3 digits (not starting with 0) and groups split by one
// of "-. " or a parenthesised group ("+44 (0)20 7946 0958"), 8-15 digits
// in all, three groups or more when dots separate them; or one unseparated
// run of 10-15 digits (E.164).
func intlPhone(t []byte, i int) int {
	n := len(t)
	if t[i] == '0' { // no country code starts with 0: "m=+0.000000000"
		return 0
	}
	g := digitRun(t, i)
	if g >= 4 {
		e := i + g
		if g < 10 || g > 15 || !numRightOK(t, e) || (e+1 < n && isPhoneSep(t[e]) && isDigit(t[e+1])) {
			return 0
		}
		return e
	}
	total, groups, j := g, 1, i+g
	dots := false
	for {
		k := j
		sep := k < n && isPhoneSep(t[k])
		if sep {
			dots = dots || t[k] == '.'
			k++
		}
		if k < n && t[k] == '(' {
			d := digitRun(t, k+1)
			if d == 0 || d > 4 || k+1+d >= n || t[k+1+d] != ')' {
				break
			}
			k += d + 2
			if k < n && isPhoneSep(t[k]) {
				k++
			}
			d2 := digitRun(t, k)
			if d2 == 0 {
				break
			}
			total += d + d2
			groups += 2
			j = k + d2
		} else {
			if !sep {
				break
			}
			d := digitRun(t, k)
			if d == 0 {
				break
			}
			total += d
			groups++
			j = k + d
		}
		if total > 15 {
			return 0
		}
	}
	// A dotted "+CC.NNNNNNNN" is a signed decimal ("+3.141592653").
	if groups < 2 || dots && groups < 3 || total < 8 || !numRightOK(t, j) {
		return 0
	}
	return j
}

// matchIPv4 matches a dotted quad, each octet 0-255 without leading zeros.
// 0.0.0.0, the unspecified address, is a wildcard in configs, not anyone's
// address, so it is not a hit; nor is a quad that follows a word such as
// "version" or "section" (AssemblyVersion("1.0.0.0"), "Section 8.1.2.6").
func matchIPv4(t []byte, i int) int {
	if !numLeftOK(t, i) {
		return 0
	}
	var oct [4]byte
	j := i
	for k := range 4 {
		if k > 0 {
			if j >= len(t) || t[j] != '.' {
				return 0
			}
			j++
		}
		d := digitRun(t, j)
		if d == 0 || d > 3 || (d > 1 && t[j] == '0') {
			return 0
		}
		v := 0
		for _, c := range t[j : j+d] {
			v = v*10 + int(c-'0')
		}
		if v > 255 {
			return 0
		}
		oct[k] = byte(v)
		j += d
	}
	if !numRightOK(t, j) || netip.AddrFrom4(oct).IsUnspecified() || afterVersion(t, i) {
		return 0
	}
	return j
}

// afterVersion reports whether the word before t[i], across quotes,
// brackets, '=', ':' and spaces, ends with one that numbers things with
// dotted quads: "version" (also AssemblyVersion), "release", "section",
// "chapter", "clause" (any case), or is '§'.
func afterVersion(t []byte, i int) bool {
	k := i
	for k > 0 && i-k < 8 {
		switch t[k-1] {
		case ' ', '\t', '"', '\'', '(', '[', '=', ':':
			k--
			continue
		}
		break
	}
	if hasPrefixAt(t, max(0, k-2), "§") && k >= 2 {
		return true
	}
	for _, w := range [...]string{"version", "release", "section", "chapter", "clause"} {
		if k >= len(w) && foldEqual(t[k-len(w):k], []byte(w)) {
			return true
		}
	}
	return false
}

// matchIPv6 matches an IPv6 address whose first group starts at t[i] (or
// that starts with "::" just before it), validated by net/netip. It needs
// two or more groups and either "::" or all eight groups, so times
// (12:30:45), MAC addresses, C++/Rust paths (std::io) and Python slices
// (a[::2]) are not addresses; nor is the unspecified "::".
func matchIPv6(t []byte, i int) (int, int) {
	n := len(t)
	s := i
	if i > 0 && t[i-1] == ':' {
		if i < 2 || t[i-2] != ':' {
			return 0, 0
		}
		s = i - 2
		if s > 0 && (isWord(t[s-1]) || t[s-1] == ':' || t[s-1] == '.') {
			return 0, 0
		}
	} else {
		h := runLen(t, i, cHex)
		if h > 4 || i+h >= n || t[i+h] != ':' || (i > 0 && t[i-1] == '.') {
			return 0, 0
		}
	}
	e := i
	for e < n && e-s <= 45 && (class[t[e]]&cHex != 0 || t[e] == ':' || t[e] == '.') {
		e++
	}
	if e-s > 45 {
		return 0, 0
	}
	for e > i && t[e-1] == '.' { // sentence end
		e--
	}
	if e-s >= 3 && t[e-1] == ':' && t[e-2] != ':' { // "address fe80::1: ..."
		e--
	}
	if e < n && isWord(t[e]) {
		return 0, 0
	}
	cand := t[s:e]
	colons, groups, dot := 0, 0, false
	for k, c := range cand {
		switch {
		case c == ':':
			colons++
		case c == '.':
			dot = true
		case k == 0 || cand[k-1] == ':':
			groups++
		}
	}
	if groups < 2 || !(bytes.Contains(cand, doubleColon) || colons == 7 || (colons == 6 && dot)) {
		return 0, 0
	}
	addr, err := netip.ParseAddr(string(cand))
	if err != nil || !addr.Is6() || addr.IsUnspecified() {
		return 0, 0
	}
	return s, e
}

var doubleColon = []byte("::")

// ibanLen is the IBAN length per country (SWIFT IBAN registry), indexed by
// the two letters; 0 = not an IBAN country.
var ibanLen = func() (l [26 * 26]uint8) {
	for cc, n := range map[string]uint8{
		"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
		"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
		"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
		"GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
		"JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
		"MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
		"NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
		"SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
		"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
	} {
		l[int(cc[0]-'A')*26+int(cc[1]-'A')] = n
	}
	return l
}()

// matchIBAN matches an IBAN at t[i]: two capital letters of an IBAN
// country, two check digits and the BBAN, [A-Z0-9] to the country's
// length, either unbroken or in space-separated groups of four
// ("GB82 WEST 1234 5698 7654 32"); the mod-97 check must hold.
func matchIBAN(t []byte, i int) int {
	n := len(t)
	if n-i < 15 || class[t[i]]&cUpper == 0 || class[t[i+1]]&cUpper == 0 || !isDigit(t[i+2]) || !isDigit(t[i+3]) {
		return 0
	}
	L := int(ibanLen[int(t[i]-'A')*26+int(t[i+1]-'A')])
	if L == 0 {
		return 0
	}
	const upDigit = cUpper | cDigit
	var buf [34]byte
	j := i
	if t[i+4] != ' ' {
		if runLen(t, i, upDigit) != L {
			return 0
		}
		copy(buf[:], t[i:i+L])
		j = i + L
	} else {
		nb := 0
		for nb < L {
			g := 0
			for j < n && g < 4 && nb < L && class[t[j]]&upDigit != 0 {
				buf[nb] = t[j]
				nb, j, g = nb+1, j+1, g+1
			}
			if nb == L {
				break
			}
			if g != 4 || j+1 >= n || t[j] != ' ' {
				return 0
			}
			j++
		}
	}
	if j < n && class[t[j]]&cAlnum != 0 {
		return 0
	}
	if !ibanChecksum(buf[:L]) {
		return 0
	}
	return j
}

// ibanChecksum is the ISO 13616 mod-97 check: country and check digits
// moved to the end, letters as 10-35, the number mod 97 is 1.
func ibanChecksum(iban []byte) bool {
	r := 0
	for k := range iban {
		c := iban[(k+4)%len(iban)]
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	return r == 1
}
