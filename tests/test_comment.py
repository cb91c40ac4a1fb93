"""`provisioner comment` against fake GitHub and GitLab APIs served on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.review.comment_marker import find_marker, plan_has_changes
from tests.forge_fakes import GITHUB_TOKEN, GITLAB_TOKEN, FakeGitHub, FakeGitLab, serving

GOLDEN = Path(__file__).parent / "golden"
PROD = {"org": "ORG@AdobeOrg", "sandbox": "prod", "environment": "prod"}
DEV = {"org": "ORG@AdobeOrg", "sandbox": "dev", "environment": "dev"}


# What earlier versions wrote: the marker last, without a target. Not a plan comment today:
# only a marker that opens a comment makes it one.
LEGACY_NO_CHANGES = (
    "### provisioner plan · `Target: https://platform.adobe.io (org ORG@AdobeOrg, sandbox prod)`"
    "\n\n**No changes. The platform matches the manifests (4 unchanged).**\n\n"
    "<sub>provisioner 0.1.0 · plan format 1</sub>\n<!-- provisioner-plan -->\n"
)
BARE_NO_CHANGES = "<!-- provisioner-plan -->\n" + LEGACY_NO_CHANGES.removesuffix(
    "<!-- provisioner-plan -->\n"
)
LEGACY_CHANGES = LEGACY_NO_CHANGES.replace(
    "No changes. The platform matches the manifests (4 unchanged).",
    "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete; 3 unchanged.",
)


def plan_md(target: dict[str, str], summary: str, changes: int) -> str:
    marker = json.dumps({**target, "changes": changes})
    return f"<!-- provisioner-plan {marker} -->\n### provisioner plan\n\n**{summary}**\n"


@dataclass
class Run:
    code: int
    out: str
    err: str


class Job:
    """A CI job: its environment, a PLAN.md, and the CLI run through its entry point."""

    def __init__(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ):
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        for name in ("GITHUB_ACTIONS", "GITHUB_EVENT_PATH", "GITLAB_CI", "CI_API_V4_URL"):
            monkeypatch.delenv(name, raising=False)

    def github(self, url: str, event: Mapping[str, object], name: str = "pull_request") -> None:
        path = self.tmp_path / "event.json"
        path.write_text(json.dumps(event), encoding="utf-8")
        for key, value in {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": name,
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_REPOSITORY": "octo/repo",
            "GITHUB_API_URL": url,
            "GITHUB_TOKEN": GITHUB_TOKEN,
        }.items():
            self.monkeypatch.setenv(key, value)

    def gitlab(self, url: str, iid: str = "5") -> None:
        for key, value in {
            "GITLAB_CI": "true",
            "CI_API_V4_URL": f"{url}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": iid,
            "GITLAB_TOKEN": GITLAB_TOKEN,
        }.items():
            self.monkeypatch.setenv(key, value)

    def comment(self, text: str) -> Run:
        plan = self.tmp_path / "PLAN.md"
        plan.write_text(text, encoding="utf-8")
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            main(["comment", str(plan)])
        captured = self.capsys.readouterr()
        assert isinstance(stop.value.code, int)
        return Run(stop.value.code, captured.out, captured.err)


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Job:
    return Job(tmp_path, monkeypatch, capsys)


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    fake = FakeGitHub()
    with serving(fake) as url:
        yield fake, url


PULL_12 = {"pull_request": {"number": 12}}


def test_a_push_posts_one_comment_and_the_next_updates_it(
    job: Job, github: tuple[FakeGitHub, str]
) -> None:
    fake, url = github
    job.github(url, PULL_12)
    first = plan_md(PROD, "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete", 1)
    run = job.comment(first)
    assert run.code == 0, run.err
    assert [c["body"] for c in fake.comments[12]] == [first]
    assert "Posted the plan on octo/repo#12" in run.out
    comment_id = fake.comments[12][0]["id"]

    second = plan_md(PROD, "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete", 2)
    run = job.comment(second)
    assert run.code == 0, run.err
    assert [(c["id"], c["body"]) for c in fake.comments[12]] == [(comment_id, second)]
    assert [(w.method, w.path) for w in fake.writes()][-1] == (
        "PATCH",
        f"/repos/octo/repo/issues/comments/{comment_id}",
    )


def test_the_same_text_writes_nothing(job: Job, github: tuple[FakeGitHub, str]) -> None:
    fake, url = github
    job.github(url, PULL_12)
    text = plan_md(PROD, "Plan: 1 to create", 1)
    assert job.comment(text).code == 0
    writes = len(fake.writes())
    run = job.comment(text)
    assert run.code == 0, run.err
    assert len(fake.writes()) == writes == 1
    assert "up to date; nothing written" in run.out


def test_no_changes_and_no_earlier_comment_posts_nothing(
    job: Job, github: tuple[FakeGitHub, str]
) -> None:
    fake, url = github
    job.github(url, PULL_12)
    run = job.comment(plan_md(PROD, "No changes. The platform matches the manifests", 0))
    assert run.code == 0, run.err
    # A bare marker, without counts: "no changes" is read from the summary line.
    run = job.comment(BARE_NO_CHANGES)
    assert run.code == 0, run.err
    assert fake.writes() == []
    # Today's plan without changes says so in its marker.
    run = job.comment((GOLDEN / "nothing.md").read_text(encoding="utf-8"))
    assert run.code == 0, run.err
    assert fake.writes() == []
    assert "nothing posted" in run.out


def test_a_plan_without_changes_updates_the_earlier_comment(
    job: Job, github: tuple[FakeGitHub, str]
) -> None:
    fake, url = github
    job.github(url, PULL_12)
    assert job.comment(plan_md(PROD, "Plan: 1 to create", 1)).code == 0
    nothing = plan_md(PROD, "No changes. The platform matches the manifests", 0)
    assert job.comment(nothing).code == 0
    assert [c["body"] for c in fake.comments[12]] == [nothing]


def test_two_targets_keep_two_comments(job: Job, github: tuple[FakeGitHub, str]) -> None:
    fake, url = github
    job.github(url, PULL_12)
    prod, dev = plan_md(PROD, "Plan: 1 to create", 1), plan_md(DEV, "Plan: 3 to create", 3)
    assert job.comment(prod).code == 0
    assert job.comment(dev).code == 0
    dev_again = plan_md(DEV, "Plan: 4 to create", 4)
    assert job.comment(dev_again).code == 0
    assert [c["body"] for c in fake.comments[12]] == [prod, dev_again]


def test_comments_of_others_are_never_edited(job: Job, github: tuple[FakeGitHub, str]) -> None:
    fake, url = github
    copied = plan_md(PROD, "Plan: 9 to create", 9)
    fake.add(12, copied, login="mallory")
    job.github(url, PULL_12)
    text = plan_md(PROD, "Plan: 1 to create", 1)
    assert job.comment(text).code == 0
    assert [(c["user"]["login"], c["body"]) for c in fake.comments[12]] == [
        ("mallory", copied),
        ("github-actions[bot]", text),
    ]
    assert [w.method for w in fake.writes()] == ["POST"]


def test_with_a_personal_token_only_its_own_comments_are_taken(job: Job) -> None:
    fake = FakeGitHub(viewer="alice")
    fake.add(12, plan_md(PROD, "Plan: 9 to create", 9), login="github-actions[bot]")
    mine = fake.add(12, plan_md(PROD, "Plan: 8 to create", 8), login="alice")
    with serving(fake) as url:
        job.github(url, PULL_12)
        assert job.comment(plan_md(PROD, "Plan: 1 to create", 1)).code == 0
    assert [(w.method, w.path) for w in fake.writes()] == [
        ("PATCH", f"/repos/octo/repo/issues/comments/{mine['id']}")
    ]


def test_the_earlier_comment_is_found_past_the_first_pages(
    job: Job, github: tuple[FakeGitHub, str]
) -> None:
    fake, url = github
    for index in range(5):
        fake.add(12, f"looks good {index}", login="reviewer")
    ours = fake.add(12, plan_md(PROD, "Plan: 1 to create", 1))
    job.github(url, PULL_12)
    assert job.comment(plan_md(PROD, "Plan: 2 to create", 2)).code == 0
    assert [(w.method, w.path) for w in fake.writes()] == [
        ("PATCH", f"/repos/octo/repo/issues/comments/{ours['id']}")
    ]
    pages = [s.query.get("page", ["1"])[0] for s in fake.seen if s.path.endswith("/comments")]
    assert pages == ["1", "2", "3"]


def test_a_comment_with_the_marker_at_its_end_is_never_taken_over(
    job: Job, github: tuple[FakeGitHub, str]
) -> None:
    """Earlier versions put a bare marker last; a marker that does not open a comment may
    as well be a quotation, so such a comment is left as it is."""
    fake, url = github
    legacy = fake.add(12, LEGACY_CHANGES)
    job.github(url, PULL_12)
    text = plan_md(PROD, "Plan: 1 to create", 1)
    assert job.comment(text).code == 0
    assert [(c["id"], c["body"]) for c in fake.comments[12]] == [
        (legacy["id"], LEGACY_CHANGES),
        (legacy["id"] + 1, text),
    ]
    assert [w.method for w in fake.writes()] == ["POST"]


QUOTED_PLAN = plan_md(PROD, "Plan: 9 to create", 9)
QUOTING = f"Deploy preview for this pull request. The last plan was:\n\n{QUOTED_PLAN}"


def test_only_our_own_comment_that_opens_with_the_marker_is_updated(
    job: Job, github: tuple[FakeGitHub, str]
) -> None:
    """Every workflow of a repository posts as the same bot: the marker must open the
    comment, and the comment's author must be the token's identity (here the GITHUB_TOKEN,
    named by GraphQL's `viewer` as GET /user refuses it)."""
    fake, url = github
    quoting = fake.add(12, QUOTING)  # the same bot, quoting a plan mid-body
    indented = fake.add(12, "> " + plan_md(PROD, "Plan: 7 to create", 7))  # a quote block
    others = fake.add(12, plan_md(PROD, "Plan: 8 to create", 8), login="mallory")
    ours = fake.add(12, "\n  " + plan_md(PROD, "Plan: 1 to create", 1))
    job.github(url, PULL_12)
    text = plan_md(PROD, "Plan: 2 to create", 2)
    run = job.comment(text)
    assert run.code == 0, run.err
    assert "Updated the plan comment on octo/repo#12" in run.out
    assert [(w.method, w.path) for w in fake.writes()] == [
        ("PATCH", f"/repos/octo/repo/issues/comments/{ours['id']}")
    ]
    assert [c["body"] for c in fake.comments[12]] == [
        QUOTING,
        indented["body"],
        others["body"],
        text,
    ]
    assert quoting["body"] == QUOTING
    assert ("POST", "/graphql") in [(s.method, s.path) for s in fake.seen]


def test_when_the_tokens_identity_cannot_be_read_nothing_is_edited(job: Job) -> None:
    fake = FakeGitHub(app=None)  # GET /user and GraphQL's viewer both refuse
    earlier = fake.add(12, plan_md(PROD, "Plan: 1 to create", 1), login="some-app[bot]")
    with serving(fake) as url:
        job.github(url, PULL_12)
        text = plan_md(PROD, "Plan: 2 to create", 2)
        run = job.comment(text)
        assert run.code == 0, run.err
        assert "Posted the plan on octo/repo#12" in run.out
        assert "no earlier comment was taken as this tool's" in run.out
        nothing = job.comment(plan_md(PROD, "No changes. The platform matches", 0))
        assert nothing.code == 0, nothing.err
        assert "nothing posted" in nothing.out
    assert [c["body"] for c in fake.comments[12]] == [earlier["body"], text]
    assert [w.method for w in fake.writes()] == ["POST"]


def test_a_plan_file_whose_marker_does_not_open_it_is_refused(
    job: Job, github: tuple[FakeGitHub, str]
) -> None:
    fake, url = github
    job.github(url, PULL_12)
    run = job.comment(LEGACY_CHANGES)
    assert run.code == 1
    assert "does not open with a <!-- provisioner-plan" in run.err
    assert fake.seen == []


def test_an_issue_comment_event_on_a_pull_request(job: Job, github: tuple[FakeGitHub, str]) -> None:
    fake, url = github
    event = {"issue": {"number": 7, "pull_request": {"url": "…"}}}
    job.github(url, event, name="issue_comment")
    assert job.comment(plan_md(PROD, "Plan: 1 to create", 1)).code == 0
    assert len(fake.comments[7]) == 1


def test_a_fork_pull_request_gets_a_clear_error(job: Job) -> None:
    fake = FakeGitHub(read_only=True)
    with serving(fake) as url:
        job.github(url, PULL_12)
        run = job.comment(plan_md(PROD, "Plan: 1 to create", 1))
    assert run.code == 1
    assert "HTTP 403" in run.err and "fork" in run.err and "read-only" in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert GITHUB_TOKEN not in run.err + run.out
    assert fake.comments == {}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"GITHUB_EVENT_NAME": "push", "event": {"ref": "refs/heads/main"}},
            "not running for a pull request (push)",
        ),
        ({"GITHUB_TOKEN": ""}, "GITHUB_TOKEN is not set"),
        ({"GITHUB_REPOSITORY": "octo/other"}, "HTTP 404"),
        ({"GITHUB_TOKEN": "ghs_wrong_token_value"}, "HTTP 401"),
    ],
)
def test_job_problems_are_one_line_errors(
    job: Job, github: tuple[FakeGitHub, str], change: dict[str, object], expected: str
) -> None:
    fake, url = github
    event = change.pop("event", PULL_12)
    assert isinstance(event, dict)
    job.github(url, event)
    for key, value in change.items():
        job.monkeypatch.setenv(key, str(value))
    run = job.comment(plan_md(PROD, "Plan: 1 to create", 1))
    assert run.code == 1
    assert run.err.startswith("error: ") and expected in run.err, run.err
    assert len(run.err.strip().splitlines()) == 1
    assert "ghs_" not in run.err
    assert fake.writes() == []


