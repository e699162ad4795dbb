"""Differential test: the seed's jq rules, run by the real jq, against `coderun-webhook resolve`
on every GitHub fixture. Where the webhook deliberately differs, the difference is listed below
with its reason and asserted exactly; every other field must be equal."""
import json
import os
import subprocess
import unittest

from harness import BIN, EVENTS_DIR
from seed_jq import seed_values

HEADS = "refs/heads/x and refs/tags/x are normalised to x (a name git checkout and clone --branch accept)"
DELETED = "the event deletes the ref: it no longer exists, so the repository's default branch is used"
ZERO_SHA = "an all-zero .after means 'deleted', not a commit"
FORK = "the head branch lives in the fork, not in the base repository: refs/pull/N/head does"
COMMENT_ON_PR = "a comment on a pull request: .issue.pull_request marks it, the PR is .issue.number, its head refs/pull/N/head"
DEFAULT_BRANCH = "no ref in the event: the repository's default branch, not a hard-coded main that may not exist"
CHECKS = "check_run/check_suite carry their branch, commit and pull requests under .check_run/.check_suite"
MERGE_GROUP = "merge_group carries the queue branch and commit under .merge_group"
RELEASE = "a release names its tag"
WORKFLOW_RUN_PR = "workflow_run lists its pull requests in .workflow_run.pull_requests"
DERIVED_FULL_NAME = "no .repository.full_name in the payload: owner/repo"

DELIBERATE = {
    ("check_run.completed", "ref"): ("changes", CHECKS),
    ("check_run.completed", "prNumber"): ("2", CHECKS),
    ("check_run.completed", "sha"): ("ec26c3e57ca3a959ca5aad62de7213c562f8c821", CHECKS),
    ("check_run.created", "ref"): ("changes", CHECKS),
    ("check_run.created", "prNumber"): ("2", CHECKS),
    ("check_run.created", "sha"): ("ec26c3e57ca3a959ca5aad62de7213c562f8c821", CHECKS),
    ("check_run.requested_action", "ref"): ("miniak/event-process-id", CHECKS),
    ("check_run.requested_action", "prNumber"): ("26764", CHECKS),
    ("check_run.requested_action", "sha"): ("5bd5f196a46b8222fb7484f05faba41a73cf34bd", CHECKS),
    ("check_run.rerequested", "ref"): ("master", CHECKS),
    ("check_run.rerequested", "sha"): ("d6fde92930d4715a2b49857d24b940956b26d2d3", CHECKS),
    ("check_suite.completed", "ref"): ("changes", CHECKS),
    ("check_suite.completed", "prNumber"): ("2", CHECKS),
    ("check_suite.completed", "sha"): ("ec26c3e57ca3a959ca5aad62de7213c562f8c821", CHECKS),
    ("check_suite.requested", "ref"): ("master", CHECKS),
    ("check_suite.requested", "sha"): ("f95f852bd8fca8fcc58a9a2d6c842781e32a215e", CHECKS),
    ("check_suite.rerequested", "ref"): ("changes", CHECKS),
    ("check_suite.rerequested", "prNumber"): ("2", CHECKS),
    ("check_suite.rerequested", "sha"): ("ec26c3e57ca3a959ca5aad62de7213c562f8c821", CHECKS),
    ("delete.branch", "ref"): ("master", DELETED),
    ("delete.tag", "ref"): ("master", DELETED),
    ("issue_comment.created", "ref"): ("master", DEFAULT_BRANCH),
    ("issue_comment.created.with-installation", "ref"): ("master", DEFAULT_BRANCH),
    ("issue_comment.created.on-pull-request", "ref"): ("refs/pull/3/head", COMMENT_ON_PR),
    ("issue_comment.created.on-pull-request", "prNumber"): ("3", COMMENT_ON_PR),
    ("issue_comment.created.on-pull-request.go-scm", "ref"): ("refs/pull/2/head", COMMENT_ON_PR),
    ("issue_comment.created.on-pull-request.go-scm", "prNumber"): ("2", COMMENT_ON_PR),
    ("issues.labeled", "ref"): ("master", DEFAULT_BRANCH),
    ("issues.opened", "ref"): ("master", DEFAULT_BRANCH),
    ("merge_group.checks_requested", "ref"): ("gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64", MERGE_GROUP),
    ("merge_group.checks_requested", "sha"): ("2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d", MERGE_GROUP),
    ("merge_group.checks_requested.go-scm", "ref"): ("gh-readonly-queue/master/pr-2-f95f852bd8fca8fcc58a9a2d6c842781e32a215e", MERGE_GROUP),
    ("merge_group.checks_requested.go-scm", "sha"): ("aeafa0e2e4ec6909ad75cb8fad57c0b1eb5986e6", MERGE_GROUP),
    ("merge_group.checks_requested.go-scm", "repoFullName"): ("octocat/Hello-World", DERIVED_FULL_NAME),
    ("ping", "ref"): ("master", DEFAULT_BRANCH),
    ("ping.with-app_id", "ref"): ("master", DEFAULT_BRANCH),
    ("pull_request.opened.from-fork", "ref"): ("refs/pull/217/head", FORK),
    ("push.branch-created", "ref"): ("feature-branch", HEADS),
    ("push.branch-deleted", "ref"): ("master", DELETED),
    ("push.branch-deleted", "sha"): (None, ZERO_SHA),
    ("push.branch.go-scm", "ref"): ("master", HEADS),
    ("push.branch", "ref"): ("master", HEADS),
    ("push.new-branch", "ref"): ("master", HEADS),
    ("push.tag-created", "ref"): ("v0.0.1", HEADS),
    ("push.tag-deleted", "ref"): ("master", DELETED),
    ("push.tag-deleted", "sha"): (None, ZERO_SHA),
    ("push.tag-deleted.go-scm", "ref"): ("master", DELETED),
    ("push.tag-deleted.go-scm", "sha"): (None, ZERO_SHA),
    ("release.published", "ref"): ("0.0.1", RELEASE),
    ("release.published.go-scm", "ref"): ("v1.0.0", RELEASE),
    ("workflow_run.completed.with-pull-requests", "prNumber"): ("2", WORKFLOW_RUN_PR),
}


def webhook_values(path):
    out = subprocess.run([BIN, "resolve", "-f", path], capture_output=True, text=True, check=True).stdout
    resolved = json.loads(out)
    return {field: (resolved[field] or {}).get("value") for field in
            ("owner", "repo", "repoFullName", "ref", "prNumber", "issueNumber", "sha")}


class SeedJqDifferential(unittest.TestCase):
    def test_every_field_of_every_fixture(self):
        fixtures = sorted(f[:-5] for f in os.listdir(EVENTS_DIR) if f.endswith(".json"))
        self.assertGreaterEqual(len(fixtures), 40)
        seen = set()
        for fixture in fixtures:
            path = os.path.join(EVENTS_DIR, fixture + ".json")
            seed, ours = seed_values(path), webhook_values(path)
            for field in seed:
                with self.subTest(fixture=fixture, field=field):
                    key = (fixture, field)
                    if key in DELIBERATE:
                        seen.add(key)
                        expected, reason = DELIBERATE[key]
                        self.assertNotEqual(seed[field], expected, "listed as a difference but jq agrees: " + reason)
                        self.assertEqual(ours[field], expected, reason)
                    else:
                        self.assertEqual(ours[field], seed[field], "differs from the seed's jq without a listed reason")
        self.assertEqual(set(DELIBERATE) - seen, set(), "listed differences for fixtures that do not exist")


if __name__ == "__main__":
    unittest.main()
