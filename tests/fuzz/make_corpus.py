"""Seed corpus for the fuzzer, made from the test data in tests/fixtures (argument 1):
every GitHub event as it is, wrapped in an Argo Events envelope, and inside an AdmissionReview."""
import json
import os
import sys

fixtures, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
events = os.path.join(fixtures, "github-events")
for name in sorted(os.listdir(events)):
    with open(os.path.join(events, name), "rb") as f:
        body = f.read()
    event = json.loads(body)
    stem = name[:-5]
    with open(os.path.join(out, stem + ".event"), "wb") as f:
        f.write(body)
    envelope = {"headers": {"X-Github-Event": [stem.split(".")[0]]}, "body": event}
    with open(os.path.join(out, stem + ".envelope"), "w") as f:
        json.dump(envelope, f)
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": stem, "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Workflow"},
        "operation": "CREATE", "namespace": "argo",
        "object": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "x-"},
                   "spec": {"workflowTemplateRef": {"name": "coderun-template"}, "arguments": {"parameters": [
                       {"name": "github-app", "value": "rex"}, {"name": "event", "value": json.dumps(event)}]}}}}}
    with open(os.path.join(out, stem + ".review"), "w") as f:
        json.dump(review, f)
for name in os.listdir(os.path.join(fixtures, "admission", "kubewarden")):
    with open(os.path.join(fixtures, "admission", "kubewarden", name), "rb") as src, \
         open(os.path.join(out, "kubewarden-" + name), "wb") as dst:
        dst.write(src.read())
