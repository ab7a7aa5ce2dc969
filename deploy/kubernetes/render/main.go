// Command render renders the canvas-sis Helm chart the way `helm template` does, for machines
// without a helm binary: Go's text/template with the Sprig function library (the two engines Helm
// itself uses) plus Helm's own functions that the chart calls (include, required, toYaml, tpl),
// values merged like Helm's (maps key by key, everything else replaced), missing keys as empty.
//
//	go run ./deploy/kubernetes/render CHART_DIR RELEASE NAMESPACE VALUES_FILE...
//
// It prints one YAML document per rendered object, each after "# Source: <chart>/templates/<file>",
// in Helm's install order of kinds (custom resources last). Helm's hooks, CRD handling, lookup,
// .Capabilities and .Files are not implemented: the chart uses none of them. The result is
// compared with deploy/kubernetes/*.yaml by check_rendered.py (scripts/static_checks.sh builds
// it from Debian's golang-go and golang-github-masterminds-sprig-dev, GOPATH mode).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: render CHART_DIR RELEASE NAMESPACE VALUES_FILE...")
		os.Exit(2)
	}
	out, err := render(os.Args[1], os.Args[2], os.Args[3], os.Args[4:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}

// render loads the chart, merges the values files over values.yaml and executes every template
// whose name does not start with "_".
func render(chartDir, release, namespace string, valueFiles []string) (string, error) {
	chart, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range valueFiles {
		over, err := readYAML(f)
		if err != nil {
			return "", err
		}
		values = merge(values, over)
	}
	name := fmt.Sprint(chart["name"])
	data := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
		},
	}
	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	root := template.New("chart").Option("missingkey=zero")
	root.Funcs(funcs(root))
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		tname := name + "/templates/" + filepath.Base(f)
		if _, err := root.New(tname).Parse(string(text)); err != nil {
			return "", err
		}
	}
	var docs []manifest
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") || !strings.HasSuffix(base, ".yaml") {
			continue
		}
		tname := name + "/templates/" + base
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, data); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		for _, doc := range strings.Split(text, "\n---") {
			if !hasContent(doc) {
				continue
			}
			var head struct{ Kind string }
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return "", fmt.Errorf("%s renders invalid YAML: %w", tname, err)
			}
			docs = append(docs, manifest{source: tname, kind: head.Kind, text: strings.TrimSpace(doc)})
		}
	}
	sort.SliceStable(docs, func(i, j int) bool { return rank(docs[i].kind) < rank(docs[j].kind) })
	var out strings.Builder
	for _, m := range docs {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", m.source, m.text)
	}
	return out.String(), nil
}

// manifest is one rendered object: its template, its kind and its YAML.
type manifest struct{ source, kind, text string }

// installOrder is the kind order helm prints and installs objects in (the part of Helm's
// releaseutil.InstallOrder this chart can produce); other kinds (custom resources) come last.
var installOrder = []string{
	"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget", "ServiceAccount",
	"Secret", "ConfigMap", "PersistentVolumeClaim", "Role", "RoleBinding", "Service", "Pod", "Deployment", "StatefulSet", "Job", "CronJob",
}

func rank(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}

// hasContent is false for a document of blank and comment lines only.
func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return true
		}
	}
	return false
}

// funcs is Sprig's text function map plus Helm's include, required, toYaml and tpl.
func funcs(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	f["toYaml"] = toYaml
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		if _, err := t.New("tpl").Parse(text); err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.ExecuteTemplate(&buf, "tpl", data)
		return buf.String(), err
	}
	return f
}

// toYaml is Helm's: through JSON (so keys come out sorted, as sigs.k8s.io/yaml does), without
// the final newline.
func toYaml(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic interface{}
	if err := yaml.Unmarshal(j, &generic); err != nil {
		return ""
	}
	y, err := yaml.Marshal(generic)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(y), "\n")
}

func readYAML(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v interface{}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, _ := normalize(v).(map[string]interface{})
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// normalize turns yaml.v2's map[interface{}]interface{} into map[string]interface{}, as Helm's
// JSON-based loading does, so templates and JSON encoding see string keys.
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			m[fmt.Sprint(k)] = normalize(val)
		}
		return m
	case []interface{}:
		for i := range t {
			t[i] = normalize(t[i])
		}
		return t
	default:
		return v
	}
}

// merge is Helm's coalescing of a values file over the defaults: maps merge key by key, any
// other value replaces the default.
func merge(base, over map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = merge(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}
