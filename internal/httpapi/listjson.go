package httpapi

import (
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/rayfleet/rayfleet/api"
)

// ListRayCluster is the API's hot path, and encoding/json's reflection was a
// large share of its cost (most of it at pageSize 100). So its answer is
// written by hand, byte for byte what writeJSON's encoder would write:
// TestListJSONMatchesEncodingJSON fills every field of the types with
// awkward values and compares, so a field added to them fails it until it
// is added here too.

// jsonBody is an answer already encoded as writeJSON would encode it,
// trailing newline included. writeJSON gives its buffer back to bodies.
type jsonBody []byte

// bodies recycles the buffers of jsonBody answers: a page of 100 clusters
// is some 100 KB, which would otherwise be allocated and zeroed anew for
// every list.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// release gives b's buffer back to bodies, unless it is too big to keep.
func (b jsonBody) release() {
	if cap(b) <= 256<<10 {
		buf := []byte(b[:0])
		bodies.Put(&buf)
	}
}

// listWriter writes a ListRayCluster answer cluster by cluster, so no
// slice of summaries is built.
type listWriter struct {
	b []byte
	n int
}

func newListWriter(requestID string, clusters int) *listWriter {
	b := *bodies.Get().(*[]byte)
	b = slices.Grow(b[:0], 512+clusters*1024)
	b = append(b, `{"requestId":`...)
	b = appendJSONString(b, requestID)
	b = append(b, `,"rayClusters":[`...)
	return &listWriter{b: b}
}

func (w *listWriter) add(s *api.ClusterSummary) {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = appendSummary(w.b, s)
}

// addRaw adds a summary already encoded by appendSummary.
func (w *listWriter) addRaw(b []byte) {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, b...)
}

func (w *listWriter) finish(total, pageNum, pageSize int) jsonBody {
	b := append(w.b, `],"totalCount":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"pageNum":`...)
	b = strconv.AppendInt(b, int64(pageNum), 10)
	b = append(b, `,"pageSize":`...)
	b = strconv.AppendInt(b, int64(pageSize), 10)
	return append(b, "}\n"...)
}

func appendSummary(b []byte, s *api.ClusterSummary) []byte {
	b = append(b, `{"clusterId":`...)
	b = appendJSONString(b, s.ClusterID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, s.Name)
	b = append(b, `,"description":`...)
	b = appendJSONString(b, s.Description)
	b = append(b, `,"displayReleaseVersion":`...)
	b = appendJSONString(b, s.DisplayReleaseVersion)
	b = append(b, `,"networkServiceName":`...)
	b = appendJSONString(b, s.NetworkServiceName)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, s.State)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, s.Message)
	b = append(b, `,"instanceId":`...)
	b = appendJSONString(b, s.InstanceID)
	b = append(b, `,"headSpec":`...)
	b = appendHeadSpec(b, &s.HeadSpec)
	b = append(b, `,"workerSpec":`...)
	if s.WorkerSpec == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range s.WorkerSpec {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendWorkerSpec(b, &s.WorkerSpec[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"dashboardUrl":`...)
	b = appendJSONString(b, s.DashboardURL)
	b = append(b, `,"grpcEndpoint":`...)
	b = appendJSONString(b, s.GrpcEndpoint)
	b = append(b, `,"modified":`...)
	b = strconv.AppendBool(b, s.Modified)
	b = append(b, `,"createTime":`...)
	b = strconv.AppendInt(b, s.CreateTime, 10)
	b = append(b, `,"startTime":`...)
	b = strconv.AppendInt(b, s.StartTime, 10)
	b = append(b, `,"modifiedTime":`...)
	b = strconv.AppendInt(b, s.ModifiedTime, 10)
	b = append(b, `,"creator":`...)
	b = appendJSONString(b, s.Creator)
	b = append(b, `,"creatorName":`...)
	b = appendJSONString(b, s.CreatorName)
	b = append(b, `,"modifier":`...)
	b = appendJSONString(b, s.Modifier)
	b = append(b, `,"modifierName":`...)
	b = appendJSONString(b, s.ModifierName)
	b = append(b, `,"userId":`...)
	b = appendJSONString(b, s.UserID)
	return append(b, '}')
}

func appendHeadSpec(b []byte, h *api.SummaryHeadSpec) []byte {
	b = append(b, `{"queueName":`...)
	b = appendJSONString(b, h.QueueName)
	b = append(b, `,"cpu":`...)
	b = appendJSONString(b, h.CPU)
	b = append(b, `,"memory":`...)
	b = appendJSONString(b, h.Memory)
	b = append(b, `,"gpuSpec":`...)
	b = appendJSONString(b, h.GPUSpec)
	b = append(b, `,"enableAutoScaling":`...)
	b = strconv.AppendBool(b, h.EnableAutoScaling)
	b = append(b, `,"idleTimeoutSeconds":`...)
	b = strconv.AppendInt(b, int64(h.IdleTimeoutSeconds), 10)
	b = append(b, `,"replica":`...)
	b = strconv.AppendInt(b, int64(h.Replica), 10)
	return append(b, '}')
}

func appendWorkerSpec(b []byte, w *api.SummaryWorkerSpec) []byte {
	b = append(b, `{"groupName":`...)
	b = appendJSONString(b, w.GroupName)
	b = append(b, `,"workerType":`...)
	b = appendJSONString(b, w.WorkerType)
	b = append(b, `,"replica":`...)
	b = strconv.AppendInt(b, int64(w.Replica), 10)
	b = append(b, `,"minReplica":`...)
	b = strconv.AppendInt(b, int64(w.MinReplica), 10)
	b = append(b, `,"maxReplica":`...)
	b = strconv.AppendInt(b, int64(w.MaxReplica), 10)
	b = append(b, `,"queueName":`...)
	b = appendJSONString(b, w.QueueName)
	b = append(b, `,"cpu":`...)
	b = appendJSONString(b, w.CPU)
	b = append(b, `,"memory":`...)
	b = appendJSONString(b, w.Memory)
	b = append(b, `,"gpuSpec":`...)
	b = appendJSONString(b, w.GPUSpec)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with HTML escaping off:
// quotes, backslashes and control characters escaped, invalid UTF-8 as
// U+FFFD, and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	i := plainPrefix(s)
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainPrefix returns how many bytes s starts with that need no escaping
// (printable ASCII but '"' and '\\'), eight at a time: most strings are
// all plain, and a byte at a time was most of the encoding's cost.
func plainPrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// zero and below set the high bit of some lane exactly when a lane of
	// x is 0, or below n (n <= 0x80), for x of 7-bit lanes: the classic
	// SWAR tests. A lane of 0x80 or more sets its own high bit.
	zero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	below := func(x, n uint64) uint64 { return (x - ones*n) & ^x & highs }
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if x&highs|below(x, 0x20)|zero(x^(ones*'"'))|zero(x^(ones*'\\')) != 0 {
			break
		}
	}
	for i < len(s) && plainByte[s[i]] {
		i++
	}
	return i
}

// plainByte tells the bytes JSON strings carry as they are.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
