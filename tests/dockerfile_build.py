"""Run a generated Dockerfile's instructions on this machine, standing in for ``docker build``.

No container engine runs here (and no base image could be pulled), so the image is emulated: a
venv of the Python version ``FROM python:<version>-slim`` names stands in for the base image, and
every instruction runs as written, in order, inside a private root folder that stands in for the
image's filesystem (``/opt/...`` and ``/tmp/...`` in the instructions are mapped below it).
``COPY`` honours ``.dockerignore``. Only what cannot mean anything outside a container is not run
for real: ``groupadd``, ``useradd`` and ``chown`` become no-ops, ``USER`` is recorded, and
``apt-get`` records what it was asked to install (``EmulatedImage.apt_packages``), each of which
must then exist on this machine so the rest of the build and the tests can use it. Callers
may override environment variables that only tune caching (never what gets installed).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CONTAINER_ONLY_COMMANDS = ("groupadd", "useradd", "chown")
# /opt/..., /tmp/... and /var/... in the instructions, mapped below the emulated image's root.
CONTAINER_PATH = re.compile(r"(?<![\w./-])/(opt|tmp|var)/")
# The build machine's network settings (proxies, certificate bundles) reach the build, as they
# reach `docker build` through the engine.
NETWORK_SETTINGS = re.compile(r".*(PROXY|CERT|_CA_|CA_BUNDLE).*", re.IGNORECASE)
BASE_IMAGE = re.compile(r"python:(?P<version>3\.\d+)-slim")


@dataclass
class EmulatedImage:
    root: Path
    python_version: str
    env: dict[str, str]
    workdir: Path
    user: str = "root"
    steps: list[str] = field(default_factory=list)
    apt_packages: list[str] = field(default_factory=list)

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def dockerignore_patterns(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    if not ignore.exists():
        return []
    lines = (line.strip() for line in ignore.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _matches(path: str, glob: str) -> bool:
    if glob.startswith("**/"):
        parts = path.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[i:]), glob[3:]) for i in range(len(parts)))
    return fnmatch.fnmatchcase(path, glob)


def ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: patterns are anchored at the context root (``**/`` matches any depth), a
    pattern matching a folder excludes what is inside it, the last matching pattern wins and
    ``!`` re-includes."""
    verdict = False
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.removeprefix("!")
        if any(_matches(prefix, glob) for prefix in prefixes):
            verdict = not negate
    return verdict


def build(
    context: Path,
    root: Path,
    uv: str,
    build_args: Mapping[str, str] | None = None,
    env_overrides: Mapping[str, str | None] | None = None,
    timeout: float = 1200,
) -> EmulatedImage:
    """Build ``context/Dockerfile`` into ``root``; return the emulated image."""
    args: dict[str, str] = dict(build_args or {})
    patterns = dockerignore_patterns(context)
    image: EmulatedImage | None = None

    def mapped(text: str) -> str:
        return CONTAINER_PATH.sub(lambda m: f"{root}/{m.group(1)}/", text)

    def expand(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), text)

    for keyword, arguments in instructions((context / "Dockerfile").read_text()):
        if keyword == "ARG":
            name, _, default = arguments.partition("=")
            args.setdefault(name, default)
            continue
        if keyword == "FROM":
            match = BASE_IMAGE.fullmatch(expand(arguments))
            assert match, f"FROM {arguments}: only python:<version>-slim can be emulated"
            version = match.group("version")
            base = root / "base-image"
            python = find_python(version)
            subprocess.run([uv, "venv", "-q", "--seed", "--python", python, str(base)], check=True)
            env = {
                **{k: v for k, v in os.environ.items() if NETWORK_SETTINGS.fullmatch(k)},
                "HOME": str(root / "root"),
                "PATH": f"{base / 'bin'}:/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8",
                # The base image's Python is its only one: uv must not find this machine's others.
                "UV_PYTHON": str(base / "bin" / "python"),
            }
            image = EmulatedImage(root=root, python_version=version, env=env, workdir=root)
            continue
        assert image is not None, f"{keyword} before FROM"
        image.steps.append(f"{keyword} {arguments}")
        if keyword == "ENV":
            for assignment in shlex.split(arguments):
                name, _, value = assignment.partition("=")
                known = image.env
                value = re.sub(r"\$(\w+)", lambda m, known=known: known.get(m.group(1), ""), mapped(value))
                image.env[name] = value
        elif keyword == "WORKDIR":
            image.workdir = Path(mapped(arguments))
            image.workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, destination = shlex.split(arguments)
            target = Path(mapped(destination)) if destination.startswith("/") else image.workdir / destination
            several = len(sources) > 1 or destination.endswith("/")
            for source in sources:
                _copy(context, source, target, patterns, several)
        elif keyword == "RUN":
            shims = "".join(f"{name}() {{ :; }}; " for name in CONTAINER_ONLY_COMMANDS)
            # apt-get writes the system's packages: recorded here, never run on this machine.
            apt_log = root / "apt-get.log"
            shims += f'apt-get() {{ printf "%s\\n" "$*" >> {shlex.quote(str(apt_log))}; }}; '

            env = {**image.env}
            for name, value in (env_overrides or {}).items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
            completed = subprocess.run(
                ["bash", "-ec", shims + mapped(arguments)],
                cwd=image.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            assert completed.returncode == 0, (
                f"RUN {arguments[:200]} exited {completed.returncode}\n"
                f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
            )
            image.apt_packages = _installed_packages(apt_log)
        elif keyword == "USER":
            image.user = arguments
        else:
            raise AssertionError(f"{keyword}: not an instruction this emulation knows")
    assert image is not None, "no FROM in the Dockerfile"
    return image


def _installed_packages(log: Path) -> list[str]:
    """The packages `apt-get install` was asked for; each must exist here (a stand-in install)."""
    packages: list[str] = []
    for line in log.read_text().splitlines() if log.exists() else []:
        words = line.split()
        if words[:1] == ["install"]:
            packages += [word for word in words[1:] if not word.startswith("-")]
    for package in packages:
        assert shutil.which(package), f"apt-get install {package}: not on this machine to stand in"
    return packages


def _copy(context: Path, source: str, target: Path, patterns: list[str], several: bool) -> None:
    origin = context / source
    if origin.is_dir():
        for path in sorted(origin.rglob("*")):
            relative = path.relative_to(context).as_posix()
            if path.is_file() and not ignored(relative, patterns):
                destination = target / path.relative_to(origin)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
    else:
        assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
        destination = target / origin.name if several or target.is_dir() else target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, destination)


def find_python(version: str) -> str:
    """An interpreter of ``version`` on this machine: on PATH, or one pyenv installed (its shims
    answer only for the versions a folder selects, so look in its versions folder too)."""
    candidates = [shutil.which(f"python{version}") or ""]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(pyenv_root.glob(f"versions/{version}*/bin/python{version}"))]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-V"], capture_output=True, check=False).returncode == 0:
            return candidate
    raise AssertionError(f"no Python {version} on this machine (PATH or pyenv)")


def image_python(image: EmulatedImage) -> Path:
    """The interpreter the image's PATH finds first."""
    for entry in image.env["PATH"].split(os.pathsep):
        candidate = Path(entry) / "python"
        if candidate.exists():
            return candidate
    raise AssertionError("no python on the image's PATH")
