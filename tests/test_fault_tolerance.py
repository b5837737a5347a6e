"""Beyond one machine: a fit that survives a lost worker, and a cluster that speaks only TLS.

Each test starts its own ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1 (every port 0, dashboards on loopback too) and stops them by PID at
the end, so killing a worker here cannot disturb the session clusters of the
other tests.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from logreg_dist import LogisticRegression

from .conftest import make_classification

pytestmark = pytest.mark.cluster

DASK_CLI = str(Path(sys.executable).with_name("dask"))
N_FEATURES = 12
FEATURES = [f"f{j}" for j in range(N_FEATURES)]


# -- a cluster of separate processes, owned by one test ----------------------------------------


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(processes: list[subprocess.Popen]) -> None:
    """Stop the workers, then the scheduler: SIGTERM to each process group, SIGKILL after 15 s.

    One at a time, workers first: a worker told to close while the scheduler is closing too can
    hang in its own close (distributed 2026.8, seen here with --no-nanny).
    """
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@contextlib.contextmanager
def process_cluster(tmp: Path, *, n_workers=2, scheduler_args=(), worker_args=(), security=None):
    """``dask scheduler`` and ``n_workers`` ``dask worker`` processes on 127.0.0.1.

    Yields ``{"address": ..., "workers": [Popen, ...]}`` once every worker has
    joined; stops every process by PID on exit.
    """
    from distributed import Client

    scheduler_file = tmp / "scheduler.json"
    processes = [
        _start(
            [DASK_CLI, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0",
             "--scheduler-file", str(scheduler_file), *scheduler_args],
            tmp / "scheduler.log",
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if processes[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dask scheduler did not start:\n{(tmp / 'scheduler.log').read_text()}")
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [
            _start(
                [DASK_CLI, "worker", address, "--host", "127.0.0.1", "--worker-port", "0", "--nthreads", "1",
                 "--dashboard-address", "127.0.0.1:0", "--name", f"worker-{k}", *worker_args],
                tmp / f"worker-{k}.log",
            )
            for k in range(n_workers)
        ]
        processes += workers
        with Client(address, security=security, set_as_default=False, timeout="30s") as client:
            client.wait_for_workers(n_workers, timeout=60)
        yield {"address": address, "workers": workers}
    finally:
        _stop(processes)


def _write_parquet(directory: Path, X: np.ndarray, y: np.ndarray, n_files: int) -> None:
    directory.mkdir()
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["target"] = y
    for k, part in enumerate(np.array_split(np.arange(len(frame)), n_files)):
        frame.iloc[part].to_parquet(directory / f"part-{k:03d}.parquet", index=False)


# -- a worker killed after the first Newton iteration ---------------------------------------------


class KillWorkerOnIteration(logging.Handler):
    """On the solver's log line for ``iteration``, SIGKILL the worker that holds the most blocks.

    The solver logs each iteration on the ``logreg_dist`` logger, in the
    fitting thread, between two passes over the data; the next pass starts
    right after the kill, while the scheduler may still count the worker alive.
    """

    def __init__(self, client, workers: list[subprocess.Popen], *, iteration: int):
        super().__init__(level=logging.INFO)
        self.client = client
        self.pids = {process.pid: process for process in workers}
        self.marker = re.compile(rf"newton iter\s+{iteration}\b")
        self.killed: subprocess.Popen | None = None
        self.blocks_lost = 0
        self.blocks_total = 0
        self.error: Exception | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.killed is not None or self.error is not None or not self.marker.match(record.getMessage()):
            return
        try:
            self._kill()
        except Exception as error:  # logging would swallow it; the test re-raises it
            self.error = error

    def _kill(self) -> None:
        # The fit's blocks: loaded (load_frame_block, mapped over the frame's partitions by _map_partitions in
        # the task that selects its columns; labels 0/1 need no encode_target), some moved to even out the
        # workers (_move_block).
        def is_block(key) -> bool:
            name = str(key[0] if isinstance(key, tuple) else key)
            return "_map_partitions" in name or name.startswith(("encode_target", "_move_block"))

        blocks = {key: holders for key, holders in self.client.who_has().items() if is_block(key)}
        held: dict[str, int] = {}
        for holders in blocks.values():
            for address in holders:
                held[address] = held.get(address, 0) + 1
        victim = max(held, key=held.get)
        pid = self.client.run(os.getpid, workers=[victim])[victim]
        process = self.pids[pid]  # KeyError: never kill a process this test did not start
        process.send_signal(signal.SIGKILL)
        self.killed, self.blocks_lost, self.blocks_total = process, held[victim], len(blocks)
        self.block_keys = sorted(str(key) for key in blocks)


def test_fit_survives_a_worker_killed_after_the_first_iteration(tmp_path):
    X, y = make_classification(n_rows=160_000, n_features=N_FEATURES, seed=11)
    _write_parquet(tmp_path / "data", X, y, n_files=16)
    # --no-nanny: the PID is the worker itself, and no nanny restarts it after the kill.
    with process_cluster(tmp_path, worker_args=["--no-nanny"]) as cluster:
        from distributed import Client

        with Client(cluster["address"], set_as_default=False) as client:
            frame = dd.read_parquet(tmp_path / "data")
            assert frame.npartitions == 16
            params = dict(solver="newton", l2=1e-4)
            undisturbed = LogisticRegression(**params).fit(frame[FEATURES], frame["target"], client=client)

            logger = logging.getLogger("logreg_dist")
            killer = KillWorkerOnIteration(client, cluster["workers"], iteration=1)
            level = logger.level
            logger.addHandler(killer)
            logger.setLevel(logging.INFO)
            try:
                disturbed = LogisticRegression(**params).fit(frame[FEATURES], frame["target"], client=client)
            finally:
                logger.removeHandler(killer)
                logger.setLevel(level)
            surviving = len(client.scheduler_info()["workers"])

    if killer.error is not None:
        raise killer.error
    assert killer.killed is not None, "the fit never logged iteration 1"
    assert killer.killed.wait(timeout=10) == -signal.SIGKILL
    # 16 blocks, plus now and then the old copy of a block that balance() moved, still held when the kill
    # comes (2 runs in 12 held both old copies of 2 moved blocks, despite the engine waiting for released
    # keys to leave the workers): at most one old copy per moved block.
    moved = sum("_move_block" in key for key in killer.block_keys)
    assert 16 <= killer.blocks_total <= 16 + moved, killer.block_keys
    assert killer.blocks_lost >= 1  # lost blocks had to be read again
    assert surviving == 1
    assert undisturbed.converged_ and disturbed.converged_
    assert disturbed.n_iter_ == undisturbed.n_iter_ >= 2
    np.testing.assert_allclose(disturbed.coef_, undisturbed.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(disturbed.intercept_, undisturbed.intercept_, rtol=0, atol=1e-10)
    in_memory = LogisticRegression(**params).fit(X, y)
    np.testing.assert_allclose(disturbed.coef_, in_memory.coef_, rtol=0, atol=1e-10)


# -- TLS between client, scheduler and workers -----------------------------------------------


def _make_pki(directory: Path, ca_name: str) -> dict[str, str]:
    """A self-signed CA and one certificate it signs for 127.0.0.1, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir()
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_subject)
        .issuer_name(ca_subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "logreg-dist cluster")]))
        .issuer_name(ca_subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": directory / "ca.pem", "cert": directory / "cert.pem", "key": directory / "key.pem"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths["key"].chmod(0o600)
    return {name: str(path) for name, path in paths.items()}


def _dotted(config: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, for :func:`dask.config.set` (which would replace whole sections)."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _security(pki: dict[str, str]):
    from distributed.security import Security

    return Security(tls_ca_file=pki["ca"], tls_client_cert=pki["cert"], tls_client_key=pki["key"], require_encryption=True)


def test_tls_cluster_fits_and_refuses_a_client_without_the_certificate(tmp_path):
    pytest.importorskip("cryptography")
    from distributed import Client

    pki = _make_pki(tmp_path / "pki", "logreg-dist test CA")
    stranger = _make_pki(tmp_path / "stranger", "some other CA")
    tls_flags = ["--tls-ca-file", pki["ca"], "--tls-cert", pki["cert"], "--tls-key", pki["key"]]
    with process_cluster(
        tmp_path, scheduler_args=["--protocol", "tls", *tls_flags], worker_args=tls_flags, security=_security(pki)
    ) as cluster:
        address = cluster["address"]
        assert address.startswith("tls://127.0.0.1:")

        X, y = make_classification(n_rows=6000, n_features=N_FEATURES, seed=5)
        frame = pd.DataFrame(X, columns=FEATURES)
        frame["target"] = y
        ddf = dd.from_pandas(frame, npartitions=5)
        with Client(address, security=_security(pki), set_as_default=False, timeout="30s") as client:
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2 and all(w.startswith("tls://127.0.0.1:") for w in workers)
            model = LogisticRegression(l2=1e-3).fit(ddf[FEATURES], ddf["target"], client=client)
        reference = LogisticRegression(l2=1e-3).fit(X, y)
        assert model.converged_
        np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-10)
        np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=1e-10)

        # The library's own route, `scheduler_address=`, with TLS set the way the CLI and the flows
        # get it: Dask configuration from DASK_DISTRIBUTED__COMM__* environment variables (docs/deploy.md).
        environment = {
            "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": pki["ca"],
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": pki["cert"],
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": pki["key"],
        }
        with dask.config.set(_dotted(dask.config.collect_env(environment))):
            by_address = LogisticRegression(l2=1e-3, scheduler_address=address).fit(ddf[FEATURES], ddf["target"])
        np.testing.assert_allclose(by_address.coef_, reference.coef_, rtol=0, atol=1e-10)

        # No security at all: the client has no TLS context to offer and gives up before connecting.
        with pytest.raises(TypeError, match="TLS expects a `ssl_context`"):
            Client(address, set_as_default=False, timeout="3s")
        # Collect that half-built client here, in this thread. Once in a full run the next client's IO-loop
        # thread missed distributed's 10 s start-up wait (`assert loop is not None` in
        # LoopRunner._start_unlocked); the guess, not confirmed, is that it was collecting this one.
        gc.collect()
        # A certificate from another CA: refused (each side rejects the other's certificate).
        with pytest.raises(OSError, match="TLS certificate does not match"):
            Client(address, security=_security(stranger), set_as_default=False, timeout="3s")
        # The right CA but no client certificate: the scheduler itself ends the handshake (TLS 1.3
        # sends the "certificate required" alert after the client's side of it; a close may win the race) ...
        host, port = address.removeprefix("tls://").rsplit(":", 1)
        context = ssl.create_default_context(cafile=pki["ca"])
        context.check_hostname = False
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError), match="CERTIFICATE_REQUIRED|EOF|reset"):
                with context.wrap_socket(raw) as tls:
                    tls.recv(1)
        # ... while the same probe with the certificate gets the scheduler's first bytes.
        context.load_cert_chain(pki["cert"], pki["key"])
        with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(b"\0" * 8)
            assert tls.recv(1)


