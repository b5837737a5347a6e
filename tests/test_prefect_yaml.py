"""prefect.yaml: the work-pool deployments point at real flows with parameters those flows accept."""

import importlib
import inspect
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_each_deployment_names_a_flow_and_only_its_parameters():
    document = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert document["prefect-version"] == "3.8.8"
    for deployment in document["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        accepted = inspect.signature(flow.fn).parameters
        assert set(deployment["parameters"]) <= set(accepted), deployment["name"]
        required = {p for p, spec in accepted.items() if spec.default is inspect.Parameter.empty}
        assert required <= set(deployment["parameters"]), deployment["name"]
        assert all(schedule["cron"].count(" ") == 4 for schedule in deployment["schedules"])
