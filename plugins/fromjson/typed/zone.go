package typed

import (
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // region zones (Europe/Paris) on hosts and images without a zoneinfo directory
)

// zone is a parsed zone of a timestamp: a fixed offset in seconds east of
// UTC, or a region whose offset depends on the date.
type zone struct {
	offset int
	loc    *time.Location
}

// javaShortIDs is java.time.ZoneId.SHORT_IDS, which Spark's getZoneId passes
// to ZoneId.of: three-letter IDs mapped to a region or a fixed offset.
var javaShortIDs = map[string]string{
	"ACT": "Australia/Darwin", "AET": "Australia/Sydney", "AGT": "America/Argentina/Buenos_Aires",
	"ART": "Africa/Cairo", "AST": "America/Anchorage", "BET": "America/Sao_Paulo", "BST": "Asia/Dhaka",
	"CAT": "Africa/Harare", "CNT": "America/St_Johns", "CST": "America/Chicago", "CTT": "Asia/Shanghai",
	"EAT": "Africa/Addis_Ababa", "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis",
	"IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "MIT": "Pacific/Apia", "NET": "Asia/Yerevan",
	"NST": "Pacific/Auckland", "PLT": "Asia/Karachi", "PNT": "America/Phoenix", "PRT": "America/Puerto_Rico",
	"PST": "America/Los_Angeles", "SST": "Pacific/Guadalcanal", "VST": "Asia/Ho_Chi_Minh",
	"EST": "-05:00", "MST": "-07:00", "HST": "-10:00",
}

// parseZone reads a zone as Spark's getZoneId does: two rewrites for
// single-digit hours and minutes (+5:30 → +05:30, +05:3 → +05:03), then
// java.time.ZoneId.of(id, SHORT_IDS).
func parseZone(id string) (zone, bool) {
	id = padOffset(id)
	if alias, ok := javaShortIDs[id]; ok {
		id = alias
	}
	if len(id) <= 1 || id[0] == '+' || id[0] == '-' {
		off, ok := parseOffset(id)
		return zone{offset: off}, ok
	}
	for _, prefix := range []string{"UTC", "GMT", "UT"} {
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		rest := id[len(prefix):]
		if rest == "" {
			return zone{}, true
		}
		if rest[0] == '+' || rest[0] == '-' {
			off, ok := parseOffset(rest)
			return zone{offset: off}, ok
		}
		break // UTC0, GMT0 ...: a region
	}
	loc, ok := region(id)
	return zone{loc: loc}, ok
}

// padOffset applies getZoneId's two rewrites: the first "[+-]d:" gets a 0
// before its digit, and a trailing "[+-]dd:d" gets a 0 before its last digit.
func padOffset(id string) string {
	for k := 0; k+2 < len(id); k++ {
		if (id[k] == '+' || id[k] == '-') && isDigit(id[k+1]) && id[k+2] == ':' {
			id = id[:k+1] + "0" + id[k+1:]
			break
		}
	}
	if n := len(id); n >= 5 && (id[n-5] == '+' || id[n-5] == '-') && isDigit(id[n-4]) && isDigit(id[n-3]) && id[n-2] == ':' && isDigit(id[n-1]) {
		id = id[:n-1] + "0" + id[n-1:]
	}
	return id
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseOffset is java.time.ZoneOffset.of: Z, ±h, ±hh, ±hh:mm, ±hhmm,
// ±hh:mm:ss, ±hhmmss, within ±18:00.
func parseOffset(id string) (int, bool) {
	if id == "Z" {
		return 0, true
	}
	if len(id) < 2 || (id[0] != '+' && id[0] != '-') {
		return 0, false
	}
	two := func(pos int, colon bool) (int, bool) {
		if pos+2 > len(id) || colon && id[pos-1] != ':' || !isDigit(id[pos]) || !isDigit(id[pos+1]) {
			return 0, false
		}
		return int(id[pos]-'0')*10 + int(id[pos+1]-'0'), true
	}
	var h, m, sec int
	ok1, ok2, ok3 := true, true, true
	switch len(id) {
	case 2:
		if !isDigit(id[1]) {
			return 0, false
		}
		h = int(id[1] - '0')
	case 3:
		h, ok1 = two(1, false)
	case 5:
		h, ok1 = two(1, false)
		m, ok2 = two(3, false)
	case 6:
		h, ok1 = two(1, false)
		m, ok2 = two(4, true)
	case 7:
		h, ok1 = two(1, false)
		m, ok2 = two(3, false)
		sec, ok3 = two(5, false)
	case 9:
		h, ok1 = two(1, false)
		m, ok2 = two(4, true)
		sec, ok3 = two(7, true)
	default:
		return 0, false
	}
	if !ok1 || !ok2 || !ok3 || h > 18 || m > 59 || sec > 59 || h == 18 && (m != 0 || sec != 0) {
		return 0, false
	}
	off := h*3600 + m*60 + sec
	if id[0] == '-' {
		off = -off
	}
	return off, true
}

var regions sync.Map // name → *time.Location of the zones met so far

// region loads a tz database zone by its ID (case-sensitive, as in Java),
// with Java's ID syntax: a letter, then letters, digits and ~/._+-.
func region(id string) (*time.Location, bool) {
	if v, ok := regions.Load(id); ok {
		return v.(*time.Location), true
	}
	var loc *time.Location
	if validRegionID(id) {
		if l, err := time.LoadLocation(id); err == nil {
			loc = l
		}
	}
	if loc != nil { // only known zones: the cache stays as small as the tz database
		regions.Store(id, loc)
	}
	return loc, loc != nil
}

func validRegionID(id string) bool {
	if len(id) < 2 || id == "Local" || strings.Contains(id, "..") {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter || !letter && !isDigit(c) && !strings.ContainsRune("~/._+-", rune(c)) {
			return false
		}
	}
	return true
}

// inRegion is java.time.ZonedDateTime.of(local, zone) as an instant: the
// offset valid at that local time; in an overlap the earlier one (the offset
// before the transition); in a gap the local time moves forward by the gap.
func inRegion(local time.Time, loc *time.Location) time.Time {
	offsetAt := func(t time.Time) int { _, o := t.In(loc).Zone(); return o }
	before := offsetAt(local.Add(-36 * time.Hour))
	after := offsetAt(local.Add(36 * time.Hour))
	best, found := 0, false
	for _, o := range []int{offsetAt(local.Add(-time.Duration(before) * time.Second)), offsetAt(local.Add(-time.Duration(after) * time.Second))} {
		if offsetAt(local.Add(-time.Duration(o)*time.Second)) == o && (!found || o > best) {
			best, found = o, true
		}
	}
	if !found { // a gap: the offset before it
		best = min(before, after)
	}
	return local.Add(-time.Duration(best) * time.Second)
}
