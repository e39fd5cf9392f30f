"""The container images: hadolint-clean, pinned bases, non-root, health-checked, nothing secret."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.unit.deploy.support import DOCKERFILES, REPO, final_stage, instructions, tool

BFF = REPO / "Dockerfile"
# an exact version tag (at least major.minor.patch) or a digest; never latest or a moving 3.11
DIGEST = r"@sha256:[0-9a-f]{64}"
PINNED = re.compile(rf"^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*({DIGEST})?|{DIGEST})$")


def readme_install_command() -> str:
    """The install command in README.md's container deployment section."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Deployment: containers, compose, Kubernetes", 1)[1].split("\n## ")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines()
                if "pip install" in line]
    assert len(commands) == 1, commands
    return commands[0]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    """hadolint finds nothing at all (its default threshold fails on info-level findings)."""
    result = subprocess.run([tool("hadolint"), "--no-color", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_dockerfile_that_breaks_the_rules(tmp_path: Path) -> None:
    """The lint is live: an unpinned base image with root's default user is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install bff\nCMD bff run\n")
    result = subprocess.run([tool("hadolint"), "--no-color", str(bad)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "DL3007" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned_to_an_exact_tag_or_digest(dockerfile: Path) -> None:
    """Every FROM names an exact version (x.y.z) or a sha256 digest, and a slim variant."""
    bases = [args.split()[0] for keyword, args in instructions(dockerfile) if keyword == "FROM"]
    assert bases
    for base in bases:
        assert PINNED.match(base), base
        assert "slim" in base, base


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    """The shipped stage's last USER is a numeric uid:gid other than root's."""
    users = [args for keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, "the final stage has no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert gid.isdigit() and int(gid) != 0, users[-1]


def test_bff_image_health_checks_healthz_on_its_port() -> None:
    """HEALTHCHECK calls /healthz on the port ``bff run`` listens on (BFF_SERVER__PORT)."""
    stage = final_stage(BFF)
    checks = [args for keyword, args in stage if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = json.loads(checks[0].split("CMD", 1)[1])
    assert "/healthz" in command[-1] and "BFF_SERVER__PORT" in command[-1]
    env = " ".join(args for keyword, args in stage if keyword == "ENV")
    assert "BFF_SERVER__PORT=8000" in env
    exposed = [args for keyword, args in stage if keyword == "EXPOSE"]
    assert exposed == ["8000"]


def test_bff_image_reads_config_and_keys_from_mounts() -> None:
    """CMD reads the mounted config; no COPY or ADD brings a config, key or env file in."""
    stage = final_stage(BFF)
    cmd = json.loads([args for keyword, args in stage if keyword == "CMD"][-1])
    assert cmd[:4] == ["bff", "run", "--config", "/etc/bff/config/bff.toml"]
    for dockerfile in DOCKERFILES:
        for keyword, args in instructions(dockerfile):
            if keyword in ("COPY", "ADD"):
                sources = [a for a in args.split()[:-1] if not a.startswith("--")]
                for source in sources:
                    assert not re.search(r"\.(jwk|jwks|toml|env|pem|key)$|keys|\.demo", source) \
                        or source == "pyproject.toml", (dockerfile.name, source)


def test_build_context_holds_no_key_or_config_file() -> None:
    """.dockerignore is an allow-list; none of the tracked files it lets in is a key or a config."""
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    sent = [f for f in tracked if any(f == a or f.startswith(a + "/") or fnmatch.fnmatch(f, a)
                                      for a in allowed)]
    assert "bff/app.py" in sent and "pyproject.toml" in sent
    leaks = [f for f in sent if re.search(r"\.(jwk|jwks|pem|key|env)$", f)
             or (f.endswith(".toml") and f != "pyproject.toml")]
    assert leaks == []


def test_install_step_is_the_readme_command_with_runtime_dependencies_only() -> None:
    """The build stage installs with README.md's command, and that installs no extras."""
    command = readme_install_command()
    steps = [step.strip() for keyword, args in instructions(BFF) if keyword == "RUN"
             for step in args.split("&&")]
    assert command in steps
    assert command.endswith(" .") and "[" not in command and "-e " not in command
