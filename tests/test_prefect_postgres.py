"""The production stack of docker/docker-compose.yml, without Docker (issue 21): PostgreSQL from Debian's
package on 127.0.0.1, `prefect server start` on it, `logreg-dist serve` against that server and a Dask
cluster, and a run made by the cron schedule that completes.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from logreg_dist import jobs, synth
from logreg_dist.registry import register

from .servers import EVERY_20_SECONDS, free_port, stop, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROWS = 4_000
NOT_INSTALLED = "PostgreSQL's server programs (initdb, pg_ctl) are not installed: apt-get install postgresql (.ci/run does)"


def _postgres_bin() -> Path:
    """The folder of the PostgreSQL server programs: pg_ctl's on PATH (links resolved), else the newest of Debian's
    /usr/lib/postgresql/<major>/bin, which Debian does not put on PATH."""
    on_path = shutil.which("pg_ctl")
    if on_path and all((Path(on_path).resolve().parent / name).exists() for name in ("initdb", "createdb")):
        return Path(on_path).resolve().parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not found:
        pytest.skip(NOT_INSTALLED)
    return found[-1].parent


def _server_user() -> list[str]:
    """The command prefix that runs PostgreSQL's server programs as a user they accept: they refuse root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        # Debian's postgresql-common creates this system user when the package installs; do as it does.
        made = subprocess.run(["adduser", "--system", "--quiet", "--home", "/var/lib/postgresql", "--no-create-home",
                               "--shell", "/bin/bash", "--group", "--gecos", "PostgreSQL administrator", "postgres"],
                              capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"running as root, PostgreSQL needs a non-root user: there is no 'postgres' user and "
                        f"adduser could not create it: {made.stderr.strip()}")
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list, *, cwd: Path, env: dict | None = None, log: Path | None = None) -> None:
    """Run ``command``; if it fails, raise with its output and the tail of the server's ``log``."""
    command = [str(part) for part in command]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        server_log = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"`{' '.join(command)}` failed with {done.returncode}: "
                           f"{done.stdout[-1000:]}{done.stderr[-2000:]}{server_log}")


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on 127.0.0.1 with a database ``prefect`` owned by the password user ``prefect``, as the
    compose file's postgres service has; stopped and removed at the end."""
    bin_dir = _postgres_bin()
    as_server = _server_user()
    # Not pytest's tmp_path: its root is private to the user running pytest, and the server runs as 'postgres'.
    base = Path(tempfile.mkdtemp(prefix="logreg-dist-postgres-"))
    data, log, password_file = base / "data", base / "server.log", base / "password"
    password = secrets.token_hex(16)
    password_file.write_text(password)
    if as_server:
        for path in (base, password_file):
            shutil.chown(path, "postgres", "postgres")
    port = free_port()
    try:
        _run(as_server + [bin_dir / "initdb", "-D", data, "-U", "prefect", f"--pwfile={password_file}", "-E", "UTF8",
                          "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"], cwd=base)
        # fsync off: the database lives as long as this test, so durability on power loss buys nothing here.
        _run(as_server + [bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
                          "-o", f"-k {base} -h 127.0.0.1 -p {port} -c fsync=off", "start"], cwd=base, log=log)
        _run([bin_dir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "prefect", "prefect"], cwd=base,
             env={**os.environ, "PGPASSWORD": password}, log=log)
        yield {"url": f"postgresql+asyncpg://prefect:{password}@127.0.0.1:{port}/prefect",
               "dsn": f"postgresql://prefect:{password}@127.0.0.1:{port}/prefect"}
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([str(part) for part in as_server + [bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]],
                           cwd=base, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def prefect_on_postgres(postgres, tmp_path_factory):
    """`prefect server start` on the PostgreSQL database, as the compose file's prefect-server service, still
    starting: ``wait()`` returns once it answers. With it, the environment that points a command at it (as the
    flows service's PREFECT_API_URL does)."""
    tmp = tmp_path_factory.mktemp("prefect-postgres")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "PREFECT_API_DATABASE_CONNECTION_URL": postgres["url"],
           # The scheduler service makes cron runs every loop (60 s by default); the runner polls for them every 10 s.
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5", "PREFECT_RUNNER_POLL_FREQUENCY": "2",
           "PREFECT_API_URL": url}
    env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)  # it would take precedence over the compose file's name
    log = tmp / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield {"url": url, "env": env, "wait": lambda: wait_healthy(url, server, timeout=150, log=log)}
    finally:
        stop(server)


