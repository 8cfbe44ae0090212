"""`update` and `outdated` (and the `lock` options they lean on) against the real registry, as
a demanding user tries them: every NAME form, no NAME, changes classified per platform,
`--upgrade`, `--lockfile` elsewhere, `--build-arg`, an unreachable registry, progress on a
terminal. Upstream moves are made as a maintainer makes them: by pushing to the tag."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imagelock.lockfile import Lock, LockEntry, dumps, read_lock
from tests.conftest import CliRunner, assert_one_line_error, write_files
from tests.support.images import ImageFactory, PushedImage, RegistryHTTP
from tests.support.registry import RegistryProcess, free_port


def name_of(image: PushedImage) -> str:
    return image.reference.rsplit(":", 1)[0]


def locked(folder: Path, name: str, tag: str) -> LockEntry:
    lock = read_lock(folder / "images.lock")
    assert lock is not None
    entry = lock.get(name, tag)
    assert entry is not None, (name, tag, [e.key for e in lock.entries])
    return entry


def manifests_requested(registry: RegistryProcess, since: int) -> list[str]:
    return [r for r in registry.access_log()[since:] if "/manifests/" in r]


def edit_index(http: RegistryHTTP, image: PushedImage, drop: str = "", add: str = "") -> None:
    """Re-push image's tag with one platform dropped and/or one added (as a copy of amd64)."""
    repo = image.reference.split("/", 1)[1].rsplit(":", 1)[0]
    tag = image.reference.rsplit(":", 1)[1]
    _, index = http.manifest(repo, tag)
    kept: list[dict[str, Any]] = []
    for descriptor in index["manifests"]:
        p = descriptor.get("platform", {})
        key = "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)
        if key != drop:
            kept.append(descriptor)
        if add and key == "linux/amd64":
            os_name, arch = add.split("/")
            kept.append({**descriptor, "platform": {"os": os_name, "architecture": arch}})
    index["manifests"] = kept
    http.put_manifest(repo, tag, index)


# --- NAME forms --------------------------------------------------------------------------------


@pytest.fixture
def rubies(images: ImageFactory, repo: str, tmp_path: Path) -> dict[str, PushedImage]:
    """`ruby:3.3` and `ruby:3.4` in one repository, `ruby:3.3` in a second one (team/ruby)."""
    main = images.push_base(f"{repo}/ruby", "3.3")
    other_tag = images.respell(f"{repo}/ruby", "3.3", "3.4", {})
    team = images.push_base(f"{repo}/team/ruby", "3.3")
    write_files(
        tmp_path,
        {
            "Dockerfile": f"FROM {main.reference}\nFROM {other_tag.reference}\n",
            "team/Dockerfile": f"FROM {team.reference}\n",
        },
    )
    return {"3.3": main, "3.4": other_tag, "team": team}


def updated_entries(stdout: str) -> list[str]:
    """The entries `update` reported unchanged, as NAME:TAG."""
    return sorted(line.split()[0] for line in stdout.splitlines() if "  unchanged (" in line)


def test_update_name_forms_select_the_documented_entries_with_head_requests_only(
    cli: CliRunner, rubies: dict[str, PushedImage], registry: RegistryProcess, repo: str
) -> None:
    assert cli("lock").returncode == 0
    host_repo = name_of(rubies["3.3"])
    team = rubies["team"].reference
    cases = {
        ("ruby",): [rubies["3.3"].reference, rubies["3.4"].reference, team],
        ("ruby:3.4",): [rubies["3.4"].reference],
        ("ruby:3.3",): [rubies["3.3"].reference, team],
        (host_repo,): [rubies["3.3"].reference, rubies["3.4"].reference],
        (f"{host_repo}:3.3",): [rubies["3.3"].reference],
        (name_of(rubies["team"]),): [team],
        (f"{host_repo}:3.4", name_of(rubies["team"])): [rubies["3.4"].reference, team],
        (): [rubies["3.3"].reference, rubies["3.4"].reference, team],
    }
    before = len(registry.access_log())
    for names, expected in cases.items():
        proc = cli("update", *names)
        assert proc.returncode == 0, (names, proc.stderr)
        assert updated_entries(proc.stdout) == sorted(expected), (names, proc.stdout)
        assert "nothing changed" in proc.stdout
    requests = manifests_requested(registry, before)
    assert requests and all(r.startswith("HEAD ") for r in requests), requests

    # A path without a registry means Docker Hub's repository: no match, with a hint.
    proc = cli("update", f"{repo}/team/ruby")
    assert_one_line_error(
        proc, 2, f"'{repo}/team/ruby' matches no entry", f"did you mean {name_of(rubies['team'])}?"
    )


