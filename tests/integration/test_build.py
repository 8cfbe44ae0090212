"""`imagelock build` on the real engine and registry: every pin mode builds both platforms on
the locked base, whatever upstream does to the tag, until `imagelock update` takes the new one.

What a build used is read back from the registry: each platform's image of the pushed app
must start with the layers of the base's manifest for that platform.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagelock.lockfile import read_lock
from tests.conftest import CliRunner, assert_one_line_error, write_files
from tests.support.images import ImageFactory, PushedImage, RegistryHTTP, run
from tests.support.registry import RegistryProcess

PLATFORMS = "linux/amd64,linux/arm64"
RUN_STEP = "RUN uname -m > /arch && echo built > /built\n"


@dataclass
class App:
    """An app repository in the test registry, and where to read its pushes back."""

    registry: RegistryProcess
    http: RegistryHTTP
    repo: str

    def ref(self, tag: str) -> str:
        return f"{self.registry.host}/{self.repo}:{tag}"

    def base_of(self, tag: str, bases: dict[str, PushedImage]) -> dict[str, str]:
        """For each platform of app:TAG, which of `bases` (by label) it was built on."""
        out: dict[str, str] = {}
        for platform, digest in self.http.platforms(self.repo, tag).items():
            config = self.http.config(self.repo, digest)
            assert f"{config['os']}/{config['architecture']}" == platform
            layers = self.http.layers(self.repo, digest)
            found = [
                label
                for label, base in bases.items()
                if layers[: len(bl := self._base_layers(base, platform))] == bl
            ]
            assert len(found) == 1, (platform, found)
            out[platform] = found[0]
        return out

    def _base_layers(self, base: PushedImage, platform: str) -> list[str]:
        repo = base.reference.split("/", 1)[1].rsplit(":", 1)[0]
        return self.http.layers(repo, base.platforms[platform])


@pytest.fixture
def app(registry: RegistryProcess, registry_http: RegistryHTTP, repo: str) -> App:
    return App(registry, registry_http, f"{repo}/app")


def _build(cli: CliRunner, *args: str) -> None:
    proc = cli("build", "--platform", PLATFORMS, "--progress", "plain", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


DOCKERFILES = {
    "context": "FROM {base}\n" + RUN_STEP,
    "rewrite": "FROM {base} AS app\n" + RUN_STEP,
    "policy": "FROM {base}\n" + RUN_STEP,
    "build-arg": "ARG BASE={base}\nFROM ${{BASE}}\n" + RUN_STEP,
}


@pytest.mark.parametrize("mode", sorted(DOCKERFILES))
def test_each_pin_mode_builds_on_the_locked_base_until_update(
    mode: str, cli: CliRunner, images: ImageFactory, app: App, repo: str, tmp_path: Path
) -> None:
    first = images.push_base(f"{repo}/base", "1")
    write_files(tmp_path, {"Dockerfile": DOCKERFILES[mode].format(base=first.reference)})
    assert cli("lock", "--platform", PLATFORMS).returncode == 0
    _build(cli, "--pin-mode", mode, "-t", app.ref("1"), "--push", ".")

    second = images.repush(f"{repo}/base", "1")  # upstream moves the tag
    _build(cli, "--pin-mode", mode, "-t", app.ref("2"), "--push", ".")

    proc = cli("update", "base")
    assert proc.returncode == 0, proc.stderr
    _build(cli, "--pin-mode", mode, "-t", app.ref("3"), "--push", ".")

    bases = {"first": first, "second": second}
    on_both = {"linux/amd64", "linux/arm64"}
    assert app.base_of("1", bases) == dict.fromkeys(on_both, "first")
    assert app.base_of("2", bases) == dict.fromkeys(on_both, "first")
    assert app.base_of("3", bases) == dict.fromkeys(on_both, "second")
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("imagelock-build-*/Dockerfile"))


def test_without_imagelock_the_same_build_takes_the_moved_tag(
    images: ImageFactory, app: App, repo: str, tmp_path: Path
) -> None:
    """The control: plain buildx follows the re-pushed tag, so the tests above prove pinning."""
    first = images.push_base(f"{repo}/base", "1")
    write_files(tmp_path, {"Dockerfile": f"FROM {first.reference}\n{RUN_STEP}"})
    build = ["docker", "buildx", "build", "--platform", PLATFORMS, "--push"]
    run([*build, "-t", app.ref("1"), str(tmp_path)])
    second = images.repush(f"{repo}/base", "1")
    run([*build, "-t", app.ref("2"), str(tmp_path)])
    bases = {"first": first, "second": second}
    assert set(app.base_of("2", bases).values()) == {"second"}


def test_rewrite_mode_keeps_the_dockerfiles_own_dockerignore(
    cli: CliRunner, images: ImageFactory, app: App, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    write_files(
        tmp_path,
        {
            "build/app.Dockerfile": f"FROM {base.reference}\nCOPY . /ctx\nRUN ls /ctx > /listing\n"
            "RUN test ! -e /ctx/secret.txt\n",
            "build/app.Dockerfile.dockerignore": "secret.txt\n",
            "secret.txt": "not for the image\n",
            "kept.txt": "in the image\n",
        },
    )
    assert cli("lock", "--platform", PLATFORMS).returncode == 0
    _build(
        cli,
        "--pin-mode",
        "rewrite",
        "-f",
        "build/app.Dockerfile",
        "-t",
        app.ref("1"),
        "--push",
        ".",
    )
    assert (tmp_path / "build/app.Dockerfile").read_text().startswith(f"FROM {base.reference}\n")


def test_reproducible_builds_of_the_same_commit_give_the_same_index_digest(
    cli: CliRunner, images: ImageFactory, app: App, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    write_files(tmp_path, {"Dockerfile": f"FROM {base.reference}\n{RUN_STEP}", "a.txt": "x\n"})
    assert cli("lock", "--platform", PLATFORMS).returncode == 0
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    run([*git, "init", "-q"])
    run([*git, "add", "."])
    run([*git, "commit", "-q", "-m", "app", "--date", "2026-01-02T03:04:05Z"])
    env = {"GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z"}
    for tag in ("r1", "r2"):
        proc = cli(
            "build", "--platform", PLATFORMS, "--reproducible", "--no-cache",
            "-t", app.ref(tag), "--push", ".", env=env, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-4000:]
    first, _ = app.http.manifest(app.repo, "r1")
    second, _ = app.http.manifest(app.repo, "r2")
    assert first == second
    assert set(app.http.platforms(app.repo, "r1")) == {"linux/amd64", "linux/arm64"}


def test_reproducible_oci_outputs_are_identical(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    write_files(tmp_path, {"Dockerfile": f"FROM {base.reference}\n{RUN_STEP}"})
    assert cli("lock").returncode == 0
    digests = []
    for name in ("a", "b"):
        dest = tmp_path.parent / f"{tmp_path.name}-{name}.tar"
        proc = cli(
            "build", "--platform", PLATFORMS, "--reproducible", "--source-date-epoch", "1700000000",
            "--no-cache", "-o", f"type=oci,dest={dest}", ".", timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-4000:]
        index = run(["tar", "-xOf", str(dest), "index.json"]).stdout
        digests.append(index)
    assert digests[0] == digests[1]


def test_an_unlocked_image_is_refused_before_buildx_runs(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    tool = images.push_base(f"{repo}/tool", "1")
    write_files(tmp_path, {"Dockerfile": f"FROM {base.reference}\n"})
    assert cli("lock").returncode == 0
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base.reference}\nCOPY --from={tool.reference} /bin/sh /sh\n"
    )
    # No docker on PATH: had buildx been reached, the error would say so instead.
    proc = cli(
        "build", "--platform", PLATFORMS, ".", env={"PATH": str(Path(sys.executable).parent)}
    )
    assert_one_line_error(proc, 2, tool.reference.split("/", 1)[1], "imagelock lock")


def test_a_platform_missing_from_the_lock_is_refused_before_buildx_runs(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1", platforms=("linux/amd64",))
    write_files(tmp_path, {"Dockerfile": f"FROM {base.reference}\n"})
    assert cli("lock").returncode == 0
    proc = cli(
        "build", "--platform", PLATFORMS, ".", env={"PATH": str(Path(sys.executable).parent)}
    )
    assert_one_line_error(proc, 2, "linux/arm64", f"{repo}/base")


def test_a_digest_of_one_architecture_is_refused_for_the_others(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    amd64 = base.platforms["linux/amd64"]
    name = base.reference.rsplit(":", 1)[0]
    write_files(tmp_path, {"Dockerfile": f"FROM {name}@{amd64}\n{RUN_STEP}"})
    assert cli("lock").returncode == 0
    proc = cli(
        "build", "--platform", PLATFORMS, ".", env={"PATH": str(Path(sys.executable).parent)}
    )
    assert_one_line_error(proc, 2, "linux/arm64", "linux/amd64")
    # The platform it is for builds.
    ok = cli("build", "--platform", "linux/amd64", "--progress", "plain", ".", timeout=600)
    assert ok.returncode == 0, ok.stderr[-3000:]


def test_the_syntax_frontend_image_is_pinned_after_its_tag_moved(
    cli: CliRunner, images: ImageFactory, registry: RegistryProcess, repo: str, tmp_path: Path
) -> None:
    """No real frontend can be pulled here: a busybox image under the frontend's tag shows,
    in BuildKit's log, which digest it resolved before it fails to run it."""
    frontend = images.push_base(f"{repo}/docker/dockerfile", "1")
    write_files(
        tmp_path, {"Dockerfile": f"# syntax={frontend.reference}\nFROM scratch\nCOPY x /x\n"}
    )
    write_files(tmp_path, {"x": "x\n"})
    assert cli("lock").returncode == 0
    moved = images.repush(f"{repo}/docker/dockerfile", "1")
    for mode in ("context", "rewrite"):
        proc = cli("build", "--pin-mode", mode, "--progress", "plain", ".", timeout=600)
        assert proc.returncode != 0  # busybox is no frontend
        assert frontend.digest in proc.stderr, (mode, proc.stderr[-3000:])
        assert moved.digest not in proc.stderr, (mode, proc.stderr[-3000:])