def test_an_unreachable_api_is_a_clear_error(job: Job) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job.github(f"http://127.0.0.1:{port}", PULL_12)
    run = job.comment(plan_md(PROD, "Plan: 1 to create", 1))
    assert run.code == 1
    assert f"cannot reach http://127.0.0.1:{port}" in run.err


def test_a_file_without_a_marker_is_refused(job: Job, github: tuple[FakeGitHub, str]) -> None:
    fake, url = github
    job.github(url, PULL_12)
    run = job.comment("# my notes\n")
    assert run.code == 1 and "--format markdown" in run.err
    assert fake.seen == []


def test_gitlab_notes_are_created_updated_and_left_alone(job: Job) -> None:
    fake = FakeGitLab(viewer_id=77)
    fake.add(5, "added 1 commit", author_id=1, system=True)
    fake.add(5, plan_md(PROD, "Plan: 9 to create", 9), author_id=3)  # someone else's
    fake.add(5, "please rebase", author_id=3)
    fake.add(5, QUOTING, author_id=77)  # the same bot user, quoting a plan
    with serving(fake) as url:
        job.gitlab(url)
        first = plan_md(PROD, "Plan: 1 to create", 1)
        assert job.comment(first).code == 0
        second = plan_md(PROD, "Plan: 2 to create", 2)
        assert job.comment(second).code == 0
        run = job.comment(second)
        assert run.code == 0 and "nothing written" in run.out
    ours = [n for n in fake.notes[5] if n["author"]["id"] == 77]
    assert [n["body"] for n in ours] == [QUOTING, second]
    assert [w.method for w in fake.writes()] == ["POST", "PUT"]
    assert any(s.query.get("page") == ["2"] for s in fake.seen)  # followed x-next-page