def test_docker_hub_name_forms_through_a_mirror_and_the_seeds_arm64_only_fix(
    cli: CliRunner, images: ImageFactory, registry: RegistryProcess, repo: str, tmp_path: Path
) -> None:
    """`ruby`, `library/ruby`, `docker.io/library/ruby` and `ruby:TAG` select an official
    image; the registry stands in for Docker Hub as a mirror and the lock keeps docker.io."""
    official = repo.replace("/", "-")
    images.push_base(f"library/{official}", "3.3.0-slim")
    images.push_base(f"library/{official}", "3.2")
    (tmp_path / "Dockerfile").write_text(
        f"FROM {official}:3.3.0-slim\nFROM docker.io/library/{official}:3.2\n"
    )
    env = {"IMAGELOCK_MIRRORS": f"docker.io={registry.url}"}
    assert cli("lock", env=env).returncode == 0
    canonical = f"docker.io/library/{official}"
    old = locked(tmp_path, canonical, "3.3.0-slim")
    for names, tags in {
        (official,): {"3.2", "3.3.0-slim"},
        (f"library/{official}",): {"3.2", "3.3.0-slim"},
        (canonical,): {"3.2", "3.3.0-slim"},
        (f"index.docker.io/library/{official}",): {"3.2", "3.3.0-slim"},
        (f"{official}:3.2",): {"3.2"},
        (f"library/{official}:3.3.0-slim",): {"3.3.0-slim"},
    }.items():
        proc = cli("update", *names, env=env)
        assert proc.returncode == 0, (names, proc.stderr)
        assert {line.split()[0].rsplit(":", 1)[1] for line in proc.stdout.splitlines()[:-1]} == (
            tags
        ), (names, proc.stdout)

    moved = images.repush_platform(f"library/{official}", "3.3.0-slim", "linux/arm64")
    proc = cli("update", f"docker.io/library/{official}:3.3.0-slim", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{canonical}:3.3.0-slim  sha256:{old.digest[7:19]} -> ")
    assert [line.split()[:2] for line in lines[1:-1]] == [["linux/arm64", "changed"]]
    assert lines[-1] == "images.lock: 1 of 1 checked tag(s) updated"
    new = locked(tmp_path, canonical, "3.3.0-slim")
    assert new.digest == moved.digest
    assert new.platforms["linux/amd64"] == old.platforms["linux/amd64"]
    assert (
        new.platforms["linux/arm64"]
        == moved.platforms["linux/arm64"]
        != old.platforms["linux/arm64"]
    )


# --- classification, outdated, update without NAME ---------------------------------------------


def test_outdated_then_update_classify_changed_added_and_removed_platforms(
    cli: CliRunner,
    images: ImageFactory,
    registry_http: RegistryHTTP,
    repo: str,
    tmp_path: Path,
) -> None:
    fixed = images.push_base(f"{repo}/fixed", "1")
    grown = images.push_base(f"{repo}/grown", "1")
    calm = images.push_base(f"{repo}/calm", "1")
    (tmp_path / "Dockerfile").write_text(
        "".join(f"FROM {i.reference}\n" for i in (fixed, grown, calm))
    )
    assert cli("lock").returncode == 0
    proc = cli("outdated")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    images.repush_platform(f"{repo}/fixed", "1", "linux/arm64")
    edit_index(registry_http, grown, drop="linux/arm64", add="linux/386")

    proc = cli("outdated", "--format", "json")
    assert proc.returncode == 1
    assert_one_line_error(proc, 1, "2 of 3 locked tag(s) outdated")
    rows = {row["name"].rsplit("/", 1)[1]: row for row in json.loads(proc.stdout)}
    for row in rows.values():
        assert set(row) == {
            "name",
            "tag",
            "locked_digest",
            "current_digest",
            "platforms_changed",
            "status",
            "outdated",
        }
        for change in row["platforms_changed"]:
            assert set(change) == {"platform", "change", "locked_digest", "current_digest"}
    assert rows["calm"]["status"] == "up-to-date" and rows["calm"]["outdated"] is False
    assert rows["calm"]["locked_digest"] == rows["calm"]["current_digest"] == calm.digest
    assert rows["calm"]["platforms_changed"] == []
    assert rows["fixed"]["outdated"] is True
    assert [(c["platform"], c["change"]) for c in rows["fixed"]["platforms_changed"]] == [
        ("linux/arm64", "changed")
    ]
    grown_changes = rows["grown"]["platforms_changed"]
    assert [(c["platform"], c["change"]) for c in grown_changes] == [
        ("linux/386", "added"),
        ("linux/arm64", "removed"),
    ]
    assert grown_changes[0]["locked_digest"] is None
    assert grown_changes[0]["current_digest"] == grown.platforms["linux/amd64"]
    assert grown_changes[1]["locked_digest"] == grown.platforms["linux/arm64"]
    assert grown_changes[1]["current_digest"] is None

    table = cli("outdated").stdout.splitlines()
    assert table[0].split() == ["IMAGE", "LOCKED", "CURRENT", "STATUS", "PLATFORMS"]
    by_image = {line.split()[0].rsplit("/", 1)[1]: line for line in table[1:]}
    assert "outdated" in by_image["fixed:1"] and "linux/arm64 changed" in by_image["fixed:1"]
    assert "linux/386 added, linux/arm64 removed" in by_image["grown:1"]
    assert "up-to-date" in by_image["calm:1"]

    # Only amd64 counts: `fixed` moved for arm64 alone, `grown` only gained and lost others.
    proc = cli("outdated", "--platform", "linux/amd64", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert {r["name"].rsplit("/", 1)[1]: r["status"] for r in json.loads(proc.stdout)} == {
        "calm": "up-to-date",
        "fixed": "moved",
        "grown": "moved",
    }
    # The same from the configured default platforms.
    (tmp_path / "imagelock.toml").write_text('platforms = ["linux/amd64"]\n')
    assert cli("outdated").returncode == 0
    (tmp_path / "imagelock.toml").write_text('platforms = ["linux/arm64"]\n')
    assert cli("outdated").returncode == 1

    # An update that would drop a required platform is refused, and nothing is written.
    before = (tmp_path / "images.lock").read_bytes()
    assert_one_line_error(cli("update"), 2, f"{name_of(grown)}:1 no longer has a linux/arm64 image")
    assert (tmp_path / "images.lock").read_bytes() == before
    (tmp_path / "imagelock.toml").unlink()

    proc = cli("update")  # no NAME: every entry
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"{calm.reference}  unchanged (sha256:{calm.digest[7:19]})" in out
    fixed_part = out[out.index(fixed.reference) :].splitlines()
    assert fixed_part[0].startswith(f"{fixed.reference}  sha256:{fixed.digest[7:19]} -> ")
    assert fixed_part[1].split()[:2] == ["linux/arm64", "changed"]
    grown_part = out[out.index(grown.reference) :].splitlines()
    assert [line.split()[:2] for line in grown_part[1:3]] == [
        ["linux/386", "added"],
        ["linux/arm64", "removed"],
    ]
    assert out.splitlines()[-1] == "images.lock: 2 of 3 checked tag(s) updated"
    assert set(locked(tmp_path, name_of(grown), "1").platforms) == {"linux/386", "linux/amd64"}
    assert cli("outdated").returncode == 0
    assert cli("lock", "--check").returncode == 0  # update keeps sources and entries in step


# --- lock options --------------------------------------------------------------------------


def test_lock_upgrade_takes_a_repush_that_plain_lock_leaves_alone(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    (tmp_path / "Dockerfile").write_text(f"FROM {base.reference}\n")
    assert cli("lock").returncode == 0
    moved = images.repush_platform(f"{repo}/base", "1", "linux/arm64")
    before = (tmp_path / "images.lock").read_bytes()
    proc = cli("lock")
    assert proc.returncode == 0 and "0 resolved, unchanged" in proc.stdout
    assert (tmp_path / "images.lock").read_bytes() == before
    proc = cli("lock", "--upgrade")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"~ {base.reference}  sha256:{base.digest[7:19]}")
    assert lines[1].split()[:2] == ["linux/arm64", "changed"]
    assert lines[-1] == "images.lock: 1 image(s), 1 resolved, written"
    assert locked(tmp_path, name_of(base), "1").digest == moved.digest


def test_lockfile_in_another_folder_names_sources_relative_to_it(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    write_files(
        tmp_path,
        {
            "app/Dockerfile": f"FROM {base.reference}\n",
            "app/worker/Dockerfile": f"FROM {base.reference}\n",
            "locks/.keep": "",
        },
    )
    proc = cli("lock", "--lockfile", "../locks/images.lock", cwd=tmp_path / "app")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "app/images.lock").exists()
    assert locked(tmp_path / "locks", name_of(base), "1").sources == (
        "../app/Dockerfile",
        "../app/worker/Dockerfile",
    )
    # The same lock, found from elsewhere, with the Dockerfiles named as PATHs: up to date.
    for cwd, args in (
        (tmp_path, ["--lockfile", "locks/images.lock", "lock", "--check", "app"]),
        (tmp_path / "locks", ["lock", "--check", "../app"]),
        (tmp_path / "app/worker", ["lock", "--check", "--lockfile", "../../locks/images.lock"]),
    ):
        proc = cli(*args, cwd=cwd)
        assert proc.returncode == 0, (cwd, args, proc.stdout, proc.stderr)
    env = {"IMAGELOCK_LOCKFILE": str(tmp_path / "locks/images.lock")}
    assert cli("update", "base", cwd=tmp_path, env=env).returncode == 0


def test_build_arg_changes_which_image_a_from_locks(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    default = images.push_base(f"{repo}/base", "1")
    chosen = images.respell(f"{repo}/base", "1", "2", {})
    (tmp_path / "Dockerfile").write_text(f"ARG BASE={default.reference}\nFROM $BASE\n")
    proc = cli("lock", "--build-arg", f"BASE={chosen.reference}")
    assert proc.returncode == 0, proc.stderr
    lock = read_lock(tmp_path / "images.lock")
    assert lock is not None and [e.tag for e in lock.entries] == ["2"]
    assert cli("lock", "--check", "--build-arg", f"BASE={chosen.reference}").returncode == 0
    proc = cli("lock", "--check")
    assert proc.returncode == 1
    assert f"+ {default.reference}" in proc.stdout and f"- {chosen.reference}" in proc.stdout
    env = {"BASE": default.reference}  # a bare KEY takes the environment's value, as buildx
    assert cli("lock", "--check", "--build-arg", "BASE", env=env).returncode == 1
    assert cli("lock", "--build-arg", "BASE", env=env).returncode == 0
    assert cli("lock", "--check").returncode == 0


def test_an_unreachable_registry_is_one_line_and_no_lock_is_written(
    cli: CliRunner, tmp_path: Path
) -> None:
    port = free_port()  # bound and released: nothing listens there
    app, locked_app = tmp_path / "app", tmp_path / "locked"
    write_files(app, {"Dockerfile": f"FROM 127.0.0.1:{port}/team/base:1\n"})
    entry = LockEntry(
        f"127.0.0.1:{port}/team/base",
        "1",
        "sha256:" + "a" * 64,
        "application/vnd.oci.image.index.v1+json",
        ("Dockerfile",),
        {"linux/amd64": "sha256:" + "b" * 64},
    )
    write_files(locked_app, {"Dockerfile": "FROM scratch\n", "images.lock": dumps(Lock((entry,)))})
    before = (locked_app / "images.lock").read_bytes()
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / ".docker-config")}
    (tmp_path / ".docker-config").mkdir(exist_ok=True)
    commands = [(app, ["lock"]), (locked_app, ["update"]), (locked_app, ["outdated"])]
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "imagelock", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cwd, args in commands
    ]  # in parallel: each retries with backoff for a few seconds before giving up
    for proc in running:
        stdout, stderr = proc.communicate(timeout=120)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        assert_one_line_error(done, 2, f"cannot reach 127.0.0.1:{port}")
        assert stdout == ""
    assert sorted(p.name for p in app.iterdir()) == ["Dockerfile"]
    assert (locked_app / "images.lock").read_bytes() == before
    assert sorted(p.name for p in locked_app.iterdir()) == ["Dockerfile", "images.lock"]


