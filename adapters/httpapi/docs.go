package httpapi

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
)

// The docs page is rendered on the server from the OpenAPI document: one
// self-contained HTML page, no script or stylesheet from a CDN, so /docs
// works on a machine without internet access.

// doc is the part of an OpenAPI document the page shows.
type doc struct {
	Info struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Description string `json:"description"`
	} `json:"info"`
	Paths      map[string]map[string]*docOp `json:"paths"`
	Components struct {
		Schemas         map[string]*docSchema `json:"schemas"`
		SecuritySchemes map[string]*docScheme `json:"securitySchemes"`
	} `json:"components"`
}

// docScheme is a security scheme.
type docScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme"`
	BearerFormat string `json:"bearerFormat"`
	Description  string `json:"description"`
}

// Header is the request header that carries a credential of the scheme,
// as a client writes it.
func (s *docScheme) Header() string {
	if s.Type == "http" && strings.EqualFold(s.Scheme, "bearer") {
		return "Authorization: Bearer <key>"
	}
	return ""
}

type docOp struct {
	Method      string
	Path        string
	OperationID string `json:"operationId"`
	Summary     string `json:"summary"`
	Description string `json:"description"`
	// Security lists the schemes, any one of which the operation takes;
	// empty when it needs no credential.
	Security   []map[string][]string `json:"security"`
	Parameters []struct {
		Name        string     `json:"name"`
		In          string     `json:"in"`
		Required    bool       `json:"required"`
		Description string     `json:"description"`
		Schema      *docSchema `json:"schema"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]docMedia `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Description string `json:"description"`
		Headers     map[string]struct {
			Description string     `json:"description"`
			Schema      *docSchema `json:"schema"`
		} `json:"headers"`
		Content map[string]docMedia `json:"content"`
	} `json:"responses"`
}

