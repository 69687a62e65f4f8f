package rayfleet

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Resources is an amount of CPU and memory: what a node asks for, what a queue
// may hold, what clusters use. Integers so sums are exact.
type Resources struct {
	MilliCPU    int64
	MemoryBytes int64
}

// GiB is 2^30 bytes.
const GiB = int64(1) << 30

// CU returns the resources of n compute units: 1 CU = 1 vCPU + 4 GiB.
func CU(n int64) Resources { return Resources{MilliCPU: n * 1000, MemoryBytes: n * 4 * GiB} }

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU + o.MilliCPU, MemoryBytes: r.MemoryBytes + o.MemoryBytes}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU - o.MilliCPU, MemoryBytes: r.MemoryBytes - o.MemoryBytes}
}

// Scale returns r times n.
func (r Resources) Scale(n int64) Resources {
	return Resources{MilliCPU: r.MilliCPU * n, MemoryBytes: r.MemoryBytes * n}
}

// CUs is how many compute units r is: the fewest whose resources (CU) it
// fits in, max(cores, memory / 4 GiB), fractions kept. It is the measure
// queues are admitted by, so a job is metered as its cluster is admitted.
func (r Resources) CUs() float64 {
	return max(float64(r.MilliCPU)/1000, float64(r.MemoryBytes)/float64(4*GiB), 0)
}

// Fits reports whether r fits within capacity.
func (r Resources) Fits(capacity Resources) bool {
	return r.MilliCPU <= capacity.MilliCPU && r.MemoryBytes <= capacity.MemoryBytes
}

// String renders r the way people read it: "4 CPU, 16Gi".
func (r Resources) String() string {
	return FormatCPU(r.MilliCPU) + " CPU, " + FormatMemory(r.MemoryBytes)
}

// FormatCPU renders millicores as a core count ("2", "0.5").
func FormatCPU(milli int64) string {
	if milli%1000 == 0 {
		return fmt.Sprintf("%d", milli/1000)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", float64(milli)/1000), "0"), ".")
}

// FormatMemory renders bytes in the largest binary unit that divides it, "Gi" first.
func FormatMemory(b int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"Ti", GiB << 10}, {"Gi", GiB}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if b != 0 && b%u.n == 0 {
			return fmt.Sprintf("%d%s", b/u.n, u.s)
		}
	}
	if b == 0 {
		return "0Gi"
	}
	return fmt.Sprintf("%d", b)
}

// ParseCPU parses a CPU amount: a positive core count ("2", "0.5") or
// Kubernetes millicores ("500m"). At most 1,000,000 cores.
func ParseCPU(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("is empty; give a core count such as \"2\"")
	}
	var milli *big.Rat
	if strings.HasSuffix(s, "m") {
		r, ok := new(big.Rat).SetString(strings.TrimSuffix(s, "m"))
		if !ok {
			return 0, fmt.Errorf("%q is not a number of cores (e.g. \"2\", \"0.5\" or \"500m\")", s)
		}
		milli = r
	} else {
		r, ok := new(big.Rat).SetString(s)
		if !ok || strings.ContainsAny(s, "/eE") {
			return 0, fmt.Errorf("%q is not a number of cores (e.g. \"2\", \"0.5\" or \"500m\")", s)
		}
		milli = r.Mul(r, big.NewRat(1000, 1))
	}
	if milli.Sign() <= 0 {
		return 0, fmt.Errorf("%q must be greater than zero", s)
	}
	if !milli.IsInt() {
		return 0, fmt.Errorf("%q is finer than a millicore", s)
	}
	if milli.Cmp(big.NewRat(1_000_000_000, 1)) > 0 {
		return 0, fmt.Errorf("%q is more than 1000000 cores", s)
	}
	return milli.Num().Int64(), nil
}

var memSuffixes = []struct {
	s string
	n int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15},
}

// ParseMemory parses a memory amount with a Kubernetes suffix ("8Gi", "512Mi",
// "16G"). A bare number is refused: "8" would mean 8 bytes, never what was meant.
func ParseMemory(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("is empty; give an amount such as \"8Gi\"")
	}
	for _, u := range memSuffixes {
		if !strings.HasSuffix(s, u.s) {
			continue
		}
		num := strings.TrimSuffix(s, u.s)
		r, ok := new(big.Rat).SetString(num)
		if !ok || num == "" || strings.ContainsAny(num, "/eE") {
			return 0, fmt.Errorf("%q is not an amount of memory (e.g. \"8Gi\")", s)
		}
		r.Mul(r, new(big.Rat).SetInt64(u.n))
		if r.Sign() <= 0 {
			return 0, fmt.Errorf("%q must be greater than zero", s)
		}
		if r.Cmp(new(big.Rat).SetInt64(math.MaxInt64/1024)) > 0 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		f, _ := r.Float64()
		return int64(math.Ceil(f)), nil
	}
	return 0, fmt.Errorf("%q needs a unit such as Gi or Mi (e.g. \"8Gi\")", s)
}