def test_progress_on_a_terminal_and_nothing_but_results_on_a_pipe(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    tags = [images.respell(f"{repo}/base", "1", f"copy{n}", {}) for n in range(4)]
    (tmp_path / "Dockerfile").write_text("".join(f"FROM {t.reference}\n" for t in [base, *tags]))

    proc = cli("lock")
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[-1] == "images.lock: 5 image(s), 5 resolved, written"

    leader, follower = pty.openpty()
    try:
        env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / ".docker-config")}
        run = subprocess.run(
            [sys.executable, "-m", "imagelock", "lock", "--upgrade"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert run.returncode == 0
    assert b"resolving 5/5 images..." in shown
    assert shown.endswith(b"\r\x1b[K")  # the progress line is cleared at the end
    assert run.stdout.splitlines()[-1] == "images.lock: 5 image(s), 5 resolved, unchanged"
    quiet = cli("-q", "lock", "--upgrade")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


# --- tags a Dockerfile pins itself ------------------------------------------------------------


def test_a_tag_pinned_in_a_dockerfile_is_reported_with_where_to_edit_it(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    """`update` leaves a Dockerfile's own pin alone, so `outdated` must not send a bot to run
    `update` for it forever: it says where the digest is written."""
    first = images.push_base(f"{repo}/pinned", "1")
    write_files(tmp_path, {"Dockerfile": f"FROM {first.reference}@{first.digest}\n"})
    assert cli("lock").returncode == 0
    images.repush(f"{repo}/pinned", "1")

    proc = cli("outdated")
    assert_one_line_error(proc, 1, "pinned in Dockerfile:1", "edit the digest there")
    assert "imagelock update" not in proc.stderr
    update = cli("update")
    assert update.returncode == 0, update.stderr
    assert "edit the Dockerfile" in update.stdout
    assert locked(tmp_path, name_of(first), "1").digest == first.digest