_WRITE_FOREVER = """
import sys, time
from pathlib import Path
from logreg_dist import model

staging = model.make_staging(Path(sys.argv[1]))
(staging / "part-00000.parquet").write_bytes(b"half")
print(staging, flush=True)
time.sleep(3600)
"""


def test_a_killed_write_leaves_a_folder_that_the_next_write_removes(tmp_path):
    """A process killed while staging cannot clean up; the next write to the same place removes what it left,
    and leaves alone a live process's staging folder and another host's."""
    from logreg_dist.model import write_atomic_dir

    target = tmp_path / "model"
    writer = subprocess.Popen([sys.executable, "-c", _WRITE_FOREVER, str(target)], stdout=subprocess.PIPE, text=True)
    abandoned = Path(writer.stdout.readline().strip())
    assert abandoned.is_dir() and abandoned.parent == tmp_path and abandoned.name.startswith(".model-staging@")
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    live = tmp_path / f".model-staging@{socket.gethostname()}@{os.getpid()}-inuse"
    elsewhere = tmp_path / ".model-staging@another-host@1-inuse"
    for folder in (live, elsewhere):
        folder.mkdir()

    write_atomic_dir(target, {"model.json": "{}"})
    assert not abandoned.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model", live.name, elsewhere.name])
    assert (target / "model.json").read_text() == "{}"
