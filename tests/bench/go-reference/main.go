// A reference webhook written the way a typical Go admission webhook is: net/http + crypto/tls,
// encoding/json into maps, the seed's jq extraction, a JSONPatch of the Workflow's arguments.
// It exists only so that `make bench` can measure coderun-webhook against it in the same run.
//   go build -o go-reference . && ./go-reference -cert tls.crt -key tls.key -port-file port
package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
)

type review struct {
	APIVersion string                 `json:"apiVersion"`
	Kind       string                 `json:"kind"`
	Request    map[string]interface{} `json:"request"`
}

func str(m map[string]interface{}, path ...string) string {
	var cur interface{} = m
	for _, key := range path {
		obj, ok := cur.(map[string]interface{})
		if !ok {
			return ""
		}
		cur = obj[key]
	}
	switch v := cur.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatInt(int64(v), 10)
	}
	return ""
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func mutate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in review
	if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
		http.Error(w, "invalid AdmissionReview", http.StatusBadRequest)
		return
	}
	uid, _ := in.Request["uid"].(string)
	object, _ := in.Request["object"].(map[string]interface{})
	params, _ := func() ([]interface{}, bool) {
		spec, _ := object["spec"].(map[string]interface{})
		args, _ := spec["arguments"].(map[string]interface{})
		p, ok := args["parameters"].([]interface{})
		return p, ok
	}()
	var eventText string
	for _, p := range params {
		if m, ok := p.(map[string]interface{}); ok && m["name"] == "event" {
			eventText, _ = m["value"].(string)
		}
	}
	event := map[string]interface{}{}
	_ = json.Unmarshal([]byte(eventText), &event)
	values := [][2]string{
		{"owner", first(str(event, "repository", "owner", "login"), str(event, "organization", "login"))},
		{"repo", str(event, "repository", "name")},
		{"repoFullName", str(event, "repository", "full_name")},
		{"ref", first(str(event, "pull_request", "head", "ref"), str(event, "ref"), str(event, "workflow_run", "head_branch"), "main")},
		{"sha", first(str(event, "pull_request", "head", "sha"), str(event, "after"), str(event, "workflow_run", "head_sha"))},
		{"prNumber", str(event, "pull_request", "number")},
		{"issueNumber", str(event, "issue", "number")},
		{"systemPromptPath", "/etc/agents/default_system-prompt.md"},
	}
	var patch []map[string]interface{}
	for _, v := range values {
		if v[1] != "" {
			patch = append(patch, map[string]interface{}{"op": "add", "path": "/spec/arguments/parameters/-",
				"value": map[string]string{"name": v[0], "value": v[1]}})
		}
	}
	patchBytes, _ := json.Marshal(patch)
	out := map[string]interface{}{
		"apiVersion": in.APIVersion, "kind": "AdmissionReview",
		"response": map[string]interface{}{"uid": uid, "allowed": true, "patchType": "JSONPatch",
			"patch": base64.StdEncoding.EncodeToString(patchBytes)},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func main() {
	cert := flag.String("cert", "", "")
	key := flag.String("key", "", "")
	portFile := flag.String("port-file", "", "")
	flag.Parse()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	_ = os.WriteFile(*portFile, []byte(fmt.Sprintf("%d\n", listener.Addr().(*net.TCPAddr).Port)), 0o644)
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate", mutate)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	server := &http.Server{Handler: mux, TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	panic(server.ServeTLS(listener, *cert, *key))
}