def test_strict_denies_an_image_the_lock_lacks_even_when_imagelock_cannot_see_it(
    cli: CliRunner, images: ImageFactory, app: App, repo: str, tmp_path: Path
) -> None:
    """Someone else's source policy (a platform team's redirect) swaps the locked base for
    another image inside BuildKit, where the Dockerfile analysis cannot see it."""
    base = images.push_base(f"{repo}/base", "1")
    other = images.push_base(f"{repo}/other", "1")
    write_files(tmp_path, {"Dockerfile": f"FROM {base.reference}\n{RUN_STEP}"})
    assert cli("lock").returncode == 0
    name = base.reference.rsplit(":", 1)[0]
    redirect = {
        "rules": [
            {
                "action": "CONVERT",
                "selector": {"identifier": f"docker-image://{name}*"},
                "updates": {"identifier": f"docker-image://{other.reference}"},
            }
        ]
    }
    policy = tmp_path.parent / f"{tmp_path.name}-policy.json"
    policy.write_text(json.dumps(redirect))
    env = {"EXPERIMENTAL_BUILDKIT_SOURCE_POLICY": str(policy)}

    strict = cli("build", "--strict", "--progress", "plain", ".", env=env, timeout=600)
    assert strict.returncode != 0
    assert f"docker-image://{other.reference}" in strict.stderr
    assert "denied by policy" in strict.stderr, strict.stderr[-3000:]

    loose = cli(
        "build", "--platform", PLATFORMS, "--progress", "plain", "-t", app.ref("1"), "--push",
        ".", env=env, timeout=600,
    )  # fmt: skip
    assert loose.returncode == 0, loose.stderr[-3000:]
    assert set(app.base_of("1", {"base": base, "other": other}).values()) == {"other"}


