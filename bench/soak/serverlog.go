package main

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
)

// logLine counts the server's log lines of one level and message.
type logLine struct {
	level, msg string
	n          int
}

// warnings counts the WARN and ERROR lines of the server's JSON log at
// path from byte offset from on, by level and message, most first.
func warnings(path string, from int64) ([]logLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		return nil, err
	}
	counts := map[[2]string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &l) != nil || (l.Level != "WARN" && l.Level != "ERROR") {
			continue
		}
		counts[[2]string{l.Level, l.Msg}]++
	}
	out := make([]logLine, 0, len(counts))
	for k, n := range counts {
		out = append(out, logLine{level: k[0], msg: k[1], n: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].level+out[i].msg < out[j].level+out[j].msg
	})
	return out, sc.Err()
}
