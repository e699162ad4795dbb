"""The seed's jq rules (../shared/seed/coderun-templates-design.md), word for word, run by jq."""
import subprocess

SEED_JQ = {
    "owner": '.repository.owner.login // .organization.login // empty',
    "repo": '.repository.name // empty',
    "repoFullName": '.repository.full_name // empty',
    "ref": '.pull_request.head.ref // .ref // .workflow_run.head_branch // empty',
    "prNumber": '.pull_request.number // empty',
    "issueNumber": '.issue.number // empty',
    "sha": '.pull_request.head.sha // .after // .workflow_run.head_sha // empty',
}


def seed_values(path):
    values = {}
    for field, expression in SEED_JQ.items():
        out = subprocess.run(["jq", "-r", expression, path], capture_output=True, text=True, check=True).stdout.strip()
        values[field] = out or None
    # [ -z "$REF" ] && REF=main   (no git workspace at admission time)
    if values["ref"] is None:
        values["ref"] = "main"
    return values
