"""The container files, checked without a Docker engine: the compose file parsed, the Dockerfile read.

No Docker engine runs on the machines these tests run on, so nothing here builds
or starts a container. What can go wrong in the files themselves is checked:
the services and what they run, one image for every process that imports
logreg_dist or prefect, ports published on 127.0.0.1 only, a PostgreSQL-backed
Prefect server, at least two workers, the flows pointed at the scheduler and the
Prefect API, and an image whose install is the one ``make test`` does.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
DOCKERFILE = DOCKER / "Dockerfile"

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` with VAR unset; ``${VAR:?error}`` and ``${VAR}`` become ``<VAR>``."""
    return _VARIABLE.sub(lambda m: m["arg"] if m["op"] in (":-", "-") else f"<{m['name']}>", text)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    words = shlex.split(command) if isinstance(command, str) else [str(word) for word in command]
    return [_interpolate(word) for word in words]


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: _interpolate(str(value)) for key, value in env.items()}


def _option(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} missing from {command}"
    return command[command.index(flag) + 1]


def _workers(services: dict) -> dict[str, dict]:
    return {name: s for name, s in services.items() if _command(s)[:2] == ["dask", "worker"]}


def _published(service: dict) -> list[tuple[str | None, str]]:
    """(host address, host port) of each published port; the address is None when not given (all interfaces)."""
    published = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # long syntax
            published.append((port.get("host_ip"), str(port.get("published", "(random)"))))
            continue
        spec = str(port).rsplit("/", 1)[0]  # drop /tcp, /udp
        bracketed = re.fullmatch(r"\[(?P<host>[^\]]+)\]:(?P<published>[^:]*):(?P<target>[^:]+)", spec)
        if bracketed:
            published.append((bracketed["host"], bracketed["published"] or "(random)"))
            continue
        parts = spec.split(":")
        if len(parts) == 3:
            published.append((parts[0], parts[1] or "(random)"))
        elif len(parts) == 2:
            published.append((None, parts[0]))
        else:
            published.append((None, "(random)"))
    return published


# -- compose --------------------------------------------------------------------------------------


def test_compose_has_the_services_of_a_deployment(services):
    assert {"postgres", "prefect-server", "scheduler", "flows"} <= set(services)
    assert _workers(services), "no service runs `dask worker`"


def test_one_image_for_scheduler_workers_flows_and_prefect_server(services):
    ours = ["scheduler", "flows", "prefect-server", *_workers(services)]
    images = {(services[name]["image"], repr(services[name].get("build"))) for name in ours}
    assert len(images) == 1, images
    build = services["scheduler"]["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_scheduler_worker_and_prefect_server_commands(services):
    assert _command(services["scheduler"]) == [
        "dask", "scheduler", "--host", "0.0.0.0", "--port", "8786", "--dashboard-address", ":8787",
    ]
    for name, worker in _workers(services).items():
        command = _command(worker)
        assert command[2] == "tcp://scheduler:8786", name
        assert _option(command, "--nthreads") == "1" and _option(command, "--nworkers") == "1", name
    command = _command(services["prefect-server"])
    assert command[:3] == ["prefect", "server", "start"] and _option(command, "--host") == "0.0.0.0"


def test_at_least_two_workers(services):
    replicas = sum(int(worker.get("deploy", {}).get("replicas", 1)) for worker in _workers(services).values())
    assert replicas >= 2


def test_every_published_port_is_on_loopback(services):
    published = {name: _published(service) for name, service in services.items()}
    for name, ports in published.items():
        for host, port in ports:
            assert host == "127.0.0.1", f"service {name!r} publishes port {port} on {host or 'every interface'}"
        assert services[name].get("network_mode") != "host", name
    assert ("127.0.0.1", "4200") in published["prefect-server"]
    assert not published["postgres"], "the database is reached on the compose network only"


def test_prefect_server_is_backed_by_postgres_without_a_password_in_the_file(services):
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    server_env = _environment(services["prefect-server"])
    url = server_env["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert re.fullmatch(r"postgresql\+asyncpg://prefect:<POSTGRES_PASSWORD>@postgres:5432/prefect", url), url
    assert _environment(postgres)["POSTGRES_PASSWORD"] == "<POSTGRES_PASSWORD>"  # from the environment, required
    assert "postgres" in services["prefect-server"]["depends_on"]
    assert server_env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_flows_serve_on_the_scheduler_and_report_to_the_prefect_api(services):
    flows = services["flows"]
    command = _command(flows)
    assert command[:2] == ["logreg-dist", "serve"]
    assert _option(command, "--scheduler") == "tcp://scheduler:8786"
    for flag in ("--data", "--out", "--model", "--cron"):
        assert _option(command, flag)
    assert len(_option(command, "--cron").split()) == 5
    env = _environment(flows)
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert {"prefect-server", "scheduler"} <= set(flows["depends_on"])


def test_workers_and_flows_share_the_data_volume_at_the_same_path(compose, services):
    def mounts(service):
        return {tuple(str(v).split(":")[:2]) for v in service.get("volumes", [])}

    flows_mounts = mounts(services["flows"])
    for name, worker in _workers(services).items():
        shared = mounts(worker) & flows_mounts
        assert shared, f"worker service {name!r} and flows share no volume at the same path"
    (volume, path), = {m for m in flows_mounts if m[0] in compose.get("volumes", {})}
    command = _command(services["flows"])
    for flag in ("--data", "--out", "--model"):
        assert _option(command, flag).startswith(path + "/"), flag


def test_the_serve_command_matches_the_cli_when_it_exists(services):
    """The flags the compose file passes are options of `logreg-dist serve` (read from cli.py's source)."""
    tree = ast.parse((ROOT / "logreg_dist" / "cli.py").read_text())
    serve_parser = None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "attr", None) == "add_parser"
            and node.value.args
            and getattr(node.value.args[0], "value", None) == "serve"
        ):
            serve_parser = node.targets[0].id
    if serve_parser is None:
        pytest.skip("logreg_dist/cli.py has no `serve` subcommand yet")
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "add_argument"
        and getattr(node.func.value, "id", None) == serve_parser
    ]
    options = {arg.value for call in calls for arg in call.args if isinstance(arg, ast.Constant)}
    required = {
        call.args[0].value
        for call in calls
        if any(k.arg == "required" and getattr(k.value, "value", False) is True for k in call.keywords)
    }
    passed = {word for word in _command(services["flows"]) if word.startswith("--")}
    assert passed <= options, f"`logreg-dist serve` has no {sorted(passed - options)}"
    assert required <= passed, f"the compose file does not pass the required {sorted(required - passed)}"


