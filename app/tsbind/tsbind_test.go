package tsbind

import (
	"encoding/json"
	"go/ast"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Color string

type Base struct {
	ID string `json:"id"`
}

type Paint struct {
	Base
	Color   Color             `json:"color"`
	Mix     []Color           `json:"mix,omitempty"`
	Parent  *Paint            `json:"parent"`
	Note    *string           `json:"note,omitempty"`
	Counts  map[string]int    `json:"counts"`
	Raw     json.RawMessage   `json:"raw"`
	When    time.Time         `json:"when"`
	Took    time.Duration     `json:"took"`
	Bytes   []byte            `json:"bytes"`
	Any     any               `json:"any"`
	Secret  string            `json:"-"`
	NoTag   bool              // no tag: the Go name is the JSON name
	Inline  struct{ X int }   `json:"inline"`
	Dashed  int               `json:"a-b"`
	private int               // unexported: never serialised
	Tags    map[string][]Base `json:"tags,omitempty"`
}

type Shop struct{}

func (*Shop) Mix(string, []Color) (Paint, error) { return Paint{}, nil }
func (*Shop) Forget(string) error                { return nil }

type Bad struct{}

func (*Bad) NoError() string { return "" }

// src serves this package's "source" from a file the test writes: the
// parameter names and Color's constants.
func src(t *testing.T) Source {
	dir := t.TempDir()
	code := `package tsbind
const (
	Red  Color = "red"
	Blue Color = "blue"
	Other = "not a Color"
)
func (s *Shop) Mix(name string, colors []Color) (Paint, error)
func (s *Shop) Forget(id string) error
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.go"), []byte(code), 0o644))
	pkg := reflect.TypeFor[Shop]().PkgPath()
	return func(p string) (string, bool) { return dir, p == pkg }
}

func TestGenerateFollowsEncodingJSON(t *testing.T) {
	out, err := Generate([]any{&Shop{}}, src(t))
	require.NoError(t, err)
	ts := string(out)
	assert.Contains(t, ts, "export type Color = 'blue' | 'red';")
	assert.Contains(t, ts, "export interface Paint extends Base {\n", "an embedded struct's fields come by extending it")
	assert.Contains(t, ts, "export interface Base {\n  id: string;\n}")
	for _, field := range []string{
		"color: Color;",
		"mix?: Color[];",
		"parent: Paint | null;",
		"note?: string;", // a nil pointer with omitempty is left out, never null
		"counts: Record<string, number>;",
		"raw: RawMessage;",
		"when: Time;",
		"took: number;",
		"bytes: string;",
		"any: unknown;",
		"NoTag: boolean;",
		`"a-b": number;`,
		"tags?: Record<string, Base[]>;",
	} {
		assert.Contains(t, ts, "  "+field+"\n")
	}
	assert.Contains(t, ts, "inline: {\n    X: number;\n  };")
	assert.NotContains(t, ts, "Secret")
	assert.NotContains(t, ts, "private")
	assert.Contains(t, ts, "export type Time = string;")
	assert.Contains(t, ts, "'Shop.Mix': (name: string, colors: Color[]) => Paint;")
	assert.Contains(t, ts, "'Shop.Forget': (id: string) => void;")
}

func TestGenerateWithoutSourceNamesArguments(t *testing.T) {
	out, err := Generate([]any{&Shop{}}, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	assert.Contains(t, string(out), "'Shop.Mix': (arg0: string, arg1: string[]) => Paint;", "no enum without its constants")
}

func TestGenerateRefusesWhatWailsCannotBind(t *testing.T) {
	_, err := Generate([]any{&Bad{}}, src(t))
	require.ErrorContains(t, err, "Bad.NoError must return error or (T, error)")
	_, err = Generate([]any{Shop{}}, src(t))
	require.ErrorContains(t, err, "is not a pointer to a struct")
}

type Cookie struct{ Name string }

func TestGenerateQualifiesSharedNames(t *testing.T) {
	g := &gen{src: src(t), fset: token.NewFileSet(), files: map[string][]*ast.File{}, names: map[reflect.Type]string{}, used: map[string]reflect.Type{}, decls: map[string]string{}}
	assert.Equal(t, "Cookie", g.ts(reflect.TypeFor[Cookie]()))
	assert.Equal(t, "HttpCookie", g.ts(reflect.TypeFor[http.Cookie]()), "the second Cookie is named by its package")
	assert.Equal(t, "Cookie", g.ts(reflect.TypeFor[Cookie]()), "a type keeps its name")
	assert.Equal(t, "TsbindRecord", g.ts(reflect.TypeFor[Record]()), "TypeScript's own Record stays usable")
}

type Record struct{ K string }
