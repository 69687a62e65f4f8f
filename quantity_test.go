package rayfleet

import "testing"

func TestParseQuantities(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2", 2000, true}, {"0.5", 500, true}, {"500m", 500, true}, {" 4 ", 4000, true},
		{"0", 0, false}, {"-1", 0, false}, {"", 0, false}, {"abc", 0, false}, {"1e3", 0, false}, {"0.0001", 0, false},
		{"1/2", 0, false}, {"2000000", 0, false},
	} {
		got, err := ParseCPU(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseCPU(%q) = %d, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"8Gi", 8 << 30, true}, {"512Mi", 512 << 20, true}, {"1G", 1e9, true}, {"1.5Gi", 3 << 29, true},
		{"8", 0, false}, {"0Gi", 0, false}, {"-1Gi", 0, false}, {"Gi", 0, false}, {"1e3Gi", 0, false}, {"99999999999999999999Pi", 0, false},
	} {
		got, err := ParseMemory(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMemory(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func FuzzParseQuantities(f *testing.F) {
	for _, s := range []string{"2", "0.5", "500m", "8Gi", "1.5Ti", "1e400", "-0", "00.000001m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseCPU(s); err == nil && m <= 0 {
			t.Fatalf("ParseCPU(%q) = %d without error", s, m)
		}
		if b, err := ParseMemory(s); err == nil && b <= 0 {
			t.Fatalf("ParseMemory(%q) = %d without error", s, b)
		}
	})
}

func TestRestartRequiredAndMergeLive(t *testing.T) {
	base := ClusterSpec{Name: "a", Head: HeadSpec{CPU: "2", Memory: "8Gi"},
		Workers: []WorkerSpec{{GroupName: "g", Replica: 2, MinReplica: 1, MaxReplica: 4, CPU: "1", Memory: "4Gi"}}}
	live := base
	live.Name = "renamed"
	live.Head.EnableAutoScaling, live.Head.IdleTimeoutSeconds = true, 30
	live.Workers = []WorkerSpec{{GroupName: "g", Replica: 3, MinReplica: 1, MaxReplica: 5, CPU: "1", Memory: "4Gi"}}
	if RestartRequired(base, live) {
		t.Fatal("replicas, autoscaling and the name apply live")
	}
	merged := MergeLive(base, live)
	if merged.Workers[0].Replica != 3 || !merged.Head.EnableAutoScaling || RestartRequired(merged, live) {
		t.Fatalf("MergeLive = %+v", merged)
	}
	restart := live
	restart.Workers = []WorkerSpec{{GroupName: "g", Replica: 3, MinReplica: 1, MaxReplica: 5, CPU: "2", Memory: "4Gi"}}
	if !RestartRequired(merged, restart) {
		t.Fatal("a worker's cpu needs a restart")
	}
	if m := MergeLive(merged, restart); m.Workers[0].CPU != "1" {
		t.Fatal("MergeLive applied a restart-requiring change")
	}
}