def test_gitlab_without_a_merge_request_or_token(job: Job) -> None:
    fake = FakeGitLab()
    with serving(fake) as url:
        job.gitlab(url, iid="")
        run = job.comment(plan_md(PROD, "Plan: 1 to create", 1))
        assert run.code == 1 and "not running for a merge request" in run.err
        job.gitlab(url)
        job.monkeypatch.delenv("GITLAB_TOKEN")
        job.monkeypatch.setenv("CI_JOB_TOKEN", "job-token-value")
        run = job.comment(plan_md(PROD, "Plan: 1 to create", 1))
        assert run.code == 1 and "CI_JOB_TOKEN cannot post notes" in run.err
    assert fake.seen == []


def test_gitlab_read_only_token(job: Job) -> None:
    fake = FakeGitLab(read_only=True)
    with serving(fake) as url:
        job.gitlab(url)
        run = job.comment(plan_md(PROD, "Plan: 1 to create", 1))
    assert run.code == 1 and "HTTP 403" in run.err and "api` scope" in run.err
    assert GITLAB_TOKEN not in run.err


def test_markers() -> None:
    bare = find_marker("<!-- provisioner-plan -->\ntext\n")
    assert bare is not None and bare.target == () and bare.changes is None
    assert find_marker(" \n\t<!-- provisioner-plan -->") == bare
    assert find_marker("text\n<!-- provisioner-plan -->\n") is None  # a quotation
    assert find_marker("> " + plan_md(PROD, "x", 2)) is None
    prod = find_marker(plan_md(PROD, "x", 2))
    assert prod is not None and prod.changes == 2
    reordered = find_marker(
        '<!-- provisioner-plan {"sandbox": "prod", "environment": "prod", '
        '"org": "ORG@AdobeOrg", "changes": 0} -->'
    )
    assert reordered is not None and reordered.same_target(prod)
    dev = find_marker(plan_md(DEV, "x", 1))
    assert dev is not None and not dev.same_target(prod)
    counts = find_marker('<!-- provisioner-plan {"sandbox": "a", "create": 0, "delete": 0} -->')
    assert counts is not None and counts.changes == 0
    assert find_marker("<!-- provisioner-plan {not json} -->") is None
    assert find_marker("<!-- provisioner-planner -->") is None
    assert plan_has_changes("**Plan: 1 to create**", bare)
    assert not plan_has_changes("**No changes. The platform matches**", bare)
