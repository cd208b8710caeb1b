"""Deployable artifacts, built the way a deploy builds them and run with no checkout beside them.

- ``uv.lock``: every generated project carries one, and a fresh bake's lock is in sync.
- Hybrid: the generated Dockerfile, followed step by step (dockerfile_build.py stands in for the
  container engine this machine does not have), leaves a venv with the project installed from its
  wheel and no source tree. From that install alone, in an empty folder with nothing of the
  checkout on ``sys.path``: ``dagster definitions validate`` for every supported Python version,
  and a real run of Python and dbt assets on DuckDB.
- The wheel ``make build`` writes holds the dbt project and its manifest inside the package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import DEFAULT_CONTEXT, TEMPLATE_DIR, _uv, run
from dockerfile_build import EmulatedImage, build, ignored, instructions


def _supported_python_versions() -> list[str]:
    """Every answer the pre-gen hook accepts for python_version, the default first."""
    spec = importlib.util.spec_from_file_location("pre_gen", TEMPLATE_DIR / "hooks" / "pre_gen_project.py")
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    default = DEFAULT_CONTEXT["python_version"][0]  # a choice list, the default first
    return [default, *(v for v in hook.SUPPORTED_PYTHON_VERSIONS if v != default)]


PYTHON_VERSIONS = _supported_python_versions()
SLUG = "acme_data"
# A Python asset and the dbt model reading it (no test of it spans other models).
RUN_SELECTION = " or ".join(
    f'key:"production/{key}"' for key in ("hackernews/items", "hackernews/comments", "staging/stg_comments")
)
# Only caching knobs differ from the Dockerfile: reuse uv's cache instead of downloading ~1 GB
# per build, and compile bytecode only for the default version (it changes no file's content).
CACHE_ONLY = {"UV_NO_CACHE": None, "UV_LINK_MODE": "hardlink"}


def bake_into(out: Path, **context: str) -> Path:
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out), extra_context=context))


def clean_env(**extra: str) -> dict[str, str]:
    """No variable that could point Python at the checkout; LOCAL, DuckDB."""
    keep = ("HOME", "LANG", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, "PATH": "/usr/bin:/bin", **extra}


def in_image(
    image: EmulatedImage, args: list[str], cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a command of the image's venv in ``cwd``, nothing of the checkout on any path."""
    venv_bin = image.path("/opt/dagster/venv/bin")
    completed = subprocess.run(
        [str(venv_bin / args[0]), *args[1:]],
        cwd=cwd,
        env=clean_env(PATH=f"{venv_bin}:/usr/bin:/bin", **env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, (
        f"{args} exited {completed.returncode}\n{completed.stdout[-4000:]}\n{completed.stderr[-6000:]}"
    )
    return completed


# --- uv.lock ---------------------------------------------------------------------------------


def test_every_bake_has_a_lock_in_sync(tmp_path: Path) -> None:
    """Another name, provider and Python: the one templated lock still matches (``uv lock --check``)."""
    project = bake_into(tmp_path, project_name="Zeta Corp", ci_provider="gitlab", python_version="3.11")
    lock = (project / "uv.lock").read_text()
    assert 'name = "zeta-corp"' in lock and "cookiecutter" not in lock.split("[[package]]")[1]
    completed = subprocess.run([_uv(), "lock", "--check"], cwd=project, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    # Touching a dependency makes the same check fail: it is not vacuous.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pandas>=2.2"', '"pandas>=2.2", "tabulate"'))
    stale = subprocess.run([_uv(), "lock", "--check"], cwd=project, capture_output=True, text=True)
    assert stale.returncode != 0


# --- hybrid image ----------------------------------------------------------------------------


def test_dockerignore_rules() -> None:
    patterns = ["**/__pycache__", "*.py[cod]", "data/*", "!data/.gitkeep", "src/*/dbt_project"]
    assert ignored("src/acme_data/__pycache__/x.pyc", patterns)
    assert ignored("data/local.duckdb", patterns) and not ignored("data/.gitkeep", patterns)
    assert ignored("src/acme_data/dbt_project/dbt_project.yml", patterns)
    assert not ignored("src/acme_data/settings.py", patterns)


def test_the_dockerfile_installs_from_the_lock_and_the_wheel(tmp_path: Path) -> None:
    project = bake_into(tmp_path, dagster_plus_deployment_type="hybrid")
    steps = [
        f"{keyword} {arguments}" for keyword, arguments in instructions((project / "Dockerfile").read_text())
    ]
    runs = [step for step in steps if step.startswith("RUN ")]
    assert any("uv sync --locked --no-install-project" in step for step in runs)
    assert any("uv build --wheel" in step and "--no-deps" in step for step in runs)
    assert not any("pip install -e" in step or "--editable" in step for step in runs)
    assert steps[-1] == "USER dagster"


@pytest.fixture(scope="module", params=PYTHON_VERSIONS)
def hybrid_image(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, generated_venv: Path
) -> EmulatedImage:
    """The hybrid image for one ``python_version`` answer (after the session venv warmed uv's cache)."""
    version = request.param
    out = tmp_path_factory.mktemp(f"hybrid-{version}")
    project = bake_into(out / "bake", dagster_plus_deployment_type="hybrid", python_version=version)
    overrides = {**CACHE_ONLY, **({} if version == PYTHON_VERSIONS[0] else {"UV_COMPILE_BYTECODE": None})}
    return build(project, out / "image", _uv(), env_overrides=overrides)


def test_image_holds_no_source_tree_and_loads_its_definitions(
    hybrid_image: EmulatedImage, tmp_path: Path
) -> None:
    assert not hybrid_image.path("/opt/dagster/build").exists()
    located = in_image(
        hybrid_image,
        ["python", "-c", f"import {SLUG}, sys; print({SLUG}.__file__); print(sys.path)"],
        tmp_path,
    )
    module_file = Path(located.stdout.splitlines()[0])
    assert hybrid_image.path("/opt/dagster/venv") in module_file.parents
    assert f"python{hybrid_image.python_version}" in str(module_file)
    package = module_file.parent
    assert (package / "dbt_project" / "dbt_project.yml").is_file()
    assert (package / "dbt_project" / "target" / "manifest.json").is_file()
    assert not (package.parents[1] / "pyproject.toml").exists()
    result = in_image(
        hybrid_image, ["dagster", "definitions", "validate", "-m", f"{SLUG}.definitions"], tmp_path
    )
    assert "Validation successful" in result.stdout + result.stderr


def ci_manifest_commands(tmp_path: Path) -> dict[str, str]:
    """The Python each CI's build-image job runs in the image to copy its packaged manifest out."""
    import yaml

    found = {}
    github = bake_into(tmp_path / "github", dagster_plus_deployment_type="hybrid")
    workflow = yaml.safe_load((github / ".github/workflows/ci.yml").read_text())
    (step,) = [
        s for s in workflow["jobs"]["build-image"]["steps"] if "MANIFEST_OF_THE_PACKAGE" in s.get("env", {})
    ]
    assert 'python code-location:build -c "$MANIFEST_OF_THE_PACKAGE" > manifest.json' in step["run"]
    found["github"] = step["env"]["MANIFEST_OF_THE_PACKAGE"]
    gitlab = bake_into(tmp_path / "gitlab", dagster_plus_deployment_type="hybrid", ci_provider="gitlab")
    script = yaml.safe_load((gitlab / ".gitlab-ci.yml").read_text())["build_image"]["script"]
    (line,) = [shlex.split(line) for line in script if "manifest.json" in line and "docker run" in line]
    assert line[line.index("-c") + 2 :] == [">", "manifest.json"]
    found["gitlab"] = line[line.index("-c") + 1]
    return found


def test_ci_copies_the_packaged_manifest_out_of_the_image(
    hybrid_image: EmulatedImage, tmp_path: Path
) -> None:
    """build-image / build_image ask the image's own Python where the package is: the same bytes
    for every supported Python version (no site-packages path written into the CI file)."""
    packaged = in_image(hybrid_image, ["python", "-c", f"import {SLUG}; print({SLUG}.__file__)"], tmp_path)
    manifest = Path(packaged.stdout.strip()).parent / "dbt_project" / "target" / "manifest.json"
    for provider, command in ci_manifest_commands(tmp_path).items():
        venv_python = hybrid_image.path("/opt/dagster/venv/bin/python")
        copied = subprocess.run(
            [str(venv_python), "-c", command],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            timeout=300,
        )
        assert copied.returncode == 0, (provider, copied.stderr[-3000:])
        assert copied.stdout == manifest.read_bytes(), provider


@pytest.mark.parametrize("hybrid_image", PYTHON_VERSIONS[:1], indirect=True)  # one full run
def test_image_runs_python_and_dbt_assets_on_duckdb(hybrid_image: EmulatedImage, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    result = in_image(
        hybrid_image,
        ["dagster", "asset", "materialize", "-m", f"{SLUG}.definitions", "--select", RUN_SELECTION],
        tmp_path,
        LOCAL_DUCKDB_PATH=str(warehouse),
    )
    assert "RUN_SUCCESS" in result.stdout + result.stderr
    counts = in_image(
        hybrid_image,
        [
            "python",
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(*(c.execute(f'select count(*) from {t}').fetchone()[0] "
            "for t in ('hackernews.comments', 'staging.stg_comments')))",
            str(warehouse),
        ],
        tmp_path,
    )
    comments, staged = (int(n) for n in counts.stdout.split())
    assert comments > 0 and 0 < staged <= comments


# --- the wheel -------------------------------------------------------------------------------


def test_make_build_writes_a_self_contained_wheel(
    default_project: Path, installed: Any, tmp_path: Path
) -> None:
    project = tmp_path / SLUG
    shutil.copytree(default_project, project)
    installed(project)
    venv = Path(run(["python", "-c", "import sys; print(sys.prefix)"], cwd=project).stdout.strip())
    run(["make", "build", f"VENV={venv}", f"UV={_uv()}"], cwd=project)
    (wheel,) = (project / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"{SLUG}/dbt_project/target/manifest.json" in names
    assert f"{SLUG}/dbt_project/dbt_project.yml" in names
    assert not any("/target/" in n and not n.endswith("manifest.json") for n in names)
    manifest = json.loads(zipfile.ZipFile(wheel).read(f"{SLUG}/dbt_project/target/manifest.json"))
    assert manifest["metadata"]["project_name"] == SLUG
