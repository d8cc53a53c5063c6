"""Settings precedence (flag > env var > platformctl.yaml > defaults) and bad-config errors.

Observed through `platformctl render`, the one command that needs settings and no cluster.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import RunCli


def namespace_of(stdout: str) -> str:
    first = next(doc for doc in yaml.safe_load_all(stdout) if doc)
    assert first["kind"] == "Namespace"
    return str(first["metadata"]["name"])


def test_defaults(run_cli: RunCli) -> None:
    result = run_cli("render")
    assert result.exit_code == 0, result.stderr
    assert namespace_of(result.stdout) == "dev"


def test_precedence_flag_over_env_over_file_over_default(run_cli: RunCli) -> None:
    Path("platformctl.yaml").write_text("namespace: from-file\n")
    assert namespace_of(run_cli("render").stdout) == "from-file"
    env = {"PLATFORMCTL_NAMESPACE": "from-env"}
    assert namespace_of(run_cli("render", env=env).stdout) == "from-env"
    assert namespace_of(run_cli("--namespace", "from-flag", "render", env=env).stdout) == "from-flag"


def test_config_file_named_by_env_var(run_cli: RunCli, tmp_path: Path) -> None:
    other = tmp_path / "team.yaml"
    other.write_text("namespace: team\nkafka:\n  image: apache/kafka:4.1.2\n")
    result = run_cli("render", env={"PLATFORMCTL_CONFIG": str(other)})
    assert result.exit_code == 0, result.stderr
    assert namespace_of(result.stdout) == "team"
    assert "image: apache/kafka:4.1.2" in result.stdout


def test_unknown_key_names_file_line_and_field(run_cli: RunCli) -> None:
    Path("platformctl.yaml").write_text("namespace: dev\nkafka:\n  flavor: apache\n  imag: apache/kafka:4.2.0\n")
    result = run_cli("render")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "platformctl.yaml:4: kafka.imag: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_problem_is_reported_at_once(run_cli: RunCli) -> None:
    Path("platformctl.yaml").write_text(
        "minikube:\n  memory: '8192'\n  cpus: 1\nkafka:\n  image: apache/kafka:latest\n  flavor: confluent\n"
    )
    result = run_cli("render")
    assert result.exit_code == 2
    assert "platformctl.yaml:2: minikube.memory: Input should be a valid integer (got str '8192')" in result.stderr
    assert "platformctl.yaml:3: minikube.cpus: Input should be greater than or equal to 2" in result.stderr
    assert "platformctl.yaml:5: kafka.image: must be pinned to an exact tag, not 'latest'" in result.stderr
    assert "platformctl.yaml:6: kafka.flavor: Input should be 'apache' or 'fast-data-dev'" in result.stderr


def test_bad_value_from_the_command_line_names_the_flag(run_cli: RunCli) -> None:
    result = run_cli("--namespace", "Dev_Team", "render")
    assert result.exit_code == 2
    assert "command line: --namespace / PLATFORMCTL_NAMESPACE: must be a DNS label" in result.stderr


def test_yaml_syntax_error_names_the_line(run_cli: RunCli) -> None:
    Path("platformctl.yaml").write_text("namespace: dev\nkafka:\n  image: [unclosed\n")
    result = run_cli("render")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: platformctl.yaml:")
    assert "invalid YAML" in result.stderr


def test_config_must_be_a_mapping(run_cli: RunCli) -> None:
    Path("platformctl.yaml").write_text("- namespace: dev\n")
    result = run_cli("render")
    assert result.exit_code == 2
    assert "platformctl.yaml:1: must be a mapping of settings" in result.stderr


def test_missing_named_config_file(run_cli: RunCli) -> None:
    result = run_cli("--config", "nope.yaml", "render")
    assert result.exit_code == 2
    assert "nope.yaml: config file not found" in result.stderr


def test_empty_config_file_means_defaults(run_cli: RunCli) -> None:
    Path("platformctl.yaml").write_text("# nothing yet\n")
    assert namespace_of(run_cli("render").stdout) == "dev"
