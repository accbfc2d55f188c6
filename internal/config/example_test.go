package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// keyPaths lists every key of t's YAML, dotted ("server.rate_limit.per_minute"); a map's
// entries are written "<name>" ("buckets.<name>.region").
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := strings.TrimPrefix(prefix+"."+name, ".")
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft.Name() != "Duration":
			out = append(out, keyPaths(ft, path)...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keyPaths(ft.Elem(), path+".<name>")...)
		default:
			out = append(out, path)
		}
	}
	return out
}

// TestExampleNamesEveryKey: config.yaml.example names every key there is — live with its
// default, or, for the keys of an S3 alias and of credentials (which the example cannot run
// with), in its commented example of each; the commented S3 alias shows the real defaults.
// (TestLoadExampleConfig checks that the live values are the defaults.)
func TestExampleNamesEveryKey(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config.yaml.example"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, path := range keyPaths(reflect.TypeOf(Config{}), "") {
		leaf := path[strings.LastIndexByte(path, '.')+1:]
		// A live key, or one in a commented example ("#   part_size: 8MiB").
		if !regexp.MustCompile(`(?m)^[ #]*` + regexp.QuoteMeta(leaf) + `:`).MatchString(text) {
			t.Errorf("config.yaml.example does not name %s", path)
		}
	}

	// The commented S3 alias, uncommented, parses to the defaults of every key it shows.
	var block []string
	inBlock := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "  # prod-assets:"):
			inBlock = true
			block = append(block, "buckets:", "  prod-assets:")
		case inBlock && strings.HasPrefix(line, "  #   "):
			block = append(block, "    "+strings.TrimPrefix(line, "  #   "))
		case inBlock:
			inBlock = false
		}
	}
	if len(block) < 3 {
		t.Fatal("config.yaml.example has no commented prod-assets S3 alias")
	}
	doc := strings.Join(block, "\n") + "\nserver:\n  listen: \"127.0.0.1:8080\"\n  host: \"http://x\"\ncontrol:\n  tokens: [t]\n" +
		"credentials:\n  s3-prod:\n    access_key: a\n    secret_key: b\n"
	cfg, err := Parse([]byte(doc), mapEnv(nil), "/base")
	if err != nil {
		t.Fatalf("the commented S3 alias does not parse: %v\n%s", err, doc)
	}
	got, want := cfg.Buckets["prod-assets"], bucketDefaults(Bucket{Bucket: "my-bucket", Region: "eu-west-1", Credential: "s3-prod"})
	if got != want {
		t.Errorf("the commented S3 alias parses to\n%+v\nwant the defaults\n%+v", got, want)
	}
}