def test_dry_run_prints_the_buildx_command_and_builds_nothing(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    write_files(tmp_path, {"Dockerfile": f"FROM {base.reference}\n"})
    assert cli("lock").returncode == 0
    proc = cli("build", "--platform", PLATFORMS, "--dry-run", "-t", "x:1", ".")
    assert proc.returncode == 0, proc.stderr
    name = base.reference.rsplit(":", 1)[0]
    assert f"--build-context {base.reference}=docker-image://{name}@{base.digest}" in proc.stdout
    assert "buildx build" in proc.stdout
    assert read_lock(tmp_path / "images.lock") is not None


def test_a_named_context_of_the_users_own_serves_copy_from_without_a_lock_entry(
    cli: CliRunner, images: ImageFactory, repo: str, tmp_path: Path
) -> None:
    base = images.push_base(f"{repo}/base", "1")
    write_files(
        tmp_path,
        {
            "app/Dockerfile": f"FROM {base.reference}\nCOPY --from=assets / /assets/\n"
            "RUN test -f /assets/site.css\n",
            "web/dist/site.css": "body {}\n",
        },
    )
    # Without saying that `assets` is a named context, it is an image no registry has.
    assert cli("lock", "--build-context", "assets").returncode == 0
    lock = read_lock(tmp_path / "images.lock")
    assert lock is not None and [e.name for e in lock.entries] == [base.reference.rsplit(":", 1)[0]]
    check = cli("lock", "--check", "--build-context", "assets=web/dist")
    assert check.returncode == 0, check.stdout
    out = tmp_path.parent / f"{tmp_path.name}-out"
    _build(
        cli, "--build-context", "assets=web/dist", "-f", "app/Dockerfile",
        "-o", f"type=local,dest={out}", ".",
    )  # fmt: skip
    assert (out / "linux_arm64/assets/site.css").read_text() == "body {}\n"