# -- Dockerfile -----------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def _pip_installs() -> list[list[str]]:
    """The argument lists of every ``pip install`` in a RUN instruction."""
    installs = []
    for instruction, arguments in _instructions():
        if instruction != "RUN":
            continue
        for command in re.split(r"&&|;", arguments):
            words = shlex.split(command)
            if "pip" in words and words[words.index("pip") + 1 : words.index("pip") + 2] == ["install"]:
                installs.append(words[words.index("pip") + 2 :])
    return installs


def _makefile_install() -> list[str]:
    for line in (ROOT / "Makefile").read_text().splitlines():
        words = shlex.split(line.replace("$(BIN)/python", "python"))
        if "install" in words and "-e" in words:
            return words[words.index("install") + 1 :]
    raise AssertionError("no `pip install -e` line in the Makefile")


def test_dockerfile_base_user_and_copy():
    instructions = _instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
    assert ("COPY", ". .") in instructions
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    last_run = max(i for i, (name, _) in enumerate(instructions) if name == "RUN")
    assert max(i for i, (name, _) in enumerate(instructions) if name == "USER") > last_run


def test_dockerfile_installs_the_project_as_make_test_does_minus_editable():
    project_installs = [args for args in _pip_installs() if any(a.startswith(".") for a in args)]
    assert len(project_installs) == 1, _pip_installs()
    make_args = [a for a in _makefile_install() if a not in ("--quiet", "-q")]
    assert make_args[0] == "-e"
    assert project_installs[0] == make_args[1:]  # `.[test]`


def test_dockerfile_takes_every_dependency_from_pyproject():
    """Nothing is installed but the project (and pip itself): no pins, requirement or constraint files."""
    for args in _pip_installs():
        packages = [a for a in args if not a.startswith("-")]
        assert all(p.startswith(".") or p == "pip" for p in packages), args
        assert not {"-r", "--requirement", "-c", "--constraint"} & set(args), args
        assert not any(re.search(r"[=<>~!]=|[<>]", p) for p in packages), args
    text = DOCKERFILE.read_text().lower()
    for name in ("dask", "distributed", "prefect"):
        assert not re.search(rf"\b{name}\s*[=<>~!]", text), f"the Dockerfile constrains {name} itself"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dependencies = " ".join(pyproject["project"]["dependencies"])
    for name in ("dask", "distributed", "prefect"):
        assert re.search(rf"\b{name}\b", dependencies), name
    scripts = pyproject["project"]["scripts"]
    assert "logreg-dist" in scripts
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {"logreg_dist*", "flows*"} <= set(include)  # workers unpickle logreg_dist; serve imports flows


def test_dockerfile_holds_no_secrets():
    for name, args in _instructions():
        if name in ("ENV", "ARG"):
            assert not re.search(r"(?i)password|secret|token|api_key", args), args


def test_dockerignore_keeps_local_state_out_and_the_source_in():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for required in (".venv", ".git", "demo-output", "**/__pycache__", ".pytest_cache"):
        assert required in patterns, required

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/")) for p in patterns)

    for needed in ("pyproject.toml", "README.md", "logreg_dist", "flows", "logreg_dist/cli.py", "docker/Dockerfile"):
        assert not ignored(needed), needed
