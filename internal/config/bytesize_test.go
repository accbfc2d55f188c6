package config

import (
	"math"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestByteSizeUnmarshalYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    ByteSize
		wantErr string // substring; "" means success
	}{
		{name: "integer", yaml: "1500", want: 1500},
		{name: "zero", yaml: "0", want: 0},
		{name: "quoted integer", yaml: `"4096"`, want: 4096},
		{name: "bytes unit", yaml: "512B", want: 512},
		{name: "KiB", yaml: "64KiB", want: 64 << 10},
		{name: "KiB with space", yaml: "64 KiB", want: 64 << 10},
		{name: "MiB", yaml: "1MiB", want: 1 << 20},
		{name: "GiB", yaml: "5GiB", want: 5 << 30},
		{name: "TiB", yaml: "2TiB", want: 2 << 40},
		{name: "KB is decimal", yaml: "10KB", want: 10_000},
		{name: "MB is decimal", yaml: "10MB", want: 10_000_000},
		{name: "GB is decimal", yaml: "3GB", want: 3_000_000_000},
		{name: "TB is decimal", yaml: "1TB", want: 1_000_000_000_000},
		{name: "largest", yaml: "9223372036854775807", want: math.MaxInt64},
		{name: "units are case-sensitive", yaml: "64kib", wantErr: "must be a size"},
		{name: "lowercase kb", yaml: "64kb", wantErr: "must be a size"},
		{name: "unknown unit", yaml: "64KiBs", wantErr: "must be a size"},
		{name: "unit only", yaml: "MiB", wantErr: "must be a size"},
		{name: "fraction", yaml: "1.5MiB", wantErr: "must be a size"},
		{name: "float", yaml: "1.5", wantErr: "whole number"},
		{name: "negative", yaml: "-1", wantErr: "negative"},
		{name: "negative with unit", yaml: "-1KiB", wantErr: "negative"},
		{name: "integer overflow", yaml: "9223372036854775808", wantErr: "too large"},
		{name: "unit overflow", yaml: "9000000TiB", wantErr: "too large"},
		{name: "boolean", yaml: "true", wantErr: "must be a size"},
		{name: "list", yaml: "[1]", wantErr: "must be a size"},
		{name: "hex", yaml: "0x10", wantErr: "must be a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got ByteSize
			err := yaml.Unmarshal([]byte("v: "+tt.yaml), &struct {
				V *ByteSize `yaml:"v"`
			}{&got})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestByteSizeNullKeepsValue(t *testing.T) {
	got := ByteSize(7)
	if err := got.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if got != 7 {
		t.Errorf("got %d, want 7 (unchanged)", got)
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{1500, "1500"},
		{1 << 10, "1KiB"},
		{64 << 10, "64KiB"},
		{1536, "1536"},
		{1 << 20, "1MiB"},
		{1024 << 20, "1GiB"},
		{5 << 30, "5GiB"},
		{3 << 40, "3TiB"},
		{(1 << 40) + (1 << 10), "1073741825KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
			// Round trip: the string form parses back to the same size.
			back, err := parseByteSize(tt.want)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.want, err)
			}
			if back != tt.in {
				t.Errorf("parse(%q) = %d, want %d", tt.want, back, tt.in)
			}
		})
	}
}