async def _deployment_runs(name: str):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(name)
        return deployment, [r for r in await client.read_flow_runs() if r.deployment_id == deployment.id]


async def _completed_in_postgres(dsn: str) -> dict:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT f.name, count(*) AS runs FROM flow_run r JOIN flow f ON f.id = r.flow_id "
            "WHERE r.state_type = 'COMPLETED' GROUP BY f.name")
        return {row["name"]: row["runs"] for row in rows}
    finally:
        await connection.close()


def _train(base: Path, out: Path, client) -> None:
    """The library calls of the train flow's tasks, without Prefect (and without validation rows)."""
    options = jobs.TrainOptions(data=str(base), target="converted", id_column="customer_id", l2=1e-4, valid_fraction=0.0)
    rows = jobs.read(options, client)
    try:
        model = jobs.fit(rows, options, jobs.prepare(rows, options))
        distribution = jobs.profile(rows, model)
    finally:
        rows.close()
    jobs.write_model(str(out), model, None, None, options, distribution)


def test_a_cron_run_completes_on_the_postgres_backed_server(postgres, prefect_on_postgres, local_client, tmp_path):
    """Serve as the compose file's flows service does (`logreg-dist serve` against the server's API and a Dask
    scheduler), with a schedule every 20 s: a run made by the schedule completes and writes every row's score,
    and the run is a row in PostgreSQL."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    base, out = tmp_path / "base", tmp_path / "scores"
    synth.generate(base, rows=ROWS, positives=200, partitions=2)
    # Trained here while the server creates its tables (the train flow under a Prefect server is test_train_flow's).
    _train(base, tmp_path / "model", local_client)
    assert register(tmp_path / "model", tmp_path / "registry") == 1
    prefect_on_postgres["wait"]()

    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        command = [sys.executable, "-m", "logreg_dist.cli", "serve", "--model", str(tmp_path / "registry" / "latest"),
                   "--data", str(base), "--out", str(out), "--cron", EVERY_20_SECONDS, "--name", "compose-cron",
                   "--scheduler", local_client.scheduler.address]
        served = subprocess.Popen(command, env=prefect_on_postgres["env"], stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    deployment, flow_runs, completed = None, [], []
    try:
        deadline = time.monotonic() + 150
        with temporary_settings(updates={PREFECT_API_URL: prefect_on_postgres["url"]}):
            while time.monotonic() < deadline and not completed:
                time.sleep(1)
                assert served.poll() is None, f"logreg-dist serve exited with {served.returncode}: {log.read_text()[-3000:]}"
                try:
                    deployment, flow_runs = asyncio.run(_deployment_runs("rescore/compose-cron"))
                except Exception:  # not registered yet
                    continue
                completed = [r for r in flow_runs if r.state and r.state.is_completed()]
    finally:
        stop(served)

    assert deployment is not None, f"the deployment was never registered: {log.read_text()[-3000:]}"
    assert deployment.schedules[0].schedule.cron == EVERY_20_SECONDS
    assert completed, f"no scheduled run completed; runs: {[(r.name, r.state_name) for r in flow_runs]}"
    assert all(r.auto_scheduled for r in completed)
    assert pq.read_table(out).num_rows == ROWS
    assert json.loads((out / "_summary.json").read_text())["rows"] == ROWS
    # The server kept its state in PostgreSQL (not in a SQLite file of its own): the completed runs are rows there.
    in_postgres = asyncio.run(_completed_in_postgres(postgres["dsn"]))
    assert list(in_postgres) == ["rescore"] and in_postgres["rescore"] >= len(completed), in_postgres
