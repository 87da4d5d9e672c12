"""infra/terraform (GKE, Cloud SQL, Memorystore, bot-host VMs) and infra/kubernetes, checked without a cloud.

Google Cloud cannot be reached from here, and neither can Terraform's provider registry, so `terraform validate`
runs only where `terraform init` can fetch the providers; `terraform fmt -check` runs wherever Terraform is
installed. Everywhere, every .tf is parsed with python-hcl2 and its structure checked: every variable and
output documented, every module used and wired with variables it declares and outputs it has, no secret
written in a file, the bot hosts' start-up script installing runsc and checking cgroups (and passing `bash -n`
once rendered). The Kubernetes manifests are rendered by their own script from the placeholder values the
environment outputs, parsed, and checked: limits on every container, gVisor on every pod but the bot host's,
no other privileged pod, a disruption budget per workload, and no route from a bot host to the database."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from arena.metrics import HOST_SLOTS

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
MODULES = TERRAFORM / "modules"
ENVIRONMENT = TERRAFORM / "environments" / "gke-example"
KUBERNETES = ROOT / "infra" / "kubernetes"
STARTUP = MODULES / "compute" / "bot-host-startup.sh.tftpl"
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "Job"}


def _unquote(value: Any) -> Any:
    return value[1:-1] if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' else value


def _blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Every ``kind`` block (variable, output, module, ...) of a directory's .tf files, by name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in hcl2.loads(path.read_text()).get(kind, []):
            for name, body in block.items():
                found[_unquote(name)] = body
    return found


def _resources(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every resource of a directory's .tf files, by (type, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in hcl2.loads(path.read_text()).get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    found[_unquote(kind), _unquote(name)] = body
    return found


def _module_dirs() -> list[Path]:
    return sorted(path for path in MODULES.iterdir() if path.is_dir())


def _directories() -> list[Path]:
    return [*_module_dirs(), ENVIRONMENT]


def _text(directory: Path) -> str:
    return "\n".join(path.read_text() for path in sorted(directory.iterdir()) if path.suffix in (".tf", ".tftpl"))


# -- Terraform ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed (hcl2 checks below run)")
def test_terraform_fmt_check() -> None:
    run = subprocess.run(["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_validate_where_the_providers_can_be_had(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(ROOT / "infra", copy, ignore=shutil.ignore_patterns(".terraform*", "secrets"))
    environment = copy / "terraform" / "environments" / "gke-example"
    init = subprocess.run(["terraform", f"-chdir={environment}", "init", "-backend=false", "-input=false",
                           "-no-color"], capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        why = next((line.strip("│ ") for line in init.stderr.splitlines() if "Error:" in line), "init failed")
        pytest.skip(f"terraform init cannot fetch the google and random providers (no registry here): {why}")
    run = subprocess.run(["terraform", f"-chdir={environment}", "validate", "-no-color"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_layout_has_the_five_modules_and_one_environment() -> None:
    assert [path.name for path in _module_dirs()] == ["cache", "compute", "database", "monitoring", "network"]
    for directory in _directories():
        names = {path.name for path in directory.glob("*.tf")}
        assert {"main.tf", "variables.tf", "outputs.tf"} <= names, directory
    assert (ENVIRONMENT / "terraform.tfvars.example").is_file()


@pytest.mark.parametrize("directory", _directories(), ids=lambda path: path.name)
def test_every_variable_and_output_is_documented_and_every_variable_used(directory: Path) -> None:
    variables = _blocks(directory, "variable")
    assert variables, directory
    text = _text(directory)
    for name, body in variables.items():
        assert len(_unquote(body.get("description", ""))) > 10, f"{directory.name}: variable {name} undocumented"
        assert "type" in body, f"{directory.name}: variable {name} has no type"
        assert re.search(rf"\bvar\.{name}\b", text), f"{directory.name}: variable {name} is never used"
    for name, body in _blocks(directory, "output").items():
        assert len(_unquote(body.get("description", ""))) > 10, f"{directory.name}: output {name} undocumented"


def test_every_module_is_wired_to_variables_it_declares_and_outputs_it_has() -> None:
    calls = _blocks(ENVIRONMENT, "module")
    assert set(calls) == {path.name for path in _module_dirs()}
    outputs = {name: set(_blocks(MODULES / name, "output")) for name in calls}
    for name, call in calls.items():
        assert _unquote(call["source"]) == f"../../modules/{name}"
        declared = _blocks(MODULES / name, "variable")
        passed = {key for key in call if key not in ("source", "__is_block__", "__comments__")}
        assert passed <= set(declared), f"module {name}: unknown arguments {passed - set(declared)}"
        required = {key for key, body in declared.items() if "default" not in body}
        assert required <= passed, f"module {name}: required variables not passed: {required - passed}"
    text = _text(ENVIRONMENT)
    for module, output in re.findall(r"\bmodule\.(\w+)\.(\w+)", text):
        assert output in outputs[module], f"module.{module}.{output} is not an output of {module}"


SECRET_NAMES = re.compile(r"(password|secret_data|auth_string|token|private_key|credentials|api_key)", re.I)


def _literal_secrets(node: Any, where: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if SECRET_NAMES.search(str(key)) and isinstance(value, str) and "${" not in value:
                found.append(f"{where}.{key} = {value}")
            found += _literal_secrets(value, f"{where}.{key}")
    elif isinstance(node, list):
        for item in node:
            found += _literal_secrets(item, where)
    return found


def test_no_secret_is_written_in_the_terraform() -> None:
    for path in sorted(TERRAFORM.rglob("*.tf")):
        assert not _literal_secrets(hcl2.loads(path.read_text()), path.name), path
        assert "-----BEGIN" not in path.read_text(), path
    example = (ENVIRONMENT / "terraform.tfvars.example").read_text()
    assert not SECRET_NAMES.search(example.split("No secret belongs here")[-1].split("\n", 1)[-1])
    # The detector itself: a password written as a literal is caught.
    assert _literal_secrets(hcl2.loads('resource "x" "y" {\n  password = "hunter2hunter2"\n}\n'))
    # Generated secrets go to Secret Manager, from random or from Memorystore, never from a variable.
    versions = [body for directory in _module_dirs() for (kind, _), body in _resources(directory).items()
                if kind == "google_secret_manager_secret_version"]
    assert len(versions) == 3
    for body in versions:
        assert re.search(r"random_password|random_bytes|auth_string", body["secret_data"]), body


def _template_call() -> tuple[str, set[str]]:
    main = (MODULES / "compute" / "main.tf").read_text()
    call = re.search(r'templatefile\("\$\{path\.module\}/([\w.-]+)", \{(.*?)\n\s*\}\)', main, re.S)
    assert call, "the instance template's start-up script is not a templatefile(...)"
    return call.group(1), set(re.findall(r"^\s*(\w+)\s*=", call.group(2), re.M))


def test_the_bot_host_start_up_script_installs_runsc_and_checks_cgroups(tmp_path: Path) -> None:
    name, passed = _template_call()
    assert name == STARTUP.name
    template = STARTUP.read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)\}", template))
    assert used == passed, f"template variables {used ^ passed} are not both passed and used"
    assert re.search(r"apt-get install [^\n]*\brunsc\b", template)
    assert "runsc --version" in template
    for controller in ("cpu", "memory", "pids"):
        assert controller in template
    assert "cgroup.controllers" in template and 'mkdir -p "$probe"' in template
    assert "bot-host-check.sh && exec arena worker --queues bots" in template
    assert "--privileged --cgroupns host" in template
    assert "job_name: arena-bots" in template  # the job the alert rules and the autoscaler's metric come from
    # Rendered as Terraform would (its ${var} filled, $${ unescaped), the script is valid bash.
    rendered = re.sub(r"(?<!\$)\$\{(\w+)\}", "value", template).replace("$${", "${")
    script = tmp_path / "startup.sh"
    script.write_text(rendered)
    run = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr


def test_bot_hosts_autoscale_on_the_slot_metric_and_cannot_reach_the_database() -> None:
    compute = (MODULES / "compute" / "main.tf").read_text()
    metric = re.search(r'name\s*=\s*"prometheus\.googleapis\.com/(\w+)/gauge"', compute)
    assert metric and metric.group(1) == HOST_SLOTS._name  # the gauge bot hosts really export
    assert 'metric.labels.state = \\"used\\"' in compute
    deny = _resources(MODULES / "network")["google_compute_firewall", "bot_hosts_deny_private"]
    assert deny["direction"] == '"EGRESS"' and "deny" in deny
    assert "${var.database_psa_cidr}" in deny["destination_ranges"]
    assert "${var.bot_host_tag}" in deny["target_tags"]
    iam = re.search(r'resource "google_secret_manager_secret_iam_member" "bot_hosts" \{(.*?)\n\}', compute, re.S)
    assert iam and "redis_auth_secret_id" in iam.group(1) and "database" not in iam.group(1).split("#")[0]


def test_the_alert_rules_file_the_monitoring_module_reads_exists() -> None:
    main = (ENVIRONMENT / "main.tf").read_text()
    relative = re.search(r'alert_rules_file\s*=\s*"\$\{path\.root\}/([^"]+)"', main)
    assert relative
    rules = (ENVIRONMENT / relative.group(1)).resolve()
    assert rules == ROOT / "infra" / "prometheus" / "alerts.yml"
    for group in yaml.safe_load(rules.read_text())["groups"]:
        for rule in group["rules"]:  # the module turns "for" into seconds: only s and m suffixes are handled
            assert re.fullmatch(r"\d+[sm]", rule.get("for", "0s")), rule["alert"]


# -- Kubernetes -----------------------------------------------------------------------------------------------


def _placeholder_values() -> dict[str, str]:
    output = _blocks(ENVIRONMENT, "output")["kubernetes_values"]["value"]
    assert isinstance(output, dict)
    return {key: f"10.9.0.{n}" if key.endswith(("_HOST", "_IP", "ADDRESS")) else
            f"10.{n}.0.0/24" if key.endswith("_CIDR") else f"example-{key.lower().replace('_', '-')}"
            for n, key in enumerate(sorted(output), start=1)}


def _render(values: dict[str, Any], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(KUBERNETES / "render.py"), str(out)], input=json.dumps(values),
                          capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("manifests")
    run = _render(_placeholder_values(), out)
    assert run.returncode == 0, run.stderr
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc] for path in out.glob("*.yaml")}


def test_render_fills_every_placeholder_from_the_terraform_output_and_refuses_bad_values(
        manifests: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    assert set(manifests) == {path.name for path in KUBERNETES.glob("*.yaml")}
    values = _placeholder_values()
    missing = dict(values)
    del missing["DATABASE_CIDR"]
    run = _render(missing, tmp_path / "a")
    assert run.returncode == 1 and "no value for DATABASE_CIDR" in run.stderr and not (tmp_path / "a").exists()
    run = _render({**values, "DOMAIN": "x\n  privileged: true"}, tmp_path / "b")
    assert run.returncode == 1 and "DOMAIN" in run.stderr and not (tmp_path / "b").exists()
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == set(manifests) - {"kustomization.yaml", "bot-host.yaml", "migrate.yaml"}


def _workloads(manifests: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [doc for docs in manifests.values() for doc in docs if doc["kind"] in WORKLOADS]


def _component(workload: dict[str, Any]) -> str:
    return workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]


def test_every_container_has_limits_and_only_the_bot_host_is_privileged(
        manifests: dict[str, list[dict[str, Any]]]) -> None:
    workloads = _workloads(manifests)
    assert {_component(w) for w in workloads} == {"api", "engine", "migrate", "bot-host"}
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        component = _component(workload)
        for container in pod["containers"] + pod.get("initContainers", []):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), f"{component}/{container['name']}: {kind}"
            security = container.get("securityContext", {})
            if component == "bot-host":
                continue
            assert not security.get("privileged") and security["allowPrivilegeEscalation"] is False, component
            assert security["readOnlyRootFilesystem"] and security["capabilities"]["drop"] == ["ALL"], component
        if component == "bot-host":
            assert pod["containers"][0]["securityContext"]["privileged"] is True
            assert "runtimeClassName" not in pod  # it runs runsc itself, in its own cgroups
            assert workload["metadata"]["namespace"] == "arena-bots"
        else:
            assert pod["runtimeClassName"] == "gvisor", f"{component} does not run under gVisor"
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert workload["metadata"]["namespace"] == "arena"
            assert pod["containers"][0]["command"] == ["sh", "/etc/arena/entrypoint.sh"]
    runtime = next(doc for doc in manifests["base.yaml"] if doc["kind"] == "RuntimeClass")
    assert runtime["metadata"]["name"] == "gvisor"
    namespace = next(doc for doc in manifests["base.yaml"] if doc["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_long_running_workload_has_a_disruption_budget(manifests: dict[str, list[dict[str, Any]]]) -> None:
    budgets = [doc for docs in manifests.values() for doc in docs if doc["kind"] == "PodDisruptionBudget"]
    for workload in _workloads(manifests):
        if workload["kind"] == "Job":
            continue
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(budget["metadata"]["namespace"] == workload["metadata"]["namespace"]
                   and budget["spec"]["selector"]["matchLabels"].items() <= labels.items() for budget in budgets), \
            workload["metadata"]["name"]
    api = next(w for w in _workloads(manifests) if _component(w) == "api")
    assert api["spec"]["replicas"] >= 2
    probes = api["spec"]["template"]["spec"]["containers"][0]
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector:
        return True
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        if expression["operator"] == "In" and labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _egress_blocks(policy: dict[str, Any]) -> list[str]:
    return [peer["ipBlock"]["cidr"] for rule in policy["spec"].get("egress", []) for peer in rule.get("to", [])
            if "ipBlock" in peer]


def test_network_policies_keep_bot_hosts_away_from_the_database(manifests: dict[str, list[dict[str, Any]]]) -> None:
    database = _placeholder_values()["DATABASE_CIDR"]
    policies = [doc for docs in manifests.values() for doc in docs if doc["kind"] == "NetworkPolicy"]
    for namespace in ("arena", "arena-bots"):  # each namespace denies all by default
        assert any(p["metadata"]["namespace"] == namespace and p["spec"]["podSelector"] == {}
                   and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in policies), namespace
    for workload in _workloads(manifests):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        applying = [p for p in policies if p["metadata"]["namespace"] == workload["metadata"]["namespace"]
                    and _selects(p["spec"]["podSelector"], labels)]
        reachable = {cidr for policy in applying for cidr in _egress_blocks(policy)}
        assert "0.0.0.0/0" not in reachable or _component(workload) == "api"
        if _component(workload) == "bot-host":
            assert database not in reachable and reachable, "a bot host may reach the database"
            assert all(rule.get("to") for p in applying for rule in p["spec"].get("egress", []))  # no open rule
        else:
            assert database in reachable, _component(workload)
    api_policy = next(p for p in policies if p["metadata"]["name"] == "api")
    open_egress = next(peer["ipBlock"] for rule in api_policy["spec"]["egress"] for peer in rule["to"])
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(open_egress["except"])


def test_prometheus_jobs_match_the_alert_rules(manifests: dict[str, list[dict[str, Any]]]) -> None:
    monitors = {doc["metadata"]["name"] for doc in manifests["monitoring.yaml"] if doc["kind"] == "PodMonitoring"}
    rules = (ROOT / "infra" / "prometheus" / "alerts.yml").read_text()
    jobs = set(re.findall(r'job="(arena-[a-z]+)"', rules)) | set(re.findall(r"job: (arena-[a-z]+)", rules))
    assert monitors == {"arena-api", "arena-engine"}
    assert jobs <= monitors | {"arena-bots"}
