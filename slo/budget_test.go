package slo

import (
	"math"
	"testing"
	"time"
)

func TestRemaining(t *testing.T) {
	cases := []struct {
		name                  string
		errorRatio, objective float64
		want                  float64
	}{
		{"no errors", 0, 0.999, 1},
		{"half spent", 0.0005, 0.999, 0.5},
		{"exactly spent", 0.001, 0.999, 0},
		{"overspent twice", 0.002, 0.999, -1},
		{"99% objective, 0.25% errors", 0.0025, 0.99, 0.75},
	}
	for _, tc := range cases {
		if got := Remaining(tc.errorRatio, tc.objective); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: Remaining(%v, %v) = %v, want %v", tc.name, tc.errorRatio, tc.objective, got, tc.want)
		}
	}
}

func TestBurnRate(t *testing.T) {
	if got := BurnRate(0.0144, 0.999); math.Abs(got-14.4) > 1e-9 {
		t.Errorf("BurnRate = %v, want 14.4", got)
	}
}

func TestState(t *testing.T) {
	cases := []struct {
		remaining float64
		want      string
	}{
		{1, StateOK}, {0.25, StateOK}, {0.2499, StateCanary}, {0.01, StateCanary}, {0, StateFrozen}, {-0.5, StateFrozen},
	}
	for _, tc := range cases {
		if got := State(tc.remaining, DefaultThresholds()); got != tc.want {
			t.Errorf("State(%v) = %s, want %s", tc.remaining, got, tc.want)
		}
	}
	if got := State(0.05, Thresholds{CanaryBelow: 0.5, FreezeBelow: 0.1}); got != StateFrozen {
		t.Errorf("custom thresholds: %s, want frozen", got)
	}
}

func TestAllowedDowntime(t *testing.T) {
	window, err := ParseWindow("30d")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := AllowedDowntime(0.999, window), 43*time.Minute+12*time.Second; got != want {
		t.Errorf("AllowedDowntime(99.9%%, 30d) = %s, want %s", got, want)
	}
}

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 720 * time.Hour, "4w": 672 * time.Hour, "1h": time.Hour} {
		if got, err := ParseWindow(in); err != nil || got != want {
			t.Errorf("ParseWindow(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "30 days", "-1d", "0s"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
}

func TestPercent(t *testing.T) {
	if got := Percent(0.4213); got != "42.13%" {
		t.Errorf("Percent = %s", got)
	}
	if got := Percent(math.NaN()); got != "n/a" {
		t.Errorf("Percent(NaN) = %s", got)
	}
}