// Schemes names the security schemes the operation takes, sorted.
func (o *docOp) Schemes() []string {
	var names []string
	for _, req := range o.Security {
		for name := range req {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

type docMedia struct {
	Schema  *docSchema `json:"schema"`
	Example any        `json:"example"`
}

type docSchema struct {
	Ref         string                `json:"$ref"`
	Type        any                   `json:"type"`
	Format      string                `json:"format"`
	Description string                `json:"description"`
	Enum        []any                 `json:"enum"`
	Examples    []any                 `json:"examples"`
	Properties  map[string]*docSchema `json:"properties"`
	Required    []string              `json:"required"`
	Items       *docSchema            `json:"items"`
	Title       string                `json:"title"`
	OneOf       []*docSchema          `json:"oneOf"`
}

func (s *docSchema) TypeName() string {
	if s == nil {
		return ""
	}
	if s.Ref != "" {
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	}
	if len(s.OneOf) > 0 {
		alts := make([]string, len(s.OneOf))
		for i, o := range s.OneOf {
			alts[i] = o.Title
			if alts[i] == "" {
				alts[i] = o.TypeName()
			}
		}
		return "one of: " + strings.Join(alts, ", ")
	}
	var t string
	switch v := s.Type.(type) {
	case string:
		t = v
	case []any:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			if ps, ok := p.(string); ok {
				parts = append(parts, ps)
			}
		}
		t = strings.Join(parts, " or ")
	}
	if s.Items != nil {
		t += " of " + s.Items.TypeName()
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	return t
}

func (s *docSchema) Example() string {
	if s == nil || len(s.Examples) == 0 {
		return ""
	}
	b, _ := json.Marshal(s.Examples[0])
	return string(b)
}

// docField is one row of a schema's table.
type docField struct {
	Name     string
	Required bool
	*docSchema
}

func (s *docSchema) Fields() []docField {
	if s == nil {
		return nil
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]docField, len(names))
	for i, n := range names {
		out[i] = docField{Name: n, Required: slices.Contains(s.Required, n), docSchema: s.Properties[n]}
	}
	return out
}

var docsTemplate = template.Must(template.New("docs").Funcs(template.FuncMap{
	"json": func(v any) string {
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	},
	"upper": strings.ToUpper,
	"has":   slices.Contains[[]string],
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Info.Title}} {{.Info.Version}} API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h2{border-top:1px solid #ddd;padding-top:1.2rem}code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f5f5f5;padding:.6rem;overflow:auto}table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.m{font-weight:bold;color:#fff;background:#555;padding:.1rem .4rem;border-radius:3px}
.post{background:#2f7d32}.get{background:#1565c0}.delete{background:#b71c1c}
</style></head><body>
<h1>{{.Info.Title}} <small>{{.Info.Version}}</small></h1>
<p>{{.Info.Description}}</p>
<p>Machine-readable: <a href="/openapi.yaml">openapi.yaml</a>, <a href="/openapi.json">openapi.json</a>.</p>
{{with .Components.SecuritySchemes}}<h2 id="authentication">Authentication</h2>
{{range $name, $s := .}}<h3 id="security-{{$name}}">{{$name}}: {{$s.Type}} {{$s.Scheme}}</h3>
{{with $s.Header}}<pre>{{.}}</pre>{{end}}<p>{{$s.Description}}</p>{{with $s.BearerFormat}}<p>Key format: {{.}}.</p>{{end}}
<p>Operations that need it: {{range $i, $op := $.Ops}}{{if has $op.Schemes $name}}<a href="#{{$op.OperationID}}"><code>{{upper $op.Method}} {{$op.Path}}</code></a> {{end}}{{end}}</p>{{end}}
<p>Operations not listed need no key.</p>{{end}}
<ul>{{range .Ops}}<li><a href="#{{.OperationID}}"><code>{{upper .Method}} {{.Path}}</code></a> {{.Summary}}{{if .Schemes}} (API key){{end}}</li>{{end}}</ul>
{{range .Ops}}
<h2 id="{{.OperationID}}"><span class="m {{.Method}}">{{upper .Method}}</span> <code>{{.Path}}</code> {{.Summary}}</h2>
<p>{{.Description}}</p>
<p><strong>Authentication:</strong> {{with .Schemes}}{{range .}}<a href="#security-{{.}}">{{.}}</a> {{with index $.Components.SecuritySchemes .}}<code>{{.Header}}</code>{{end}}{{end}}{{else}}none: no API key needed{{end}}</p>
{{if .Parameters}}<h3>Parameters</h3><table><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th><th>Example</th></tr>
{{range .Parameters}}<tr><td><code>{{.Name}}</code>{{if .Required}} (required){{end}}</td><td>{{.In}}</td><td>{{.Schema.TypeName}}</td><td>{{.Description}}</td><td><code>{{.Schema.Example}}</code></td></tr>{{end}}</table>{{end}}
{{with .RequestBody}}{{range $ct, $m := .Content}}<h3>Request body ({{$ct}}): {{$m.Schema.TypeName}}</h3>{{end}}{{end}}
<h3>Responses</h3><table><tr><th>Status</th><th>Description</th><th>Body</th></tr>
{{range $code, $r := .Responses}}<tr><td>{{$code}}</td><td>{{$r.Description}}{{range $h, $hd := $r.Headers}}<br>Header <code>{{$h}}</code>: {{$hd.Description}}{{with $hd.Schema.Example}} Example: <code>{{.}}</code>{{end}}{{end}}</td><td>{{range $ct, $m := $r.Content}}{{$m.Schema.TypeName}}{{if $m.Example}}<pre>{{json $m.Example}}</pre>{{end}}{{end}}</td></tr>{{end}}</table>
{{end}}
<h2>Schemas</h2>
{{range $name, $s := .Components.Schemas}}<h3 id="schema-{{$name}}">{{$name}}</h3>{{if $s.Description}}<p>{{$s.Description}}</p>{{end}}
<table><tr><th>Field</th><th>Type</th><th>Description</th><th>Example</th></tr>
{{range $s.Fields}}<tr><td><code>{{.Name}}</code>{{if .Required}} (required){{end}}</td><td>{{.TypeName}}{{if .Enum}}: {{range $i, $e := .Enum}}{{if $i}}, {{end}}<code>{{$e}}</code>{{end}}{{end}}</td><td>{{.Description}}</td><td><code>{{.Example}}</code></td></tr>{{end}}</table>
{{end}}
</body></html>
`))

// docsHandler serves the docs page for api, rendered once on first use
// (every operation is registered by then).
func docsHandler(api huma.API) http.Handler {
	render := sync.OnceValues(func() ([]byte, error) {
		raw, err := json.Marshal(api.OpenAPI())
		if err != nil {
			return nil, err
		}
		var d doc
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, err
		}
		var ops []*docOp
		for path, item := range d.Paths {
			for method, op := range item {
				op.Method, op.Path = method, path
				ops = append(ops, op)
			}
		}
		slices.SortFunc(ops, func(a, b *docOp) int {
			return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
		})
		var buf bytes.Buffer
		err = docsTemplate.Execute(&buf, struct {
			doc
			Ops []*docOp
		}{d, ops})
		return buf.Bytes(), err
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := render()
		if err != nil {
			http.Error(w, "docs: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_, _ = w.Write(page)
	})
}
